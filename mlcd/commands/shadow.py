"""``mlcd shadow``: logged production rows replayed through the candidate model file (or, with ``--image``,
the candidate image); writes the report (JSON and Markdown), and exits 3 when the prediction churn gate
fails."""

from __future__ import annotations

import argparse
from pathlib import Path

from mlcd.config import load_config
from mlcd.errors import CheckFailed
from mlcd.output import get_output, write_result_file
from mlcd.packaging.shadow_image import ShadowRequest, replay_shadow


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    out = get_output()
    request = ShadowRequest(logs=args.logs, model=Path(args.model) if args.model else None, since=args.since,
                            until=args.until, last=args.last, sample=args.sample, seed=args.seed,
                            if_configured=args.if_configured)
    # the image's start prints its own progress; the ticker is for the silent replay of a model file
    with out.group("replay logged production traffic through the candidate", ticker=args.image is None):
        shadow = replay_shadow(config, request, out, image=args.image, timeout=args.timeout)
    if shadow is None:
        out.notice("no prediction logs to replay: set monitoring.logs in mlcd.yaml (a directory or an fsspec URL "
                   "that the serving image logs to, see mlcd's docs/monitoring.md), or the workflows' "
                   "prediction-logs input or MLCD_PREDICTION_LOGS variable",
                   title="mlcd shadow: not configured")
        out.set_output("verdict", "not configured")
        return 0
    result = shadow.result
    write_result_file(Path(args.json), shadow.json(), "--json")
    report = shadow.markdown()
    write_result_file(Path(args.markdown), report, "--markdown")
    out.step_summary(report)
    overall = result.overall
    rate = "n/a" if overall.rate is None else f"{overall.rate:.2%}"
    out.info(f"{overall.changed:,} of {overall.rows:,} replayed rows change prediction ({rate})")
    for column, groups in result.slices.items():
        for group, churn in groups.items():
            share = "n/a" if churn.rate is None else f"{churn.rate:.2%}"
            out.info(f"  {column}={group}: {churn.changed:,} of {churn.rows:,} ({share})")
    out.set_output("churn", "" if overall.rate is None else f"{overall.rate:.6f}")
    out.set_output("verdict", result.gate.verdict if result.gate else "not gated")
    out.set_output("result-file", args.json)
    out.set_output("report-file", args.markdown)
    if shadow.incomplete_lines:
        out.warning(f"{shadow.incomplete_lines} incomplete last line(s) left out: log files still being written")
    failure: CheckFailed | None = shadow.failure(args.markdown)
    if failure is not None:
        out.error(failure.failures[0], title="prediction churn")
        raise failure
    if result.gate is not None:
        out.success(f"{result.gate.name}: {result.gate.reason}")
    return 0
