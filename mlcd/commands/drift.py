"""``mlcd drift``: the logged production inputs and predictions of a window against the training data;
writes the report (JSON and Markdown), and exits 3 on drift or training/serving skew."""

from __future__ import annotations

import argparse
from pathlib import Path

from mlcd.config import load_config
from mlcd.monitoring.drift import DriftResult
from mlcd.monitoring.feedback_run import Feedback
from mlcd.monitoring.run import DriftRequest, run_drift
from mlcd.output import Output, get_output, write_result_file

_WIDTH = 100


NOT_CONFIGURED = "not configured"


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    out = get_output()
    request = DriftRequest(logs=args.logs, reference=Path(args.reference) if args.reference else None,
                           reference_rev=args.reference_rev, reference_predictions=args.reference_predictions,
                           since=args.since, until=args.until, last=args.last, if_configured=args.if_configured,
                           labels=args.labels)
    drift = run_drift(config, request, out)
    if drift is None:
        out.notice("no prediction logs to measure drift on: set monitoring.logs in mlcd.yaml (a directory or an "
                   "fsspec URL that the serving image logs to, see mlcd's docs/monitoring.md), or the drift "
                   "workflow's prediction-logs input", title="mlcd drift: not configured")
        out.set_output("verdict", NOT_CONFIGURED)
        return 0
    result = drift.result
    report = drift.markdown(config.metrics)
    write_result_file(Path(args.json), drift.json(), "--json")
    write_result_file(Path(args.markdown), report, "--markdown")
    if result is not None:
        _print_table(out, result)
    if drift.age is not None:
        out.info(drift.age.reason())
    if drift.feedback is not None:
        _print_feedback(out, drift.feedback)
    out.step_summary(report)
    out.set_output("drifted", "true" if result is not None and result.failed else "false")
    out.set_output("verdict", drift.verdict)
    out.set_output("drifted-columns", ",".join(result.drifted) if result is not None else "")
    out.set_output("failing-metrics", ",".join(drift.failing_metrics))
    reasons = drift.retrain_reasons()
    out.set_output("retrain", "true" if reasons else "false")
    out.set_output("retrain-reason", "; ".join(reasons))
    out.set_output("result-file", args.json)
    if drift.incomplete_lines:
        out.warning(f"{drift.incomplete_lines} incomplete last line(s) left out: log files still being written")
    problem = drift.input_problem()
    if problem is not None:
        raise problem
    failure = drift.failure(args.markdown)
    if failure is not None:
        for reason in failure.failures:
            out.error(reason, title=_title(reason))
        raise failure
    if result is None:
        return 0
    if not result.decided:
        out.warning(f"not enough rows to decide: {result.rows} in the window; a column is tested from "
                    f"drift.min_rows ({config.drift.min_rows}) values",
                    title="drift: not enough data")
        return 0
    out.success(f"no drift: {len(result.tested)} columns tested over {result.rows:,} rows")
    return 0


def _title(reason: str) -> str:
    if "max_model_age" in reason:
        return "stale model"
    return "production metrics below a gate" if "on production traffic" in reason else "drift"


def _print_feedback(out: Output, feedback: Feedback) -> None:
    out.info(f"{len(feedback.join.rows):,} labelled prediction(s) of {feedback.logged:,} logged: {feedback.verdict}")
    for line in feedback.problems():
        out.warning(line, title="mlcd drift: labels")
    evaluation = feedback.evaluation
    if evaluation is not None:
        for name, value in evaluation.metrics.items():
            out.info(f"  {name:<18} {'n/a' if value is None else f'{value:.4f}'}  on production traffic")


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
