from __future__ import annotations

import argparse
import os
from pathlib import Path

from mlcd.config import load_config
from mlcd.output import get_output
from mlcd.report.document import report_markdown


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    markdown = report_markdown(config, Path(args.comparison), os.environ, failed=args.failed,
                               data_test_file=Path(args.data_test) if args.data_test else None)
    target = Path(args.output)
    target.write_text(markdown, encoding="utf-8")
    out = get_output()
    summary = out.step_summary(markdown)
    out.info(f"report ({len(markdown):,} characters) → {target}" + (" and the job summary" if summary else ""))
    out.set_output("report-file", str(target))
    return 0
