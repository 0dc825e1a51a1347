"""Prediction churn (mlcd.monitoring.shadow), the churn gate, and `mlcd shadow` over a real prediction log
and a real model file."""

from __future__ import annotations

import io
import json
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlcd.cli import main
from mlcd.evaluation.gates import churn_gate
from mlcd.monitoring.shadow import canonical_labels, label_churn, slice_churn, value_churn
from testing.shadow import CONFIG, make_logged_project, save_threshold_model

labels = st.lists(st.sampled_from(["a", "b", "c"]), min_size=0, max_size=60)


@given(old=labels, data=st.data())
def test_flip_rate_is_the_share_of_changed_labels_and_the_confusion_counts_every_row(old: list[str],
                                                                                     data: st.DataObject) -> None:
    new = data.draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=len(old), max_size=len(old)))
    found = label_churn(old, new)
    flips = sum(a != b for a, b in zip(old, new, strict=True))
    assert found.rows == len(old) and found.changed == flips
    assert found.rate == (flips / len(old) if old else None)
    assert sum(n for row in found.confusion.values() for n in row.values()) == len(old)
    assert sum(found.confusion.get(x, {}).get(x, 0) for x in "abc") == len(old) - flips


@given(old=labels)
def test_a_model_that_answers_the_same_never_churns(old: list[str]) -> None:
    assert label_churn(old, list(old)).changed == 0
    assert value_churn(np.arange(len(old), dtype=float), np.arange(len(old), dtype=float)).changed == 0


def test_labels_compare_across_how_they_were_stored() -> None:
    # the JSON log holds numbers as floats, models answer ints; missing values are their own label
    assert canonical_labels([1.0, 2, np.int64(3), 0.5, None, float("nan"), "x"]).tolist() == \
        ["1", "2", "3", "0.5", "(missing)", "(missing)", "x"]
    assert canonical_labels(np.array([True, False])).tolist() == ["true", "false"]
    assert label_churn(np.array([0.0, 1.0, 1.0]), np.array([0, 1, 0])).changed == 1


def test_confusion_names_old_and_new_labels() -> None:
    found = label_churn(["a", "a", "b", "b", "b"], ["a", "b", "b", "a", "a"])
    assert found.confusion == {"a": {"a": 1, "b": 1}, "b": {"a": 2, "b": 1}}
    assert found.rate == pytest.approx(0.6)


@given(diffs=st.lists(st.floats(-100, 100, allow_nan=False), min_size=1, max_size=80),
       tolerance=st.floats(0, 50, allow_nan=False))
def test_regression_churn_counts_moves_beyond_the_tolerance(diffs: list[float], tolerance: float) -> None:
    old = np.linspace(0, 1, len(diffs))
    new = old + np.array(diffs)
    found = value_churn(old, new, tolerance)
    assert found.changed == int(np.sum(np.abs(new - old) > tolerance))
    assert found.differences["p1"] <= found.differences["p50"] <= found.differences["p99"]
    assert found.differences["max_abs"] == pytest.approx(np.max(np.abs(new - old)))


def test_regression_differences_are_candidate_minus_production() -> None:
    found = value_churn([1.0, 2.0, 3.0, np.nan], [1.5, 2.0, 1.0, 4.0], tolerance=0.1)
    assert found.changed == 3  # +0.5, -2.0, and a value that appeared
    assert found.differences["mean"] == pytest.approx((0.5 + 0.0 - 2.0) / 3)
    assert found.differences["p50"] == pytest.approx(0.0)
    assert value_churn([], []).rate is None and value_churn([], []).differences == {}


def test_churn_per_slice_splits_rows_by_group() -> None:
    found = slice_churn({"sex": ["m", "f", "m", None]}, np.array(["a", "a", "b", "b"]),
                        np.array(["b", "a", "b", "a"]), "classification")
    assert {g: (c.rows, c.changed) for g, c in found["sex"].items()} == \
        {"(missing)": (1, 1), "f": (1, 0), "m": (2, 1)}


def test_churn_gate_passes_fails_and_has_no_baseline_without_rows() -> None:
    assert churn_gate(0.05, 5, 100, 0.05).verdict == "pass"
    failed = churn_gate(0.06, 6, 100, 0.05)
    assert failed.verdict == "fail" and failed.kind == "prediction_churn"
    assert failed.reason == "6 of 100 logged rows (6.00%) change prediction, more than the allowed 5.00%"
    assert churn_gate(None, 0, 0, 0.05).verdict == "no_baseline"


# --- mlcd shadow over a real log and model file ---------------------------------------------------------

@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_logged_project(tmp_path)


def shadow(project: Path, *args: str) -> int:
    return main(["shadow", "--config", str(project / "mlcd.yaml"), "--json", str(project / "out" / "shadow.json"),
                 "--markdown", str(project / "out" / "shadow.md"), *args])


def result(project: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((project / "out" / "shadow.json").read_text(encoding="utf-8"))
    return loaded


def logged(project: Path) -> pd.DataFrame:
    return pd.concat(pd.read_json(p, lines=True) for p in sorted((project / "logs").iterdir()))


def test_shadow_reports_the_true_flip_rate_per_slice_and_the_gate_fails_above_its_limit(
        project: Path, terminal: io.StringIO) -> None:
    save_threshold_model(project / "models" / "model.skops", 1.0)  # production answered x > 0
    rows = logged(project)
    flipped = (rows["x"] > 0) & (rows["x"] <= 1.0)  # direct: where the boundary moved
    assert shadow(project) == 0  # no gate configured: reported, not gated
    found = result(project)
    assert found["churn"]["rows"] == 1000 and found["churn"]["changed"] == pytest.approx(flipped.sum(), abs=2)
    assert set(found["churn"]["confusion"]) == {"no", "yes"} and found["churn"]["confusion"]["no"] == \
        {"no": int((rows["x"] <= 0).sum())}
    for plan in ("basic", "pro"):
        in_plan = rows["plan"] == plan
        assert found["slices"]["plan"][plan]["rows"] == in_plan.sum()
        assert found["slices"]["plan"][plan]["changed"] == pytest.approx((flipped & in_plan).sum(), abs=2)
    assert found["gate"] is None and found["production_versions"] == {"prod1": 1000}
    rate = found["churn"]["rate"]
    config = project / "mlcd.yaml"
    config.write_text(config.read_text() + f"gates: {{max_prediction_churn: {rate / 2:.4f}}}\n")
    assert shadow(project) == 3
    assert result(project)["gate"]["verdict"] == "fail" and not result(project)["passed"]
    assert "prediction churn gate failed" in terminal.getvalue()
    markdown = (project / "out" / "shadow.md").read_text(encoding="utf-8")
    assert markdown.startswith("### Shadow replay") and "| production \\ candidate | no | yes |" in markdown
    config.write_text(config.read_text().replace(f"{rate / 2:.4f}", f"{min(rate * 2, 1):.4f}"))
    assert shadow(project) == 0 and result(project)["gate"]["verdict"] == "pass"


def test_sample_and_last_replay_fewer_rows(project: Path, terminal: io.StringIO) -> None:
    save_threshold_model(project / "models" / "model.skops", 0.0)
    assert shadow(project, "--sample", "100") == 0
    assert result(project)["churn"]["rows"] == 100 and result(project)["rows_in_window"] == 1000
    assert shadow(project, "--last", "10") == 0 and result(project)["churn"]["rows"] == 10


def test_no_logs_configured(tmp_path: Path, terminal: io.StringIO) -> None:
    (tmp_path / "mlcd.yaml").write_text(textwrap.dedent(CONFIG).replace("monitoring: {logs: logs}\n", ""))
    assert shadow(tmp_path, "--if-configured") == 0
    assert "no prediction logs to replay" in terminal.getvalue()
    assert shadow(tmp_path) == 2
