"""The drift report: its size limit, its JSON, and the time buckets behind its chart."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlcd.config.model import DriftConfig
from mlcd.drift import ColumnTest, Kind, decide, psi
from mlcd.monitoring.drift import Bucket, DriftResult, Skew, analyse, time_buckets
from mlcd.monitoring.report import COMMENT_LIMIT, Context, markdown, to_json

T0 = datetime(2024, 5, 1, tzinfo=timezone.utc)


def synthetic(columns: int, name_length: int, findings: int) -> DriftResult:
    rng = np.random.default_rng(0)
    tests = [ColumnTest(f"feature_{i:05d}_" + "x" * name_length, "numeric" if i % 2 else "categorical", 5000, 10000,
                        statistic=float(rng.random()), pvalue=float(rng.random() ** 8), psi=float(rng.random()),
                        js=float(rng.random())) for i in range(columns)]
    decided = decide(tests, DriftConfig())
    buckets = tuple(Bucket(T0, T0, 10, {t.column: 0.1 for t in decided}) for _ in range(12))
    skew = Skew(5000, 300, 0.01, tuple(f"column 'c{i}': {'y' * 200}" for i in range(findings)))
    return DriftResult(5000, 10000, decided, None, skew, buckets, DriftConfig())


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2000), st.integers(0, 120), st.integers(0, 500))
def test_the_report_always_fits_a_github_comment(columns: int, name_length: int, findings: int) -> None:
    result = synthetic(columns, name_length, findings)
    text = markdown(result, Context(model="m", logs="logs", window="every logged row", reference="train.csv"))
    assert len(text) < COMMENT_LIMIT
    assert text.startswith("## ")
    assert columns == 0 or "### Features" in text


def test_json_has_no_nan_and_names_every_column() -> None:
    result = synthetic(30, 5, 3)
    document = to_json(result, Context(model="m", logs="logs", window="w", reference="r", first=T0, last=T0))
    text = json.dumps(document, allow_nan=False)
    loaded = json.loads(text)
    assert len(loaded["columns"]) == 30 and loaded["window"]["first"] == "2024-05-01T00:00:00Z"
    assert loaded["thresholds"]["correction"] == "holm" and loaded["skew"]["rate"] == pytest.approx(0.06)
    assert loaded["thresholds"]["max_violation_rate"] == 0.01


def test_one_bucket_has_the_whole_window_effect() -> None:
    rng = np.random.default_rng(1)
    reference = pd.DataFrame({"x": rng.normal(size=3000), "c": rng.choice(["a", "b", "c"], 3000)})
    window = pd.DataFrame({"ts": pd.date_range(T0, periods=2000, freq="min"), "x": rng.normal(0.3, 1, 2000),
                           "c": rng.choice(["a", "b", "d"], 2000)})
    kinds: dict[str, Kind] = {"x": "numeric", "c": "categorical"}
    result = analyse(reference, window, kinds, DriftConfig(), buckets=1)
    (bucket,) = result.buckets
    x, c = result.columns
    assert bucket.rows == 2000
    assert bucket.effects["x"] == pytest.approx(psi(reference["x"].to_numpy(), window["x"].to_numpy(), 10))
    assert bucket.effects["c"] == pytest.approx(c.js)
    assert x.psi == pytest.approx(bucket.effects["x"])


def test_buckets_split_the_window_evenly_in_time_and_find_when_a_shift_began() -> None:
    rng = np.random.default_rng(2)
    reference = pd.DataFrame({"x": rng.normal(size=5000)})
    values = rng.normal(size=6000)
    values[3000:] += 1.0
    window = pd.DataFrame({"ts": pd.date_range(T0, periods=6000, freq="min", tz="UTC"), "x": values})
    tests = decide([ColumnTest("x", "numeric", 6000, 5000, 0.1, 1e-9, psi=0.3)], DriftConfig())
    buckets = time_buckets(window, {"x": reference["x"]}, tests, DriftConfig(), 6)
    assert [b.rows for b in buckets] == [1000] * 6
    effects = [b.effects["x"] or 0.0 for b in buckets]
    assert max(effects[:3]) < 0.05 < 0.5 < min(effects[3:])
    assert buckets[0].start == T0 and buckets[-1].end == T0 + pd.Timedelta(minutes=5999)
