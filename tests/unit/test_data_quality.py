from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlcd.config import ColumnSpec, Config, Contract
from mlcd.config.model import QualityConfig
from mlcd.data.leakage import label_leakage_check, overlap_check, relabelling, row_hashes
from mlcd.data.quality import (
    check_names,
    duplicates_check,
    label_balance_check,
    null_rate_check,
    quality_checks,
    row_count_check,
    slice_check,
)

CONTRACT = Contract(
    label="y",
    columns=(
        ColumnSpec("y", "category", allowed=("a", "b", "c")),
        ColumnSpec("g", "category", nullable=True, allowed=("u", "v")),
        ColumnSpec("x", "float", nullable=True),
        ColumnSpec("k", "int"),
    ),
)


def frame(rows: int = 100, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "y": rng.choice(["a", "b", "c"], rows),
        "g": rng.choice(["u", "v"], rows),
        "x": rng.normal(size=rows),
        "k": np.arange(rows),
    })


@pytest.fixture
def penguins(penguins_csv):  # type: ignore[no-untyped-def]
    return pd.read_csv(penguins_csv)


def test_every_quality_check_passes_on_the_real_penguins(penguins: pd.DataFrame, template_config: Config) -> None:
    checks = quality_checks(penguins, template_config)
    assert [c.name for c in checks] == check_names(template_config) == [
        "null_rate", "duplicates", "row_count", "label_balance", "slice:sex", "slice:island"]
    assert {c.status for c in checks} == {"passed"}
    assert checks[0].message == "largest null rate 3.2% ('sex'), max 5.0%"


def test_null_rate_uses_the_per_column_limit_first() -> None:
    data = frame()
    data.loc[:19, "x"] = np.nan  # 20%
    default = null_rate_check(data, CONTRACT, QualityConfig(max_null_rate=0.05))
    assert default.status == "failed"
    assert default.message == "column 'x': 20.0% missing (20 of 100 rows), max 5.0%"
    relaxed = null_rate_check(data, CONTRACT, QualityConfig(max_null_rate=0.05, max_null_rate_per_column={"x": 0.25}))
    assert relaxed.status == "passed"


def test_null_rate_lists_every_column_over_its_limit() -> None:
    data = frame()
    data.loc[:9, ["x", "g"]] = np.nan
    check = null_rate_check(data, CONTRACT, QualityConfig(max_null_rate=0.05))
    assert check.status == "failed" and len(check.details) == 2
    assert check.message.startswith("2 problems: ")


def test_null_rate_ignores_columns_that_may_not_be_null_at_all() -> None:
    data = frame()
    data.loc[:50, "k"] = np.nan  # the contract's nulls rule reports this one
    assert null_rate_check(data, CONTRACT, QualityConfig()).status == "passed"


def test_duplicate_rate() -> None:
    data = pd.concat([frame(), frame().head(3)], ignore_index=True)
    strict = duplicates_check(data, QualityConfig(max_duplicate_rate=0.0))
    assert strict.status == "failed"
    assert strict.message == "3 duplicate rows (2.9%), max 0.0% (e.g. at index 100, 101, 102)"
    assert duplicates_check(data, QualityConfig(max_duplicate_rate=0.05)).status == "passed"


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0.0, -0.0, 1.5, float("nan")]), st.sampled_from(["p", "q", None]),
                          st.booleans()), min_size=1, max_size=40))
def test_duplicates_agree_with_pandas(rows: list[tuple[float, str | None, bool]]) -> None:
    data = pd.DataFrame(rows, columns=["x", "s", "b"])
    expected = int(data.duplicated().sum())
    check = duplicates_check(data, QualityConfig(max_duplicate_rate=1.0))
    assert check.message.startswith(f"{expected} duplicate row")


def test_row_count_bounds() -> None:
    assert row_count_check(frame(10), QualityConfig(min_rows=11)).message == (
        "10 rows, fewer than quality.min_rows (11)")
    assert row_count_check(frame(10), QualityConfig(max_rows=9)).status == "failed"
    assert row_count_check(frame(10), QualityConfig(min_rows=10, max_rows=10)).status == "passed"


def test_label_balance_counts_classes_that_never_occur() -> None:
    data = frame()
    data["y"] = np.where(data["y"] == "c", "a", data["y"])
    check = label_balance_check(data, CONTRACT, QualityConfig(min_class_fraction=0.1))
    assert check.status == "failed"
    assert check.message == "class 'c': 0.0% of labelled rows (0), min 10.0%"


def test_label_balance_is_only_for_classification(template_config: Config) -> None:
    regression = replace(template_config, evaluate=replace(template_config.evaluate, task="regression"))
    assert "label_balance" not in check_names(regression)


def test_slices_need_enough_rows_per_group() -> None:
    data = frame()
    data.loc[:95, "g"] = "u"
    data.loc[96:, "g"] = "v"
    check = slice_check(data, CONTRACT, "g", QualityConfig(min_rows_per_slice=5))
    assert check.name == "slice:g" and check.status == "failed"
    assert check.message == "'g' = 'v': 4 rows, min 5"
    data.loc[:, "g"] = "u"
    assert slice_check(data, CONTRACT, "g", QualityConfig(min_rows_per_slice=5)).message == "'g' = 'v': 0 rows, min 5"


def test_checks_on_a_missing_column_are_skipped_not_failed() -> None:
    data = frame().drop(columns=["y", "g"])
    assert label_balance_check(data, CONTRACT, QualityConfig(min_class_fraction=0.1)).status == "skipped"
    assert slice_check(data, CONTRACT, "g", QualityConfig()).status == "skipped"
    assert label_leakage_check(data, CONTRACT).status == "skipped"


# --- leakage -----------------------------------------------------------------------------------------


def test_overlap_finds_shared_rows_whatever_dtype_each_split_was_read_with() -> None:
    train = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", None]})
    test = pd.DataFrame({"a": [3.0, 4.0, np.nan], "b": [None, "y", "z"]})
    check = overlap_check(train, test)
    assert check.status == "failed"
    assert check.message == "1 of 3 test rows (33.3%) also appear in the training split (e.g. test index 0)"
    assert overlap_check(train, test.iloc[1:]).status == "passed"


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["p", "q", None])), min_size=1, max_size=30))
def test_row_hashes_are_equal_exactly_for_equal_rows(rows: list[tuple[int, str | None]]) -> None:
    data = pd.DataFrame(rows, columns=["n", "s"])
    hashes = row_hashes(data, ["n", "s"])
    as_float = row_hashes(data.astype({"n": "float64"}), ["n", "s"])
    assert (hashes == as_float).all()
    equal = [[rows[i] == rows[j] for j in range(len(rows))] for i in range(len(rows))]
    assert [[hashes[i] == hashes[j] for j in range(len(rows))] for i in range(len(rows))] == equal


def test_a_feature_that_renames_the_label_is_leakage() -> None:
    data = frame()
    data["g"] = data["y"].map({"a": "u", "b": "v", "c": "w"})
    check = label_leakage_check(data, CONTRACT)
    assert check.status == "failed"
    (detail,) = check.details
    assert detail.startswith("feature 'g' is the label 'y' renamed one-to-one (")
    assert set(detail[detail.index("(") + 1:-1].split(", ")) == {"'a' → 'u'", "'b' → 'v'", "'c' → 'w'"}
    data["g"] = data["y"]
    assert label_leakage_check(data, CONTRACT).details == ("feature 'g' is a copy of the label 'y'",)


def test_a_feature_that_only_predicts_the_label_is_not_a_relabelling() -> None:
    label = pd.Series(["a", "a", "b", "b", "c", "c"])
    assert relabelling(pd.Series([1, 2, 3, 3, 4, 4]), label) is None  # two values for 'a'
    assert relabelling(pd.Series([1, 1, 1, 1, 2, 2]), label) is None  # 'a' and 'b' share a value
    assert relabelling(pd.Series([1, 1, 2, 2, 3, 3]), label) == {"a": 1, "b": 2, "c": 3}
    assert relabelling(pd.Series([1, 2, 3]), pd.Series(["a", "b", "c"])) is None  # no label value repeats
    assert relabelling(pd.Series([1, 1]), pd.Series(["a", "a"])) is None  # a single class


def test_relabelling_in_large_data_is_decided_on_every_row() -> None:
    label = pd.Series(np.tile(["a", "b"], 20_000))
    renamed = label.map({"a": "x", "b": "y"})
    assert relabelling(renamed, label) == {"a": "x", "b": "y"}
    broken_late = renamed.copy()
    broken_late.iloc[-1] = "x"  # the first rows agree; the last one does not
    assert relabelling(broken_late, label) is None


def test_clean_penguins_have_no_leaking_feature(penguins: pd.DataFrame, template_config: Config) -> None:
    check = label_leakage_check(penguins, template_config.contract)
    assert check.status == "passed", check.message
