"""``mlcd feedback``: labels that arrived later joined to the logged predictions; writes the metrics file
(``mlcd evaluate``'s format) and the report, and exits 3 when a threshold or slice-gap gate fails."""

from __future__ import annotations

import argparse
from pathlib import Path

from mlcd.config import load_config
from mlcd.errors import CheckFailed
from mlcd.monitoring.feedback_run import FeedbackRequest, run_feedback, write_feedback
from mlcd.output import get_output


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    out = get_output()
    request = FeedbackRequest(labels=args.labels, id_column=args.id_column, key=args.key, logs=args.logs,
                              since=args.since, until=args.until, last=args.last, min_rows=args.min_rows)
    feedback = run_feedback(config, request, out)
    report = feedback.markdown(dict(config.metrics))
    write_feedback(feedback, Path(args.output), Path(args.json), report, Path(args.markdown))
    out.info(f"{len(feedback.join.rows):,} labelled prediction(s) of {feedback.logged:,} logged ({feedback.window})")
    for line in feedback.problems():
        if line == feedback.refusal:
            out.error(line, title="mlcd feedback")
        else:
            out.warning(line, title="mlcd feedback")
    evaluation = feedback.evaluation
    if evaluation is not None:
        for name, value in evaluation.metrics.items():
            out.info(f"  {name:<18} {'n/a' if value is None else f'{value:.4f}'}  ({config.metrics[name]} is better)")
        for line, failing in feedback.gate_lines():
            if failing:
                out.error(line, title="mlcd gate failed on production traffic")
            else:
                out.info(f"  {line}")
        out.info(f"  metrics → {args.output}")
        out.set_output("metrics-file", args.output)
    out.step_summary(report)
    out.set_output("verdict", feedback.verdict)
    out.set_output("passed", str(evaluation is not None and evaluation.passed).lower())
    out.set_output("result-file", args.json)
    failure = feedback.failure()
    if failure is not None and not (args.no_fail and isinstance(failure, CheckFailed)):
        raise failure
    return 0
