"""Training: run the project's DVC pipeline, then record lineage next to the model."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlcd.config import Config
from mlcd.errors import CheckFailed, InputError, ModelError, ToolFailed
from mlcd.lineage import build_lineage, write_lineage
from mlcd.model import file_sha256, load_model


@dataclass(frozen=True)
class TrainResult:
    model_path: Path
    model_sha256: str
    lineage_path: Path
    duration_seconds: float


def tool_env() -> dict[str, str]:
    """The environment for DVC: this interpreter's scripts (mlcd, dvc) come first on PATH."""
    env = dict(os.environ)
    scripts = str(Path(sys.executable).parent)
    env["PATH"] = scripts + os.pathsep + env.get("PATH", "")
    return env


def dvc(root: Path, *args: str) -> None:
    """Run a DVC command in root, its output streamed to the user."""
    if importlib.util.find_spec("dvc") is None:  # run by this interpreter: missing like an import (mlcd.cli)
        raise ModuleNotFoundError("No module named 'dvc'", name="dvc")
    if not (root / ".dvc").is_dir():
        raise InputError(f"{root} is not a DVC project (no .dvc directory)",
                         fix="run `dvc init` in the repository root and commit .dvc/")
    if not (root / "dvc.yaml").is_file():
        raise InputError(f"{root / 'dvc.yaml'} does not exist", fix="declare the pipeline's stages in dvc.yaml")
    command = [sys.executable, "-m", "dvc", *args]
    completed = subprocess.run(command, cwd=root, env=tool_env(), stdout=sys.stderr, stderr=sys.stderr)
    if completed.returncode != 0:
        raise ToolFailed(f"`dvc {' '.join(args)}` failed with exit code {completed.returncode}",
                         fix="read DVC's output above; run it yourself with -v for details")


def train(config: Config, force: bool = False) -> TrainResult:
    root = config.root
    started = time.monotonic()
    dvc(root, "repro", *(["--force"] if force else []))
    duration = time.monotonic() - started
    model_path = config.resolve(config.model.path)
    if not model_path.is_file():
        raise ModelError(f"the pipeline finished but did not write model.path {config.model.path}",
                         fix=f"make the `{config.train.stage}` stage in dvc.yaml write {config.model.path}")
    load_model(model_path, config.model.trusted_types)  # refuse unsafe or unreadable files now, not at serving
    digest = file_sha256(model_path)
    lineage = build_lineage(root=root, model_path=model_path, model_sha256=digest,
                            params_file=config.train.params, seed_param=config.train.seed_param,
                            duration_seconds=duration, stage=config.train.stage)
    return TrainResult(model_path, digest, write_lineage(model_path, lineage), duration)


@dataclass(frozen=True)
class ReproducibilityReport:
    first_sha256: str
    second_sha256: str
    differing_predictions: int
    max_probability_difference: float
    metric_differences: dict[str, tuple[float | None, float | None]]

    @property
    def reproducible(self) -> bool:
        return (self.differing_predictions == 0 and self.max_probability_difference == 0.0
                and not self.metric_differences)


def _holdout_outputs(config: Config) -> tuple[Any, Any, dict[str, float | None]]:
    from mlcd.evaluation.metrics import Predictions, compute_metrics
    from mlcd.evaluation.run import predict, read_holdout

    holdout = config.holdout_path
    if holdout is None:
        raise InputError("no holdout to compare predictions on",
                         fix="set evaluate.holdout or data.splits.test in mlcd.yaml")
    frame = read_holdout(config, holdout)
    frame = frame[frame[config.contract.label].notna()]
    model = load_model(config.resolve(config.model.path), config.model.trusted_types)
    labels, proba, classes = predict(model, frame[config.contract.feature_names], config.evaluate.task)
    metrics = compute_metrics(list(config.metrics),
                              Predictions(frame[config.contract.label].to_numpy(), labels, proba, classes))
    return labels, proba, metrics


def check_reproducible(config: Config, first: TrainResult) -> ReproducibilityReport:
    """Retrain the model stage from the same inputs and compare holdout predictions and metrics.

    The first run's model, dvc.lock and lineage are restored afterwards, whatever the outcome.
    """
    import numpy as np

    labels_1, proba_1, metrics_1 = _holdout_outputs(config)
    keep = [first.model_path, config.root / "dvc.lock", first.lineage_path]
    with tempfile.TemporaryDirectory(prefix="mlcd-repro-") as backup_dir:
        backups = {path: Path(backup_dir) / f"{i}-{path.name}" for i, path in enumerate(keep) if path.is_file()}
        for path, copy in backups.items():
            shutil.copy2(path, copy)
        try:
            dvc(config.root, "repro", "--force", "--single-item", config.train.stage)
            second_sha = file_sha256(first.model_path)
            labels_2, proba_2, metrics_2 = _holdout_outputs(config)
        finally:
            for path, copy in backups.items():
                shutil.copy2(copy, path)
    differing = int(np.sum(np.asarray(labels_1) != np.asarray(labels_2)))
    max_diff = 0.0
    if proba_1 is not None and proba_2 is not None:
        max_diff = float(np.max(np.abs(proba_1 - proba_2))) if proba_1.size else 0.0
    metric_diffs = {name: (metrics_1[name], metrics_2.get(name))
                    for name in metrics_1 if metrics_1[name] != metrics_2.get(name)}
    return ReproducibilityReport(first.model_sha256, second_sha, differing, max_diff, metric_diffs)


def require_reproducible(report: ReproducibilityReport) -> None:
    if report.reproducible:
        return
    failures = []
    if report.differing_predictions:
        failures.append(f"{report.differing_predictions} holdout prediction(s) changed")
    if report.max_probability_difference:
        failures.append(f"probabilities differ by up to {report.max_probability_difference:.3g}")
    failures += [f"{name}: {a} then {b}" for name, (a, b) in report.metric_differences.items()]
    raise CheckFailed("training is not reproducible: " + "; ".join(failures), failures=failures,
                      fix="set every random seed from params.yaml (model, split, numpy) and avoid "
                          "non-deterministic parallelism")
