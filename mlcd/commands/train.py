from __future__ import annotations

import argparse

from mlcd.config import load_config
from mlcd.output import get_output
from mlcd.training import check_reproducible, require_reproducible, train


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    out = get_output()
    with out.group(f"Train: dvc repro in {config.root}"):
        result = train(config, force=args.force)
    out.success(f"model {result.model_path} (sha256 {result.model_sha256[:12]}…) in {result.duration_seconds:.1f}s")
    out.info(f"  lineage → {result.lineage_path}")
    out.set_output("model-path", str(result.model_path))
    out.set_output("model-sha256", result.model_sha256)
    out.set_output("lineage-file", str(result.lineage_path))
    if args.check_reproducible:
        with out.group("Retrain from the same inputs to check reproducibility"):
            report = check_reproducible(config, result)
        require_reproducible(report)
        same_bytes = "byte-identical model" if report.first_sha256 == report.second_sha256 else \
            "model bytes differ, predictions identical"
        out.success(f"reproducible: identical holdout predictions and metrics ({same_bytes})")
    return 0
