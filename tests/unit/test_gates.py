from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mlcd.config.model import GatesConfig, MetricGate
from mlcd.evaluation.gates import apply_gates, passed, regression_gate, slice_gap_gate, threshold_gate, worse_by

scores = st.floats(min_value=0, max_value=1, allow_nan=False)
limits = st.floats(min_value=0, max_value=0.5, allow_nan=False)
directions = st.sampled_from(["higher", "lower"])


@given(value=scores, limit=limits, direction=directions, against=st.sampled_from(["base", "production"]))
def test_identical_metric_never_fails_a_regression_gate(value: float, limit: float, direction: str,
                                                       against: str) -> None:
    result = regression_gate("m", direction, value, value, limit, against)  # type: ignore[arg-type]
    assert result.verdict == "pass"


@given(head=scores, baseline=scores)
def test_flipping_direction_flips_the_verdict(head: float, baseline: float) -> None:
    higher = regression_gate("m", "higher", head, baseline, 0.0, "base")
    lower = regression_gate("m", "lower", head, baseline, 0.0, "base")
    if head == baseline:
        assert higher.verdict == lower.verdict == "pass"
    else:
        assert {higher.verdict, lower.verdict} == {"pass", "fail"}


@given(head=scores, baseline=scores, limit=limits, direction=directions)
def test_regression_fails_exactly_when_worse_beyond_the_limit(head: float, baseline: float, limit: float,
                                                              direction: str) -> None:
    result = regression_gate("m", direction, head, baseline, limit, "base")  # type: ignore[arg-type]
    assert (result.verdict == "fail") == (worse_by(direction, head, baseline) > limit)  # type: ignore[arg-type]


@given(head=scores, baseline=scores, limit=limits, tolerance=limits)
def test_tolerance_only_ever_relaxes(head: float, baseline: float, limit: float, tolerance: float) -> None:
    strict = regression_gate("m", "higher", head, baseline, limit, "base")
    relaxed = regression_gate("m", "higher", head, baseline, limit, "base", tolerance=tolerance)
    assert not (strict.verdict == "pass" and relaxed.verdict == "fail")


def test_regression_reason_says_by_how_much() -> None:
    result = regression_gate("accuracy", "higher", 0.80, 0.95, 0.02, "production")
    assert result.verdict == "fail"
    assert "worse by 0.15" in result.reason and "allowed 0.02" in result.reason


def test_missing_baseline_is_not_a_failure() -> None:
    assert regression_gate("accuracy", "higher", 0.9, None, 0.01, "base").verdict == "no_baseline"


@given(value=scores, minimum=scores)
def test_threshold_min(value: float, minimum: float) -> None:
    assert (threshold_gate("m", value, minimum, None).verdict == "fail") == (value < minimum)


def test_threshold_max_and_uncomputable_metric() -> None:
    assert threshold_gate("log_loss", 0.7, None, 0.5).verdict == "fail"
    assert "above the maximum 0.5 by 0.2" in threshold_gate("log_loss", 0.7, None, 0.5).reason
    assert threshold_gate("m", None, 0.1, None).verdict == "fail"


def test_slice_gap_gate() -> None:
    assert slice_gap_gate("accuracy", "sex", 0.2, 0.1).verdict == "fail"
    assert slice_gap_gate("accuracy", "sex", 0.05, 0.1).verdict == "pass"
    assert slice_gap_gate("accuracy", None, None, 0.1).verdict == "no_baseline"


def test_apply_gates_combines_everything() -> None:
    gates = GatesConfig(
        metrics=(MetricGate("accuracy", min=0.9, max_regression_vs_base=0.01),
                 MetricGate("log_loss", max=0.5, max_regression_vs_production=0.05)),
        max_slice_gap={"accuracy": 0.1},
    )
    results = apply_gates(gates, {"accuracy": "higher", "log_loss": "lower"}, {"accuracy": 0.95, "log_loss": 0.2},
                          {"accuracy": ("island", 0.04)}, base={"accuracy": 0.97}, production=None,
                          data_tests_passed=True)
    verdicts = {r.kind + ":" + (r.metric or ""): r.verdict for r in results}
    assert verdicts == {
        "threshold:accuracy": "pass", "regression_vs_base:accuracy": "fail",
        "threshold:log_loss": "pass", "regression_vs_production:log_loss": "no_baseline",
        "slice_gap:accuracy": "pass", "data_tests:": "pass",
    }
    assert not passed(results)


def test_evaluate_time_gates_skip_baselines() -> None:
    gates = GatesConfig(metrics=(MetricGate("accuracy", min=0.9, max_regression_vs_base=0.01),))
    results = apply_gates(gates, {"accuracy": "higher"}, {"accuracy": 0.95}, {}, include_regressions=False)
    assert [r.kind for r in results] == ["threshold"]
    assert passed(results)
