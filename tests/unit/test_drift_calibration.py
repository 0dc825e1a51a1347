"""Calibration of the drift rule (`mlcd drift`, and `mlcd data test`'s drift check), measured by simulation,
and properties of its statistics.

The false-alarm rate is the share of trials in which a window drawn from the reference's own
distribution raises any alarm (family-wise, over 20 mixed features). It must be at most alpha = 0.05,
up to Monte-Carlo error: the bound is 0.05 + 2·SE with SE = √(0.05·0.95/trials). Both the pure test
(Holm only, no effect floor) and the shipped rule (Holm and the floor) are measured; the measured rates
are printed.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mlcd.config.model import DriftConfig
from mlcd.drift import Kind, chi2_test, compare_columns, holm, js_distance, ks_test, pool_rare, psi_of_shares

TRIALS = 300
REFERENCE_ROWS = 10_000
WINDOW_ROWS = 5_000
ALPHA = 0.05
BOUND = ALPHA + 2 * math.sqrt(ALPHA * (1 - ALPHA) / TRIALS)

# 10 numeric features of different shapes (symmetric, skewed, heavy-tailed, discrete) and 10 categorical
# ones with 2 to 12 categories, some rare enough (0.1 %) that the chi-squared test must pool them.
NUMERIC = ("normal", "exponential", "poisson", "lognormal", "student", "uniform", "binomial", "gamma",
           "normal_wide", "geometric")
CATEGORIES = {f"c{i}": np.array([0.5, 0.3, 0.2]) if i == 0 else np.array([0.9, 0.1]) if i == 1
              else np.array([*np.linspace(3.0, 1.0, i + 1), 0.02, 0.01]) for i in range(10)}
KINDS: dict[str, Kind] = {**{name: "numeric" for name in NUMERIC}, **{name: "categorical" for name in CATEGORIES}}


def draw(rng: np.random.Generator, rows: int, shift: float = 0.0) -> pd.DataFrame:
    """Rows of the 20 features; ``shift`` moves the mean of 'normal' (σ = 1) by that many σ."""
    data: dict[str, object] = {
        "normal": rng.normal(shift, 1.0, rows),
        "exponential": rng.exponential(2.0, rows),
        "poisson": rng.poisson(3.0, rows).astype("float64"),
        "lognormal": rng.lognormal(0.0, 1.0, rows),
        "student": rng.standard_t(3, rows),
        "uniform": rng.uniform(-1.0, 1.0, rows),
        "binomial": rng.binomial(10, 0.3, rows).astype("float64"),
        "gamma": rng.gamma(2.0, 2.0, rows),
        "normal_wide": rng.normal(100.0, 25.0, rows),
        "geometric": rng.geometric(0.2, rows).astype("float64"),
    }
    for name, weights in CATEGORIES.items():
        labels = np.array([f"{name}_{k}" for k in range(len(weights))])
        data[name] = pd.Series(rng.choice(labels, rows, p=weights / weights.sum()), dtype="str")
    return pd.DataFrame(data)


@pytest.fixture(scope="module")
def trials() -> list[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]]:
    """Per trial: columns Holm rejects with no shift, columns that alarm with no shift, and columns that
    alarm when 'normal' shifts by 0.5σ. One fresh reference per trial, seeded."""
    rng = np.random.default_rng(20240501)
    thresholds = DriftConfig(alpha=ALPHA)
    outcomes = []
    for _ in range(TRIALS):
        reference = draw(rng, REFERENCE_ROWS)
        null = compare_columns(reference, draw(rng, WINDOW_ROWS), KINDS, thresholds)
        shifted = compare_columns(reference, draw(rng, WINDOW_ROWS, shift=0.5), KINDS, thresholds)
        outcomes.append((tuple(t.column for t in null if t.significant), tuple(t.column for t in null if t.drifted),
                         tuple(t.column for t in shifted if t.drifted)))
    return outcomes


def report(capsys: pytest.CaptureFixture[str], line: str) -> None:
    with capsys.disabled():
        print(f"\n  calibration: {line}")


@pytest.mark.slow
def test_false_alarm_rate_is_at_most_alpha(trials: list[tuple[tuple[str, ...], ...]],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    holm_only = sum(1 for rejected, _, _ in trials if rejected) / TRIALS
    alarms = sum(1 for _, alarmed, _ in trials if alarmed) / TRIALS
    report(capsys, f"false-alarm rate over {TRIALS} trials of 20 features ({REFERENCE_ROWS} reference rows, "
                   f"{WINDOW_ROWS} window rows): Holm alone {holm_only:.3f}, Holm + effect floor {alarms:.3f} "
                   f"(bound {BOUND:.3f})")
    assert holm_only <= BOUND
    assert alarms <= holm_only  # the floor only removes alarms


@pytest.mark.slow
def test_half_sigma_shift_in_one_feature_is_detected_and_named(trials: list[tuple[tuple[str, ...], ...]],
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    found = sum(1 for _, _, alarmed in trials if "normal" in alarmed) / TRIALS
    others = sum(1 for _, _, alarmed in trials if set(alarmed) - {"normal"}) / TRIALS
    report(capsys, f"0.5σ mean shift in one feature detected and named in {found:.3f} of {TRIALS} trials; "
                   f"another feature alarmed as well in {others:.3f}")
    assert found >= 0.95
    assert others <= BOUND


def test_a_huge_window_does_not_alarm_on_a_trivial_shift() -> None:
    rng = np.random.default_rng(7)
    reference = pd.DataFrame({"x": rng.normal(0.0, 1.0, 20_000)})
    window = pd.DataFrame({"x": rng.normal(0.05, 1.0, 1_000_000)})  # 0.05σ: certain, and too small to matter
    (test,) = compare_columns(reference, window, {"x": "numeric"}, DriftConfig())
    assert test.significant and not test.drifted
    assert test.psi is not None and test.psi < 0.01


def test_too_few_rows_are_not_tested() -> None:
    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"x": rng.normal(size=1000), "c": pd.Series(rng.choice(["a", "b"], 1000))})
    window = reference.head(100).copy()
    tests = compare_columns(reference, window, {"x": "numeric", "c": "categorical"}, DriftConfig(min_rows=500))
    assert [t.pvalue for t in tests] == [None, None]
    assert [t.note for t in tests] == ["100 values in the window, fewer than drift.min_rows (500)"] * 2


# --- properties ---------------------------------------------------------------------------------------

finite = st.floats(-1e6, 1e6, allow_nan=False)
samples = arrays(np.float64, st.integers(1, 300), elements=finite)
counts = st.lists(st.integers(0, 500), min_size=1, max_size=12)


@st.composite
def frames(draw_: st.DrawFn) -> pd.DataFrame:
    rows = draw_(st.integers(1, 200))
    numbers = draw_(arrays(np.float64, rows, elements=st.one_of(st.floats(-1e6, 1e6), st.just(np.nan))))
    labels = draw_(st.lists(st.sampled_from(["a", "b", "c", None]), min_size=rows, max_size=rows))
    return pd.DataFrame({"x": numbers, "c": pd.Series(labels, dtype="str")})


@settings(max_examples=150, deadline=None)
@given(frames())
def test_identical_windows_never_alarm(frame: pd.DataFrame) -> None:
    tests = compare_columns(frame, frame.copy(), {"x": "numeric", "c": "categorical"}, DriftConfig(min_rows=1))
    for test in tests:
        assert not test.drifted and not test.significant
        if test.pvalue is not None:
            assert test.pvalue == pytest.approx(1.0)
            assert test.effect == pytest.approx(0.0, abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(samples, samples)
def test_ks_is_symmetric_and_bounded(a: np.ndarray, b: np.ndarray) -> None:
    d, p = ks_test(a, b)
    assert 0.0 <= d <= 1.0 and 0.0 <= p <= 1.0
    assert ks_test(b, a) == pytest.approx((d, p))
    assert ks_test(a, a.copy()) == (0.0, 1.0)


@settings(max_examples=200, deadline=None)
@given(samples, samples)
def test_ks_agrees_with_scipy(a: np.ndarray, b: np.ndarray) -> None:
    from scipy import stats

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scipy's own p-value for one-value samples
        expected = stats.ks_2samp(a, b, method="asymp")
    d, p = ks_test(a, b)
    assert d == pytest.approx(expected.statistic, abs=1e-12)
    if np.isfinite(expected.pvalue):
        assert p == pytest.approx(expected.pvalue, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(counts.flatmap(lambda c: st.tuples(st.just(c), st.lists(st.integers(0, 500), min_size=len(c),
                                                                max_size=len(c)))))
def test_categorical_statistics_are_symmetric_and_bounded(pair: tuple[list[int], list[int]]) -> None:
    a, b = np.array(pair[0], dtype=float), np.array(pair[1], dtype=float)
    js = js_distance(a, b)
    assert 0.0 <= js <= 1.0 and js == pytest.approx(js_distance(b, a))
    chi2, p = chi2_test(a, b)
    assert chi2 >= 0.0 and 0.0 <= p <= 1.0
    assert chi2_test(b, a) == pytest.approx((chi2, p))
    if a.sum() and b.sum():
        assert psi_of_shares(a / a.sum(), b / b.sum()) == pytest.approx(psi_of_shares(b / b.sum(), a / a.sum()))
        assert js_distance(a, a * 3) == pytest.approx(0.0, abs=1e-7)


@settings(max_examples=200, deadline=None)
@given(counts.flatmap(lambda c: st.tuples(st.just(c), st.lists(st.integers(0, 500), min_size=len(c),
                                                                max_size=len(c)))))
def test_pooling_keeps_every_row_and_leaves_no_rare_category(pair: tuple[list[int], list[int]]) -> None:
    a, b = np.array(pair[0], dtype=float), np.array(pair[1], dtype=float)
    ref, cur = pool_rare(a, b)
    assert ref.sum() == a.sum() and cur.sum() == b.sum()
    total = ref + cur
    if len(ref) > 2 and total.sum():
        smaller = min(ref.sum(), cur.sum()) / total.sum()
        assert (total * smaller >= 5.0).all()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=30))
def test_holm_adjustment_is_a_valid_step_down(pvalues: list[float]) -> None:
    adjusted = holm(pvalues)
    m = len(pvalues)
    for raw, adj in zip(pvalues, adjusted, strict=True):
        assert raw <= adj + 1e-15 and adj <= 1.0
        assert adj <= min(1.0, m * raw) + 1e-15  # never stricter than Bonferroni
    order = sorted(range(m), key=lambda i: pvalues[i])
    assert all(adjusted[order[i]] <= adjusted[order[i + 1]] for i in range(m - 1))
