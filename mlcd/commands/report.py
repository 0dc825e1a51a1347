from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from mlcd.compare.run import Comparison
from mlcd.config import load_config
from mlcd.errors import InputError
from mlcd.output import get_output
from mlcd.report.markdown import render


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    source = Path(args.comparison)
    try:
        comparison = Comparison.from_json(json.loads(source.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise InputError(f"{source} does not exist", fix="run `mlcd compare` first") from None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputError(f"{source} is not a comparison written by `mlcd compare` ({exc})",
                         fix="re-run `mlcd compare`") from None
    markdown = render(comparison, config.model.name, os.environ, config.model.path)
    target = Path(args.output)
    target.write_text(markdown, encoding="utf-8")
    out = get_output()
    summary = out.step_summary(markdown)
    out.info(f"report ({len(markdown):,} characters) → {target}" + (" and the job summary" if summary else ""))
    out.set_output("report-file", str(target))
    return 0
