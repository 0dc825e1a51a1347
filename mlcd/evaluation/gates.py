"""Gate decisions: pure functions from metrics (and baselines) to verdicts with reasons."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from mlcd.config.model import Direction, GatesConfig, MetricGate

# "error": the gate could not be decided because reading its baseline failed (a broken DVC remote, say):
# it fails like "fail", never passes like "no_baseline" (nothing recorded to compare with).
Verdict = Literal["pass", "fail", "error", "no_baseline"]
GateKind = Literal["threshold", "regression_vs_base", "regression_vs_production", "slice_gap", "data_tests",
                   "prediction_churn"]
ARROW = {"pass": "✅", "fail": "❌", "error": "❗", "no_baseline": "⚪"}
FAILING: frozenset[str] = frozenset({"fail", "error"})


@dataclass(frozen=True)
class GateResult:
    name: str
    kind: GateKind
    verdict: Verdict
    reason: str
    metric: str | None = None
    value: float | None = None
    reference: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def worse_by(direction: Direction, head: float, baseline: float) -> float:
    """How much worse head is than baseline (negative: better)."""
    return baseline - head if direction == "higher" else head - baseline


def threshold_gate(metric: str, value: float | None, minimum: float | None, maximum: float | None) -> GateResult:
    bounds = " and ".join(b for b in (
        f"≥ {minimum:g}" if minimum is not None else "", f"≤ {maximum:g}" if maximum is not None else "") if b)
    name = f"{metric} {bounds}"
    if value is None:
        return GateResult(name, "threshold", "fail", f"{metric} could not be computed on the holdout", metric)
    if minimum is not None and value < minimum:
        return GateResult(name, "threshold", "fail", f"{metric} is {value:.4g}, below the minimum {minimum:g} "
                          f"by {minimum - value:.4g}", metric, value, minimum)
    if maximum is not None and value > maximum:
        return GateResult(name, "threshold", "fail", f"{metric} is {value:.4g}, above the maximum {maximum:g} "
                          f"by {value - maximum:.4g}", metric, value, maximum)
    return GateResult(name, "threshold", "pass", f"{metric} is {value:.4g}", metric, value,
                      minimum if minimum is not None else maximum)


def regression_gate(
    metric: str,
    direction: Direction,
    head: float | None,
    baseline: float | None,
    max_regression: float,
    against: Literal["base", "production"],
    tolerance: float = 0.0,
) -> GateResult:
    kind: GateKind = "regression_vs_base" if against == "base" else "regression_vs_production"
    name = f"{metric} vs {against} (max regression {max_regression:g})"
    if baseline is None:
        return GateResult(name, kind, "no_baseline", f"no {metric} recorded for {against}", metric, head)
    if head is None:
        return GateResult(name, kind, "fail", f"{metric} could not be computed on the holdout", metric, None, baseline)
    loss = worse_by(direction, head, baseline)
    if loss - tolerance > max_regression:
        return GateResult(name, kind, "fail", f"{metric} is {head:.4g} vs {baseline:.4g} on {against}: worse by "
                          f"{loss:.4g}, more than the allowed {max_regression:g}", metric, head, baseline)
    change = "no change" if loss == 0 else (f"better by {-loss:.4g}" if loss < 0 else f"worse by {loss:.4g}")
    return GateResult(name, kind, "pass", f"{metric} is {head:.4g} vs {baseline:.4g} on {against}: {change}",
                      metric, head, baseline)


def slice_gap_gate(metric: str, slice_column: str | None, gap: float | None, max_gap: float) -> GateResult:
    name = f"{metric} slice gap ≤ {max_gap:g}"
    if gap is None or slice_column is None:
        return GateResult(name, "slice_gap", "no_baseline", "no slice has two groups with a value", metric)
    if gap > max_gap:
        return GateResult(name, "slice_gap", "fail", f"{metric} differs by {gap:.4g} between groups of "
                          f"'{slice_column}', more than {max_gap:g}", metric, gap, max_gap)
    return GateResult(name, "slice_gap", "pass", f"largest {metric} gap is {gap:.4g} (in '{slice_column}')",
                      metric, gap, max_gap)


def data_tests_gate(passed: bool | None) -> GateResult:
    if passed is None:
        return GateResult("data tests", "data_tests", "no_baseline", "no data test result found")
    if passed:
        return GateResult("data tests", "data_tests", "pass", "every data test passed")
    return GateResult("data tests", "data_tests", "fail", "data tests failed")


def churn_gate(rate: float | None, changed: int, rows: int, limit: float) -> GateResult:
    """The share of replayed production rows whose prediction the candidate changes, against its limit."""
    name = f"prediction churn ≤ {limit:g}"
    if rate is None or rows == 0:
        return GateResult(name, "prediction_churn", "no_baseline", "no logged production rows to replay",
                          "prediction_churn", None, limit)
    share = f"{changed:,} of {rows:,} logged rows ({rate:.2%}) change prediction"
    if rate > limit:
        return GateResult(name, "prediction_churn", "fail", f"{share}, more than the allowed {limit:.2%}",
                          "prediction_churn", rate, limit)
    return GateResult(name, "prediction_churn", "pass", share, "prediction_churn", rate, limit)


def apply_gates(
    gates: GatesConfig,
    directions: Mapping[str, Direction],
    metrics: Mapping[str, float | None],
    largest_gaps: Mapping[str, tuple[str, float] | None],
    base: Mapping[str, float | None] | None = None,
    production: Mapping[str, float | None] | None = None,
    data_tests_passed: bool | None = None,
    include_regressions: bool = True,
) -> list[GateResult]:
    """Every configured gate's verdict. Regression gates need baselines; absent ones say so."""
    results: list[GateResult] = []
    for gate in gates.metrics:
        results.extend(_metric_gate_results(gate, directions[gate.metric], metrics.get(gate.metric),
                                            base, production, include_regressions))
    for metric, max_gap in gates.max_slice_gap.items():
        found = largest_gaps.get(metric)
        results.append(slice_gap_gate(metric, found[0] if found else None, found[1] if found else None, max_gap))
    if data_tests_passed is not None or (gates.require_data_tests and include_regressions):
        results.append(data_tests_gate(data_tests_passed))
    return results


def _metric_gate_results(
    gate: MetricGate,
    direction: Direction,
    value: float | None,
    base: Mapping[str, float | None] | None,
    production: Mapping[str, float | None] | None,
    include_regressions: bool,
) -> list[GateResult]:
    results: list[GateResult] = []
    if gate.min is not None or gate.max is not None:
        results.append(threshold_gate(gate.metric, value, gate.min, gate.max))
    if not include_regressions:
        return results
    for against, limit, baseline in (("base", gate.max_regression_vs_base, base),
                                     ("production", gate.max_regression_vs_production, production)):
        if limit is not None:
            reference = None if baseline is None else baseline.get(gate.metric)
            results.append(regression_gate(gate.metric, direction, value, reference, limit,
                                           against, gate.tolerance))  # type: ignore[arg-type]
    return results


def passed(results: list[GateResult]) -> bool:
    return all(result.verdict not in FAILING for result in results)
