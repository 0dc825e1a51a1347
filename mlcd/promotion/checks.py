"""The decisions of a promotion, as pure functions: is the image what the record says, may this version go
to this environment now, and does it pass the gates against what runs there."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from mlcd.config.model import Direction, GatesConfig
from mlcd.evaluation.gates import GateResult, apply_gates, regression_gate
from mlcd.evaluation.shadow_result import ShadowFile
from mlcd.packaging.labels import METRICS, MODEL_NAME, MODEL_SHA256


def label_metrics(labels: Mapping[str, str]) -> dict[str, float] | None:
    """The headline metrics an image carries (``dev.mlcd.metrics``); None when absent or unreadable."""
    text = labels.get(METRICS)
    if not text:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    return {str(k): float(v) for k, v in data.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def same_metrics(first: Mapping[str, float], second: Mapping[str, float]) -> bool:
    return first.keys() == second.keys() and all(math.isclose(first[k], second[k], rel_tol=1e-9, abs_tol=1e-12)
                                                  for k in first)


def label_problems(labels: Mapping[str, str], *, model: str, expected_sha256: str | None, expected_from: str,
                   recorded_metrics: Mapping[str, float] | None) -> list[str]:
    """Why the image in the registry is not the model the record (or this checkout) says it is."""
    problems = []
    name = labels.get(MODEL_NAME)
    if name != model:
        problems.append(f"the image's {MODEL_NAME} label is {name!r}, not {model!r}" if name
                        else f"the image has no {MODEL_NAME} label: it was not built by `mlcd package`")
    sha = labels.get(MODEL_SHA256)
    if not sha:
        problems.append(f"the image has no {MODEL_SHA256} label: which model it serves is unknown")
    elif expected_sha256 and sha != expected_sha256:
        problems.append(f"the image serves model sha256 {sha[:12]}…, but {expected_from} says "
                        f"{expected_sha256[:12]}…")
    metrics = label_metrics(labels)
    if metrics is None:
        problems.append(f"the image has no readable {METRICS} label: its evaluation is unknown")
    elif recorded_metrics and not same_metrics(metrics, recorded_metrics):
        problems.append(f"the image's {METRICS} ({_show(metrics)}) differ from the metrics recorded for this "
                        f"version ({_show(recorded_metrics)})")
    return problems


def _show(metrics: Mapping[str, float]) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())


def shadow_problems(shadow: ShadowFile, image_sha256: str | None) -> list[str]:
    """Why the shadow replay is not evidence for this image: it replayed another model file."""
    replayed = shadow.model_sha256
    if replayed is None or image_sha256 is None or replayed == image_sha256:
        return []
    return [f"the shadow replay in {shadow.path} is of model sha256 {replayed[:12]}…, but the image serves "
            f"{image_sha256[:12]}…: replay this image (`mlcd shadow --image`) or its model file"]


def stage_problems(stages: Sequence[str], environment: str, version: str, ran_in: Sequence[str]) -> list[str]:
    """A version reaches a stage only after it ran in the stage before it (``deploy.stages``)."""
    if environment not in stages:
        return []
    position = stages.index(environment)
    if position == 0:
        return []
    before = stages[position - 1]
    if before in ran_in:
        return []
    return [f"{version} has not run in {before}: {environment} comes after {before} "
            f"(deploy.stages: {' → '.join(stages)}); promote it to {before} first"]


def recheck_gates(
    gates: GatesConfig,
    directions: Mapping[str, Direction],
    metrics: Mapping[str, float],
    largest_gaps: Mapping[str, tuple[str, float] | None],
    *,
    environment: str,
    champion: Mapping[str, float] | None,
    extra_tolerance: float = 0.0,
    data_tests_passed: bool | None = None,
) -> list[GateResult]:
    """The configured gates on the candidate's recorded metrics, with every regression gate measured
    against the model running in ``environment`` now (champion/challenger). No champion: no baseline."""
    values: dict[str, float | None] = dict(metrics)
    results = apply_gates(gates, directions, values, largest_gaps, data_tests_passed=data_tests_passed,
                          include_regressions=False)
    for gate in gates.metrics:
        if gate.max_regression_vs_production is None:
            continue
        baseline = champion.get(gate.metric) if champion else None
        result = regression_gate(gate.metric, directions[gate.metric], values.get(gate.metric), baseline,
                                 gate.max_regression_vs_production, "production", gate.tolerance + extra_tolerance)
        results.append(_against(result, environment, gate.max_regression_vs_production))
    return results


def _against(result: GateResult, environment: str, limit: float) -> GateResult:
    if environment == "production":
        return result
    return replace(result, name=f"{result.metric} vs {environment} (max regression {limit:g})",
                   reason=result.reason.replace(" on production", f" in {environment}")
                                       .replace("for production", f"for {environment}"))


def largest_gaps_of(document: Mapping[str, Any], metrics: Sequence[str]) -> dict[str, tuple[str, float] | None]:
    """Per metric, the slice column with the largest gap in a metrics file (``slice_gaps``)."""
    from mlcd.evaluation.slices import largest_gap

    gaps = document.get("slice_gaps")
    if not isinstance(gaps, dict):
        return {}
    return {metric: largest_gap(gaps, metric) for metric in metrics}
