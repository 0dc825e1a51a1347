from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from mlcd.compare.run import Comparison
from mlcd.config import load_config
from mlcd.data.result import read_result
from mlcd.errors import InputError
from mlcd.output import get_output
from mlcd.report.markdown import failure_report, render


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if args.failed:
        markdown = failure_report(args.failed, _data_tests(args.data_test), config.model.name, os.environ)
    else:
        markdown = render(_comparison(Path(args.comparison)), config.model.name, os.environ, config.model.path)
    target = Path(args.output)
    target.write_text(markdown, encoding="utf-8")
    out = get_output()
    summary = out.step_summary(markdown)
    out.info(f"report ({len(markdown):,} characters) → {target}" + (" and the job summary" if summary else ""))
    out.set_output("report-file", str(target))
    return 0


def _data_tests(name: str | None) -> dict[str, Any] | None:
    found = read_result(Path(name), if_present=True) if name else None
    return found.document if found else None


def _comparison(source: Path) -> Comparison:
    try:
        comparison = Comparison.from_json(json.loads(source.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise InputError(f"{source} does not exist", fix="run `mlcd compare` first") from None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputError(f"{source} is not a comparison written by `mlcd compare` ({exc})",
                         fix="re-run `mlcd compare`") from None
    return comparison
