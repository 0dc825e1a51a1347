"""Noise exemption of a failing regression gate: paired wherever the base's predictions exist (McNemar for
accuracy, a paired bootstrap of head - base otherwise, within noise only when its interval includes zero),
the head-alone interval only where nothing pairs; regression metrics scored as numbers."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mlcd.compare.run import noise_check
from mlcd.evaluation.gates import GateResult
from mlcd.evaluation.metrics import Predictions


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return math.sqrt(float(np.mean((y_true - y_pred) ** 2)))


def as_read(y_true: np.ndarray, y_pred: np.ndarray) -> Predictions:
    """As compare reads predictions.csv: text."""
    return Predictions(y_true.astype(str), y_pred.astype(str))


def failing_rmse_gate(head: float, base: float) -> GateResult:
    return GateResult("rmse vs base", "regression_vs_base", "fail", "rmse rose", "rmse", head, base)


def holdout(seed: int, rows: int, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y_true = rng.normal(50, 10, rows)
    return y_true, y_true + rng.normal(0, sigma, rows)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), rows=st.integers(20, 400), sigma=st.floats(0.1, 20))
def test_identical_predictions_are_never_beyond_noise(seed: int, rows: int, sigma: float) -> None:
    y_true, base = holdout(seed, rows, sigma)
    value = rmse(y_true, base)
    verdict = noise_check(failing_rmse_gate(value, value), as_read(y_true, base), as_read(y_true, base.copy()),
                          0.95, 200)
    assert verdict is not None and verdict.method == "paired bootstrap" and verdict.within_noise


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), sigma=st.floats(0.5, 20), shift=st.floats(0.3, 2.0))
def test_a_uniform_shift_beyond_the_tolerance_on_a_large_holdout_always_fails(seed: int, sigma: float,
                                                                              shift: float) -> None:
    y_true, base = holdout(seed, 2000, sigma)
    head = base + shift * sigma  # every prediction off by the same amount more
    assert rmse(y_true, head) / rmse(y_true, base) - 1 > 0.02  # beyond a 2 % tolerance
    verdict = noise_check(failing_rmse_gate(rmse(y_true, head), rmse(y_true, base)), as_read(y_true, head),
                          as_read(y_true, base), 0.95, 200)
    assert verdict is not None and verdict.method == "paired bootstrap" and not verdict.within_noise
    assert "excludes 0" in verdict.detail


def test_a_regression_the_head_alone_calls_noise_is_beyond_noise_paired() -> None:
    """rmse +6.7 % on 300 rows: the head-alone interval (what compare used for regression) waves it through;
    paired, every row's error moved the same way, and it is a regression."""
    y_true, base = holdout(7, 300, 5.0)
    low, high = 0.0, 5.0  # the uniform shift that makes rmse 6.7 % worse
    for _ in range(60):
        shift = (low + high) / 2
        low, high = (shift, high) if rmse(y_true, base + shift) / rmse(y_true, base) < 1.067 else (low, shift)
    head = base + shift
    assert abs(rmse(y_true, head) / rmse(y_true, base) - 1.067) < 1e-6
    gate = failing_rmse_gate(rmse(y_true, head), rmse(y_true, base))
    alone = noise_check(gate, as_read(y_true, head), None, 0.95, 1000)
    paired = noise_check(gate, as_read(y_true, head), as_read(y_true, base), 0.95, 1000)
    assert alone is not None and alone.method == "bootstrap" and alone.within_noise
    assert paired is not None and paired.method == "paired bootstrap" and not paired.within_noise


def test_other_rows_are_not_paired() -> None:
    y_true, base = holdout(1, 100, 5.0)
    other_rows, other = holdout(2, 100, 5.0)
    verdict = noise_check(failing_rmse_gate(rmse(y_true, base), rmse(other_rows, other)), as_read(y_true, base),
                          as_read(other_rows, other), 0.95, 200)
    assert verdict is not None and verdict.method == "bootstrap"
