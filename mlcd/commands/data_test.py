from __future__ import annotations

import argparse
import json
from pathlib import Path

from mlcd.config import load_config
from mlcd.data import DataTestResult
from mlcd.data.checks import run_data_test
from mlcd.data.drift import reference_source
from mlcd.data.report import markdown, to_json
from mlcd.errors import CheckFailed, InputError
from mlcd.output import Output, get_output, write_result_file

_WORDS = {"passed": ("PASS", "green"), "failed": ("FAIL", "red"), "skipped": ("SKIP", "dim")}
_WIDTH = 100


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    out = get_output()
    data_path = Path(args.path) if args.path else config.resolve(config.data.path)
    if args.if_present and not data_path.exists():
        out.notice(f"{args.path or config.data.path} does not exist before the pipeline runs (a stage makes it): "
                   "it is tested after training", title="data test: not yet")
        out.set_output("tested", "false")
        return 0
    if args.if_present:
        out.set_output("tested", "true")
    if not data_path.exists():
        raise InputError(f"data file {args.path or config.data.path} does not exist",
                         fix="pass an existing CSV or Parquet file, or set data.path in mlcd.yaml (`dvc pull` it first "
                             "if DVC tracks it)")
    reference = reference_source(config, args.reference, args.reference_rev)
    with out.group(f"data test {args.path or config.data.path}", ticker=True):
        result = run_data_test(config, data_path, reference)
    for warning in result.warnings:
        out.warning(warning)
    report = markdown(result, config.drift)
    document = json.dumps(to_json(result, config.drift), indent=2, ensure_ascii=False) + "\n"
    write_result_file(Path(args.json), document, "--json")
    write_result_file(Path(args.markdown), report, "--markdown")
    _print_table(out, result)
    out.step_summary(report)
    out.set_output("passed", "true" if result.passed else "false")
    out.set_output("result-file", args.json)
    for check in result.failed:
        out.error(f"{check.name}: {check.message}", title=f"data test: {check.name}")
    if result.failed:
        names = [c.name for c in result.failed]
        raise CheckFailed(
            f"data test failed: {len(names)} of {len(result.checks)} checks failed ({', '.join(names)})",
            failures=[f"{c.name}: {c.message}" for c in result.failed],
            fix=f"see {args.markdown} for every finding",
        )
    out.success(f"data test passed: {result.count('passed')} checks passed, {result.count('skipped')} skipped")
    return 0


def _print_table(out: Output, result: DataTestResult) -> None:
    size = f"{result.rows} rows × {result.columns} columns" if result.rows is not None else "not readable"
    out.info(f"{result.data}: {size}")
    width = max(len(c.name) for c in result.checks)
    for check in result.checks:
        word, colour = _WORDS[check.status]
        message = check.message if len(check.message) <= _WIDTH else check.message[: _WIDTH - 1] + "…"
        out.info(f"  {out.style(word, colour)}  {check.name:<{width}}  {message}")
