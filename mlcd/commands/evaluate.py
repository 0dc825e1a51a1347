from __future__ import annotations

import argparse

from mlcd.config import load_config
from mlcd.errors import CheckFailed
from mlcd.evaluation.gates import FAILING
from mlcd.evaluation.run import evaluate, render_markdown, write_results
from mlcd.output import get_output


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    out = get_output()
    with out.group("Evaluate on the holdout", ticker=True):
        evaluation = evaluate(config)
        write_results(config, evaluation)
    for name, value in evaluation.metrics.items():
        out.info(f"  {name:<18} {'n/a' if value is None else f'{value:.4f}'}  ({config.metrics[name]} is better)")
    for gate in evaluation.gates:
        line = f"  {gate.verdict.upper():<5} {gate.name}: {gate.reason}"
        if gate.verdict in FAILING:
            out.error(line.strip(), title="mlcd gate failed")
        else:
            out.info(line)
    for kind, path in evaluation.files.items():
        out.info(f"  {kind} → {path}")
        out.set_output(f"{kind}-file", str(path))
    out.set_output("passed", str(evaluation.passed).lower())
    out.step_summary(render_markdown(evaluation, dict(config.metrics)))
    failing = [f"{g.name}: {g.reason}" for g in evaluation.gates if g.verdict in FAILING]
    if failing and not args.no_fail:
        raise CheckFailed(f"{len(failing)} gate(s) failed: " + "; ".join(failing))
    return 0
