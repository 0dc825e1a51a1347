from __future__ import annotations

import argparse
import json
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from mlcd.config import Config, load_config
from mlcd.data.io import read_table
from mlcd.drift import Kind, monitored_columns
from mlcd.errors import CheckFailed, ConfigError, InputError
from mlcd.monitoring.drift import PREDICTION, DriftResult, analyse, contract_skew
from mlcd.monitoring.log_reader import FieldKind, LogWindow, field_kind, read_window, resolve_window
from mlcd.monitoring.log_writer import PROBA_PREFIX, RESERVED
from mlcd.monitoring.reference import read_reference_at, reference_revision
from mlcd.monitoring.report import Context, markdown, to_json, verdict
from mlcd.output import Output, get_output, write_result_file

_WIDTH = 100


NOT_CONFIGURED = "not configured"


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    out = get_output()
    if args.if_configured and not args.logs and config.monitoring.logs is None:
        out.notice("no prediction logs to measure drift on: set monitoring.logs in mlcd.yaml (a directory or an "
                   "fsspec URL that the serving image logs to, see mlcd's docs/monitoring.md), or the drift "
                   "workflow's prediction-logs input", title="mlcd drift: not configured")
        out.set_output("verdict", NOT_CONFIGURED)
        return 0
    logs = args.logs or _configured_logs(config)
    window = resolve_window(args.since, args.until, args.last, config.monitoring.window, datetime.now(timezone.utc))
    columns = monitored_columns(config.contract)
    _check_names(config, columns)
    kind: Kind = "numeric" if config.evaluate.task == "regression" else "categorical"
    label = config.contract.column(config.contract.label)
    fields: dict[str, FieldKind] = {name: field_kind(config.contract.column(name)) for name in columns}
    fields |= {PREDICTION: "number" if kind == "numeric" else field_kind(label), "model_version": "text"}

    if args.reference_rev and not args.reference:
        revision = reference_revision(config, args.reference_rev)
        reference_name = f"{config.data.train} at {revision.describe}"
        with out.group(f"read the reference: {reference_name}", ticker=True):
            reference = read_reference_at(config, revision)
    else:
        reference_path = Path(args.reference) if args.reference else _training_split(config)
        reference_name = str(reference_path)
        reference = read_table(reference_path, config.data)
    expected = _reference_predictions(args.reference_predictions, config, reference)
    with out.group(f"read prediction logs {logs} ({window.describe()})", ticker=True):
        log = read_window(logs, fields, window)
    with out.group(f"drift of {len(log.frame):,} rows against {reference_name}", ticker=True):
        skew = contract_skew(log.frame, config.contract, config.monitoring.max_violation_rate)
        result = analyse(reference, log.frame, columns, config.drift,
                         prediction=(expected, kind) if expected is not None else None, skew=skew)
    context = _context(config, logs, window.describe(), reference_name, log)

    report = markdown(result, context)
    document = json.dumps(to_json(result, context), indent=2, ensure_ascii=False) + "\n"
    write_result_file(Path(args.json), document, "--json")
    write_result_file(Path(args.markdown), report, "--markdown")
    _print_table(out, result)
    out.step_summary(report)
    out.set_output("drifted", "true" if result.failed else "false")
    out.set_output("verdict", verdict(result))
    out.set_output("drifted-columns", ",".join(result.drifted))
    out.set_output("result-file", args.json)
    if log.incomplete_lines:
        out.warning(f"{log.incomplete_lines} incomplete last line(s) left out: log files still being written")
    if result.failed:
        raise _failure(result, args.markdown, out)
    if not result.decided:
        out.warning(f"not enough rows to decide: {result.rows} in the window; a column is tested from "
                    f"drift.min_rows ({config.drift.min_rows}) values",
                    title="drift: not enough data")
        return 0
    out.success(f"no drift: {len(result.tested)} columns tested over {result.rows:,} rows")
    return 0


def _configured_logs(config: Config) -> str:
    logs = config.monitoring.logs
    if logs is None:
        raise ConfigError("no prediction logs to read",
                          fix="pass --logs DIR, or set monitoring.logs in mlcd.yaml (a directory or an s3:// URL)")
    return logs if "://" in logs else str(config.resolve(logs))


def _training_split(config: Config) -> Path:
    if config.data.train is None:
        raise ConfigError("no reference: data.splits.train is not set in mlcd.yaml",
                          fix="pass --reference FILE (the data the production model was trained on), "
                              "or set data.splits.train")
    return config.resolve(config.data.train)


def _check_names(config: Config, columns: dict[str, Kind]) -> None:
    clashes = [name for name in columns if name in RESERVED or name.startswith(PROBA_PREFIX)]
    if clashes:
        raise ConfigError(f"contract.columns: {', '.join(clashes)} clash with the prediction log's own fields",
                          fix=f"rename the feature(s): {', '.join(RESERVED)} and proba_* are "
                                             "reserved in the log (see docs/monitoring.md)")


def _reference_predictions(path: str | None, config: Config, reference: pd.DataFrame) -> pd.Series | None:
    """What the window's predictions are compared with: a predictions file, else the reference's labels."""
    if path is None:
        label = config.contract.label
        return reference[label] if label in reference.columns else None
    frame = read_table(Path(path), config.data)
    for column in (PREDICTION, "y_pred"):
        if column in frame.columns:
            return frame[column]
    raise InputError(f"{path} has no 'prediction' or 'y_pred' column (it has {', '.join(map(str, frame.columns))})",
                     fix="pass the predictions file `mlcd evaluate` writes (evaluate.predictions_file)")


def _context(config: Config, logs: str, asked: str, reference: str, log: LogWindow) -> Context:
    frame = log.frame
    versions = Counter(frame["model_version"].dropna().astype(str)) if "model_version" in frame else Counter()
    first = frame["ts"].iloc[0].to_pydatetime() if len(frame) else None
    last = frame["ts"].iloc[-1].to_pydatetime() if len(frame) else None
    return Context(model=config.model.name, logs=logs, window=asked, reference=reference, first=first, last=last,
                   files_read=len(log.files_read), files_total=log.files_total, versions=dict(versions.most_common()))


def _failure(result: DriftResult, report: str, out: Output) -> CheckFailed:
    failures = []
    for test in result.tests:
        if test.drifted and test.effect is not None:
            failures.append(f"'{test.column}' drifted: {test.effect_name} {test.effect:.3f}, "
                            f"{test.test} p (Holm) {test.adjusted_pvalue:.2g}")
    if result.skew is not None and result.skew.failed:
        failures.append(f"{result.skew.violating_rows} of {result.skew.rows} rows break the data contract: "
                        + "; ".join(result.skew.findings[:3]))
    for failure in failures:
        out.error(failure, title="drift")
    what = (f"drift in {len(result.drifted)} of {len(result.tested)} columns: {', '.join(result.drifted)}"
            if result.drifted else "production rows break the data contract (training/serving skew)")
    return CheckFailed(what, failures=failures, fix=f"see {report}; retrain on recent data, or fix what changed "
                                                    "upstream")


def _print_table(out: Output, result: DriftResult) -> None:
    out.info(f"{result.rows:,} rows in the window, {result.reference_rows:,} in the reference")
    if not result.tests:
        return
    width = max(len(t.column) for t in result.tests)
    for test in result.tests:
        if test.pvalue is None:
            word, colour, text = "SKIP", "dim", test.note or ""
        else:
            word, colour = ("DRIFT", "red") if test.drifted else ("ok", "green")
            text = (f"{test.test} p (Holm) {test.adjusted_pvalue:.2g}, {test.effect_name} {test.effect:.3f}"
                    + ("  (significant, below the effect floor)" if test.significant and not test.drifted else ""))
        text = text if len(text) <= _WIDTH else text[: _WIDTH - 1] + "…"
        out.info(f"  {out.style(f'{word:<5}', colour)}  {test.column:<{width}}  {text}")
