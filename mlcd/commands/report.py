from __future__ import annotations

import argparse
import os
from pathlib import Path

from mlcd.config import load_config
from mlcd.output import get_output
from mlcd.report.document import report_markdown


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    report = report_markdown(config, Path(args.comparison), os.environ, failed=args.failed,
                             data_test_file=Path(args.data_test) if args.data_test else None,
                             shadow_file=Path(args.shadow) if args.shadow else None)
    target = Path(args.output)
    target.write_text(report.markdown, encoding="utf-8")
    out = get_output()
    summary = out.step_summary(report.markdown)
    out.info(f"report ({len(report.markdown):,} characters) → {target}" + (" and the job summary" if summary else ""))
    out.set_output("report-file", str(target))
    out.set_output("passed", "true" if report.passed else "false")
    return 0
