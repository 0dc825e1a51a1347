"""``mlcd doctor``: one line per check of this runner, ✅ or ❌ with the fix; exit 1 if any failed."""

from __future__ import annotations

import argparse
from pathlib import Path

from mlcd.doctor import run_checks
from mlcd.output import get_output

MARKS = {True: "✅", False: "❌", None: "⚪"}


def run(args: argparse.Namespace) -> int:
    out = get_output()
    checks = run_checks(Path.cwd(), gpu=args.gpu)
    width = max(len(check.name) for check in checks)
    for check in checks:
        out.info(f"{MARKS[check.ok]} {check.name:<{width}}  {check.detail}")
        if check.ok is False:
            out.info(f"   {'':<{width}}  fix: {check.fix}")
    failed = [check.name for check in checks if check.ok is False]
    if failed:
        out.error(f"{len(failed)} of {len(checks)} checks failed: {', '.join(failed)}", title="mlcd doctor")
        return 1
    out.success("this runner can run mlcd's jobs")
    return 0
