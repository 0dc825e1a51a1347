from __future__ import annotations

import argparse
import json
from pathlib import Path

from mlcd.config import load_config
from mlcd.errors import CheckFailed
from mlcd.output import get_output
from mlcd.packaging.smoke import smoke


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    out = get_output()
    report = smoke(config, args.image, out, timeout=args.timeout, golden=Path(args.golden) if args.golden else None)
    target = Path(args.report)
    target.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
    out.info(f"  parity: {report.rows} rows, {len(report.mismatches)} mismatch(es), "
             f"largest probability gap {report.largest_proba_gap:.1e}")
    for check in report.checks:
        verdict = "ok  " if check.passed else "FAIL"
        out.info(f"  {verdict} {check.name}: expected {check.expected}, got {check.status or 'no answer'}")
    out.info(f"  latency over {len(report.latencies_ms)} one-row requests: p50 {report.latency(50):.1f} ms, "
             f"p99 {report.latency(99):.1f} ms; ready in {report.ready_seconds:.2f}s")
    out.info(f"  report → {target}")
    out.set_output("passed", str(report.passed).lower())
    out.set_output("smoke-report", str(target))
    out.step_summary(report.markdown())
    if not report.passed:
        for failure in report.failures:
            out.error(failure, title="mlcd smoke")
        raise CheckFailed(f"{args.image} failed the smoke test: {len(report.failures)} problem(s), "
                          f"first: {report.failures[0]}")
    out.success(f"{args.image} serves the model it was built with: parity and error answers as documented")
    return 0
