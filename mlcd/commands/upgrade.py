"""``mlcd upgrade``: move every pin of mlcd's workflows in this repository to the installed release (or
--ref), touching nothing else, and say what changed."""

from __future__ import annotations

import argparse
from pathlib import Path

from mlcd.output import get_output
from mlcd.release import changelog, changes_between, installed_release, release_for_ref
from mlcd.scaffold.upgrade import oldest_version, plan_upgrade, write_upgrades


def run(args: argparse.Namespace) -> int:
    out = get_output()
    root = Path.cwd()
    release = release_for_ref(args.ref) if args.ref else installed_release()
    upgrades = plan_upgrade(root, release)
    if not upgrades:
        out.info(f"every pin already names {release.repository}@{release.commit[:12]} (mlcd {release.version})")
        return 0
    if not args.dry_run:
        write_upgrades(upgrades)
    verb = "would move" if args.dry_run else "moved"
    for upgrade in upgrades:
        olds = sorted({f"{pin.ref[:12]}{f' (v{pin.version})' if pin.version else ''}" for pin in upgrade.moved})
        out.info(f"  {upgrade.path.relative_to(root)}: {verb} {len(upgrade.moved)} pin(s) from {', '.join(olds)} "
                 f"to {release.commit[:12]} ({release.comment})")
    notes = changelog()
    changes = changes_between(notes, oldest_version(upgrades), release.version) if notes else ""
    out.info("")
    out.info(f"What changed up to mlcd {release.version}:" if changes else
             "No changelog in this install: see mlcd's CHANGELOG.md for what changed.")
    for line in changes.splitlines():
        out.info(f"  {line}" if line else "")
    return 0
