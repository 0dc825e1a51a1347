"""``mlcd upgrade``: move every pin of mlcd's workflows in this repository to the installed release (or
--ref), touching nothing else, and say what changed."""

from __future__ import annotations

import argparse
from pathlib import Path

from mlcd.output import get_output
from mlcd.scaffold.upgrade import upgrade


def run(args: argparse.Namespace) -> int:
    out = get_output()
    root = Path.cwd()
    result = upgrade(root, args.ref, dry_run=args.dry_run)
    release = result.release
    if not result.files:
        out.info(f"every pin already names {release.repository}@{release.commit[:12]} (mlcd {release.version})")
        return 0
    verb = "would move" if args.dry_run else "moved"
    for moved in result.files:
        olds = sorted({f"{pin.ref[:12]}{f' (v{pin.version})' if pin.version else ''}" for pin in moved.moved})
        out.info(f"  {moved.path.relative_to(root)}: {verb} {len(moved.moved)} pin(s) from {', '.join(olds)} "
                 f"to {release.commit[:12]} ({release.comment})")
    out.info("")
    out.info(f"What changed up to mlcd {release.version}:" if result.changes else
             "No changelog in this install: see mlcd's CHANGELOG.md for what changed.")
    for line in (result.changes or "").splitlines():
        out.info(f"  {line}" if line else "")
    return 0
