"""Is a metric difference real, or holdout noise? Pure functions over holdout predictions.

- With the baseline's predictions on the same holdout rows (paired):
  - accuracy: McNemar's exact test on the rows where exactly one of the two models is right;
  - every other metric (rmse, mae, r2, log_loss, f1, ...): a paired bootstrap of the difference
    head - base, both models scored on the same resampled rows; the difference is within noise only
    when that interval includes zero.
- Otherwise (nothing to pair with): a percentile bootstrap interval of the head metric alone; a
  difference smaller than the interval's half-width is within noise. The report says which was used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

Array = np.ndarray[Any, Any]


@dataclass(frozen=True)
class NoiseVerdict:
    method: str  # "mcnemar", "paired bootstrap" or "bootstrap" (the head alone: nothing to pair with)
    within_noise: bool
    detail: str
    p_value: float | None = None
    half_width: float | None = None
    interval: tuple[float, float] | None = None


def mcnemar_exact(head_correct: Array, base_correct: Array) -> tuple[int, int, float]:
    """(head-only-right, base-only-right, two-sided exact p-value) for paired correctness vectors."""
    from scipy.stats import binomtest

    head_only = int(np.sum(head_correct & ~base_correct))
    base_only = int(np.sum(~head_correct & base_correct))
    discordant = head_only + base_only
    p_value = 1.0 if discordant == 0 else float(binomtest(head_only, discordant, 0.5).pvalue)
    return head_only, base_only, p_value


def mcnemar_verdict(y_true: Array, head_pred: Array, base_pred: Array, alpha: float = 0.05) -> NoiseVerdict:
    head_only, base_only, p_value = mcnemar_exact(head_pred == y_true, base_pred == y_true)
    within = p_value >= alpha
    detail = (f"McNemar exact test on {len(y_true)} paired rows: head alone right on {head_only}, base alone "
              f"right on {base_only}, p = {p_value:.3g} ({'within noise' if within else 'beyond noise'} at "
              f"alpha = {alpha:g})")
    return NoiseVerdict("mcnemar", within, detail, p_value=p_value)


def bootstrap_interval(
    statistic: Callable[[Array], float], rows: int, resamples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile interval of statistic(indices) over bootstrap resamples of row indices."""
    rng = np.random.default_rng(seed)
    values = np.array([statistic(rng.integers(0, rows, rows)) for _ in range(resamples)])
    values = values[~np.isnan(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_verdict(
    statistic: Callable[[Array], float], rows: int, difference: float, resamples: int = 1000,
    confidence: float = 0.95,
) -> NoiseVerdict:
    low, high = bootstrap_interval(statistic, rows, resamples, confidence)
    half_width = (high - low) / 2
    within = bool(abs(difference) <= half_width)
    detail = (f"{confidence:.0%} bootstrap interval over {rows} holdout rows is ±{half_width:.3g}; the difference "
              f"{difference:+.3g} is {'within noise' if within else 'beyond noise'}")
    return NoiseVerdict("bootstrap", within, detail, half_width=half_width)


def paired_bootstrap_verdict(
    difference_of: Callable[[Array], float], rows: int, difference: float, resamples: int = 1000,
    confidence: float = 0.95,
) -> NoiseVerdict:
    """``difference_of(indices)`` is head's metric minus base's on the same resampled rows: within noise
    only when the interval of that difference includes zero."""
    low, high = bootstrap_interval(difference_of, rows, resamples, confidence)
    within = bool(low <= 0 <= high) if not np.isnan(low) else False
    detail = (f"paired {confidence:.0%} bootstrap interval of head - base over {rows} holdout rows is "
              f"[{low:+.3g}, {high:+.3g}]; the difference {difference:+.3g} is "
              f"{'within noise (the interval includes 0)' if within else 'beyond noise (the interval excludes 0)'}")
    return NoiseVerdict("paired bootstrap", within, detail, interval=(low, high))
