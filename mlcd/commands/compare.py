from __future__ import annotations

import argparse
import json
from pathlib import Path

from mlcd.compare.run import compare
from mlcd.config import load_config
from mlcd.errors import CheckFailed
from mlcd.output import get_output


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    out = get_output()
    with out.group("Compare with the base branch and production", ticker=True):
        comparison = compare(config, args.base, args.production,
                             data_test_file=Path(args.data_test) if args.data_test else None,
                             base_predictions=Path(args.base_predictions) if args.base_predictions else None)
    target = Path(args.output)
    target.write_text(json.dumps(comparison.to_json(), indent=2) + "\n", encoding="utf-8")
    for gate in comparison.gates:
        line = f"{gate.verdict.upper():<11} {gate.name}: {gate.reason}"
        if gate in comparison.failing:
            out.error(line, title="mlcd gate failed")
        else:
            out.info(f"  {line}")
    out.info(f"  comparison → {target}")
    out.set_output("passed", str(comparison.passed).lower())
    out.set_output("comparison-file", str(target))
    failing = comparison.failing
    if failing and not args.no_fail:
        raise CheckFailed(f"{len(failing)} of {len(comparison.gates)} gate(s) failed: "
                          + "; ".join(g.name for g in failing))
    return 0
