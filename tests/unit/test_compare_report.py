from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlcd.compare.noise import bootstrap_interval, mcnemar_exact, mcnemar_verdict
from mlcd.compare.run import Comparison
from mlcd.compare.snapshot import Snapshot, changed_data, changed_params, flatten
from mlcd.evaluation.gates import GateResult
from mlcd.report.markdown import COMMENT_LIMIT, IMPORTANCE_ROWS, delta_cell, importance_rows, importance_section, render

scores = st.floats(min_value=0, max_value=1, allow_nan=False)


@given(head=scores, other=scores)
def test_delta_colour_follows_the_direction(head: float, other: float) -> None:
    higher, lower = delta_cell(head, other, "higher"), delta_cell(head, other, "lower")
    if abs(head - other) < 5e-5:
        assert higher == lower == "= 0"
    else:
        assert {higher[0], lower[0]} == {"🟢", "🔴"}


def test_mcnemar_identical_predictions_are_noise() -> None:
    y = np.array(["a", "b"] * 20)
    verdict = mcnemar_verdict(y, y.copy(), y.copy())
    assert verdict.within_noise and verdict.p_value == 1.0


def test_mcnemar_counts_discordant_pairs_and_detects_a_real_difference() -> None:
    head = np.array([True] * 60 + [False] * 5)
    base = np.array([False] * 30 + [True] * 35)
    head_only, base_only, p = mcnemar_exact(head, base)
    assert (head_only, base_only) == (30, 5)
    assert p < 0.001


def test_bootstrap_interval_brackets_the_statistic() -> None:
    correct = np.array([1.0] * 80 + [0.0] * 20)
    low, high = bootstrap_interval(lambda idx: float(correct[idx].mean()), len(correct), resamples=500)
    assert low < 0.8 < high
    assert 0.05 < (high - low) / 2 < 0.12  # about 1.96 * sqrt(.8 * .2 / 100) = 0.078


def test_changed_params_and_data() -> None:
    base = {"train": {"C": 1.0, "seed": 1}, "old": 3}
    head = {"train": {"C": 0.5, "seed": 1}, "new": True}
    assert changed_params(head, base) == {"new": (None, True), "old": (3, None), "train.C": (1.0, 0.5)}
    assert flatten({"a": {"b": {"c": 1}}}) == {"a.b.c": 1}
    assert changed_data({"x": "1", "y": "2"}, {"x": "1", "y": "3"}) == {"y": ("3", "2")}


def comparison(gates: int = 3, failing: int = 1, groups: int = 3) -> Comparison:
    slices = {"g": {f"group-{i}": {"n": 10, "accuracy": 0.9} for i in range(groups)}}
    head = Snapshot("head", None, {"accuracy": 0.9, "log_loss": 0.3, "n_holdout": 50, "slices": slices,
                                   "slice_gaps": {"g": {"accuracy": {"gap": 0.0, "highest": "a", "lowest": "b"}}}})
    base = Snapshot("base", "a" * 40, {"accuracy": 0.95, "log_loss": 0.2}, {"C": 1}, {"data.csv": "1"})
    results = [GateResult(f"gate {i}", "threshold", "fail" if i < failing else "pass", f"reason {i}", "accuracy")
               for i in range(gates)]
    return Comparison(head, base, None, results, {"accuracy": "higher", "log_loss": "lower"},
                      history=[("abc1234", {"accuracy": 0.93}), ("def5678", {"accuracy": 0.95})])


def test_report_has_headline_tables_chart_and_links() -> None:
    text = render(comparison(), "demo", {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "o/r",
                                         "GITHUB_RUN_ID": "42"})
    assert text.startswith("## ❌ mlcd: 1 of 3 gates failed")
    assert "> ❌ **gate 0**: reason 0" in text
    assert "| accuracy ↑ | 0.9000 | 0.9500 | 🔴 ▼ -0.0500 | — | — |" in text
    assert "| log_loss ↓ | 0.3000 | 0.2000 | 🔴 ▲ +0.1000 | — | — |" in text
    assert "```mermaid\nxychart-beta" in text and 'x-axis ["abc1234", "def5678", "head"]' in text
    assert "[Workflow run](https://github.com/o/r/actions/runs/42)" in text


def test_passing_report_headline() -> None:
    assert render(comparison(failing=0), "demo", {}).startswith("## ✅ mlcd: all 3 gates passed")


def test_the_headline_counts_gates_without_a_baseline_apart() -> None:
    from dataclasses import replace

    passing = comparison(gates=3, failing=0)
    passing.gates[2] = replace(passing.gates[2], verdict="no_baseline")
    assert render(passing, "demo", {}).startswith(
        "## ✅ mlcd: 2 of 3 gates passed, 1 not applicable (no baseline)\n")
    failing = comparison(gates=4, failing=1)
    failing.gates[3] = replace(failing.gates[3], verdict="no_baseline")
    assert render(failing, "demo", {}).startswith(
        "## ❌ mlcd: 1 of 4 gates failed, 2 passed, 1 not applicable (no baseline)\n")


@given(gates=st.integers(0, 3000), groups=st.integers(0, 3000))
def test_report_always_fits_in_a_comment(gates: int, groups: int) -> None:
    text = render(comparison(gates=gates, failing=min(gates, 5), groups=groups), "demo", {})
    assert len(text) <= COMMENT_LIMIT - 1024
    assert text.startswith("## ")


def test_huge_report_is_cut_with_a_note() -> None:
    text = render(comparison(gates=4000, failing=4000), "demo", {})
    assert "left out to stay under GitHub's comment size limit" in text


def test_comparison_round_trips_through_json() -> None:
    original = comparison()
    again = Comparison.from_json(original.to_json())
    assert again.to_json() == original.to_json()


def importance(**means: float) -> dict[str, dict[str, float]]:
    return {feature: {"mean": mean, "std": 0.01} for feature, mean in means.items()}


def test_importance_rows_put_the_largest_changes_first() -> None:
    head = importance(bill=0.30, flipper=0.05, island=0.02, sex=0.0)
    base = importance(bill=0.10, flipper=0.25, island=0.02, mass=0.04)
    rows = importance_rows(head, base, limit=4)
    assert [row[0] for row in rows] == ["flipper", "bill", "island", "mass"]
    assert rows[0][1:] == (0.25, 0.05, pytest.approx(-0.20))
    assert rows[3] == ("mass", 0.04, None, None)  # only one model knows it: no change to rank by, last
    alone = importance_rows(head, None, limit=2)
    assert [row[0] for row in alone] == ["bill", "flipper"] and alone[0][1] is None


def test_importance_section_is_a_table_of_changes() -> None:
    section = "\n".join(importance_section({
        "scoring": "accuracy", "repeats": 5, "seed": 0, "rows": 69, "note": "",
        "head": importance(bill=0.30, flipper=0.05), "base": importance(bill=0.10, flipper=0.05)}))
    assert section.startswith("### What the model relies on\n\nDrop in accuracy when one feature's values are "
                              "shuffled on the holdout (69 rows, 5 repeats, seed 0)")
    assert "| `bill` | 0.1000 | 0.3000 | ▲ +0.2000 |" in section
    assert "| `flipper` | 0.0500 | 0.0500 | = 0 |" in section
    assert section.index("`bill`") < section.index("`flipper`")


def test_importance_section_without_a_base_says_why() -> None:
    section = "\n".join(importance_section({
        "scoring": "r2", "repeats": 3, "seed": 0, "rows": 10, "note": "no base to compare with",
        "head": importance(**{f"f{i}": i / 100 for i in range(12)}), "base": None}))
    assert "the head's alone (no base to compare with)" in section and "| `f11` | 0.1100 |" in section
    assert "2 more feature(s) in comparison.json." in section
    assert importance_section(None) == []
    assert importance_section({"head": None, "base": None, "note": "not measured: boom"}) == [
        "### What the model relies on", "", "Permutation importance not measured: boom.", ""]


def test_many_features_keep_the_report_in_a_comment() -> None:
    many = importance(**{f"feature_{i:04d}": i / 10_000 for i in range(5000)})
    comparison = Comparison(head=Snapshot("head", None, {"accuracy": 0.9}), base=None, production=None, gates=[],
                            directions={"accuracy": "higher"},
                            importance={"scoring": "accuracy", "repeats": 5, "seed": 0, "rows": 100, "note": "",
                                        "head": many, "base": many})
    report = render(comparison, "m", {})
    assert len(report) <= COMMENT_LIMIT and report.count("| `feature_") == IMPORTANCE_ROWS
    assert Comparison.from_json(comparison.to_json()).importance == comparison.importance
