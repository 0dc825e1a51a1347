from __future__ import annotations

import string
from dataclasses import replace

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pandera.errors import SchemaErrors

from mlcd.config import ColumnSpec, Config, Contract
from mlcd.config.model import DataConfig
from mlcd.data.contract import build_schema, contract_checks, dtype_problem, rules, validate_contract
from mlcd.data.io import parse_table


def messages(frame: pd.DataFrame, contract: Contract, rule: str) -> list[str]:
    return [f.message for f in validate_contract(frame, contract) if f.rule == rule]


def one(name: str, **spec: object) -> Contract:
    return Contract(label=name, columns=(ColumnSpec(name, **spec),))  # type: ignore[arg-type]


@pytest.fixture
def penguins(penguins_csv):  # type: ignore[no-untyped-def]
    return pd.read_csv(penguins_csv)


def test_the_real_penguins_keep_the_template_contract(penguins: pd.DataFrame, template_config: Config) -> None:
    assert validate_contract(penguins, template_config.contract) == []
    checks = contract_checks(penguins, template_config.contract)
    assert [c.name for c in checks] == ["columns", "dtypes", "nulls", "ranges", "categories"]
    assert all(c.status == "passed" for c in checks)


def test_every_failure_is_collected_in_one_pass(penguins: pd.DataFrame, template_config: Config) -> None:
    broken = penguins.drop(columns=["island"]).assign(extra=1)
    broken.loc[[3, 4, 9], "bill_length_mm"] = [120.0, 130.5, 120.0]
    broken.loc[5, "sex"] = "x"
    broken.loc[7, "species"] = None
    broken["year"] = broken["year"] + 0.5
    found = {(f.rule, f.message) for f in validate_contract(broken, template_config.contract)}
    assert found == {
        ("columns", "column 'island' is missing"),
        ("columns", "unexpected column 'extra' (contract.strict is true: declare it under contract.columns "
                    "or set contract.strict: false)"),
        ("ranges", "column 'bill_length_mm': 3 values above max 70 (e.g. 120.0, 130.5)"),
        ("categories", "column 'sex': 1 value not among the allowed 'female', 'male' (e.g. 'x')"),
        ("nulls", "column 'species': 1 missing value but nullable is false (e.g. at index 7)"),
        ("dtypes", "column 'year': expected int, found float64 with values that are not whole numbers "
                   "(e.g. 2007.5, 2008.5, 2009.5)"),
    }
    columns_rule = [f.message for f in validate_contract(broken, template_config.contract) if f.rule == "columns"]
    assert columns_rule[0] == "column 'island' is missing"  # missing columns first
    statuses = {c.name: c.status for c in contract_checks(broken, template_config.contract)}
    assert statuses == dict.fromkeys(["columns", "dtypes", "nulls", "ranges", "categories"], "failed")


def test_min_is_reported_with_examples() -> None:
    frame = pd.DataFrame({"x": [5.0, -1.0, -2.5, -1.0, np.nan]})
    assert messages(frame, one("x", dtype="float", nullable=True, min=0), "ranges") == [
        "column 'x': 3 values below min 0 (e.g. -1.0, -2.5)"]


def test_missing_values_are_not_range_failures() -> None:
    frame = pd.DataFrame({"x": [1.0, np.nan]})
    assert validate_contract(frame, one("x", dtype="float", nullable=True, min=0, max=2)) == []


def test_int_accepts_whole_floats_and_nullable_ints_but_not_fractions() -> None:
    spec = ColumnSpec("n", "int", nullable=True)
    assert dtype_problem(pd.Series([1.0, np.nan, 3.0]), spec) is None
    assert dtype_problem(pd.Series([1, None, 3], dtype="Int64"), spec) is None
    assert dtype_problem(pd.Series([1.5, 2.0]), spec) == (
        "expected int, found float64 with values that are not whole numbers (e.g. 1.5)")
    assert dtype_problem(pd.Series([1.0, np.inf]), spec) is not None
    assert dtype_problem(pd.Series([True, False]), spec) == "expected int, found bool"


def test_numbers_that_arrive_as_text_name_the_offending_values() -> None:
    frame = pd.DataFrame({"mass": ["3750", "3800 g", "heavy"]})
    assert messages(frame, one("mass", dtype="float"), "dtypes") == [
        "column 'mass': expected float, found str with values that are not numbers (e.g. '3800 g', 'heavy')"]


def test_text_dtypes_accept_pandas_string_object_and_category() -> None:
    for dtype in ("string", "category"):
        spec = ColumnSpec("c", dtype)  # type: ignore[arg-type]
        assert dtype_problem(pd.Series(["a", "b"], dtype="str"), spec) is None
        assert dtype_problem(pd.Series(["a", "b"], dtype=object), spec) is None
        assert dtype_problem(pd.Series(["a", "b"], dtype="category"), spec) is None
        assert dtype_problem(pd.Series([1.5, 2.5]), spec) is not None


def test_category_takes_numeric_codes_only_when_allowed_lists_numbers() -> None:
    assert dtype_problem(pd.Series([1, 2, 3]), ColumnSpec("k", "category", allowed=(1, 2, 3))) is None
    assert dtype_problem(pd.Series([1, 2, 3]), ColumnSpec("k", "category", allowed=("a",))) == (
        "expected category (text), found int64")


def test_bool_and_datetime() -> None:
    flag = ColumnSpec("f", "bool", nullable=True)
    assert dtype_problem(pd.Series([True, None, False], dtype=object), flag) is None
    assert dtype_problem(pd.Series(["yes", "no"]), flag) == "expected bool, found str"
    when = ColumnSpec("t", "datetime")
    assert dtype_problem(pd.Series(pd.to_datetime(["2024-01-01"])), when) is None
    assert dtype_problem(pd.Series(["2024-01-01", "2024-02-30T10:00"]), when) == (
        "expected datetime, found text that is not an ISO 8601 date (e.g. '2024-02-30T10:00')")


def test_a_column_without_values_has_no_wrong_dtype() -> None:
    # pandas reads an all-missing column as float64 whatever it should hold
    assert dtype_problem(pd.Series([np.nan, np.nan]), ColumnSpec("s", "string", nullable=True)) is None


def test_unique_key_of_several_columns() -> None:
    contract = Contract(label="a", columns=(ColumnSpec("a", "int"), ColumnSpec("b", "string")), unique=("a", "b"))
    frame = pd.DataFrame({"a": [1, 1, 1, 2], "b": ["x", "x", "y", "x"]})
    assert messages(frame, contract, "unique") == ["a, b: 2 rows share a key with another row (e.g. (1, 'x'))"]
    assert rules(contract)[-1] == "unique"
    assert validate_contract(frame.drop_duplicates(), contract) == []


def test_a_missing_key_column_is_reported_once_as_missing() -> None:
    contract = Contract(label="a", columns=(ColumnSpec("a", "int"), ColumnSpec("b", "string")), unique=("a", "b"))
    frame = pd.DataFrame({"a": [1, 1]})
    assert [(f.rule, f.message) for f in validate_contract(frame, contract)] == [
        ("columns", "column 'b' is missing")]


def test_strict_false_allows_other_columns(template_config: Config) -> None:
    contract = replace(template_config.contract, strict=False)
    frame = pd.DataFrame({c.name: pd.Series(dtype="float64") for c in contract.columns}).assign(extra=1)
    assert messages(frame, contract, "columns") == []
    assert contract_checks(frame, contract)[0].message == "all 8 contract columns present"


def test_the_schema_is_plain_pandera(template_config: Config, penguins: pd.DataFrame) -> None:
    schema = build_schema(template_config.contract)
    assert isinstance(schema, pa.DataFrameSchema)
    schema.validate(penguins)
    with pytest.raises(SchemaErrors):
        schema.validate(penguins.assign(bill_depth_mm=100.0), lazy=True)


# --- property: data generated from a contract always keeps it -----------------------------------------

_NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,7}", fullmatch=True)
# Letters after an "x" cannot be read as a number, a boolean or a missing-value marker such as NA.
_WORDS = st.text(string.ascii_letters, min_size=0, max_size=6).map(lambda s: "x" + s)


@st.composite
def contracts(draw: st.DrawFn) -> Contract:
    names = draw(st.lists(_NAMES, min_size=1, max_size=6, unique=True))
    specs = []
    for name in names:
        dtype = draw(st.sampled_from(["int", "float", "string", "category", "bool", "datetime"]))
        low = high = None
        allowed: tuple[object, ...] | None = None
        if dtype in ("int", "float"):
            low = draw(st.none() | st.integers(-1000, 1000))
            high = draw(st.none() | st.integers(low if low is not None else -1000, 1000))
        if dtype == "category":
            allowed = tuple(draw(st.lists(_WORDS, min_size=1, max_size=5, unique=True)
                                 | st.lists(st.integers(0, 9), min_size=1, max_size=5, unique=True)))
        specs.append(ColumnSpec(name, dtype, nullable=draw(st.booleans()), min=low, max=high, allowed=allowed))
    unique: tuple[str, ...] = ()
    if draw(st.booleans()):
        specs.append(ColumnSpec("row_id", "int"))
        unique = ("row_id",)
    return Contract(label=specs[0].name, columns=tuple(specs), unique=unique,
                    strict=draw(st.booleans()))


def _values(spec: ColumnSpec) -> st.SearchStrategy[object]:
    if spec.dtype == "int":
        base: st.SearchStrategy[object] = st.integers(
            int(spec.min) if spec.min is not None else -10**6, int(spec.max) if spec.max is not None else 10**6)
    elif spec.dtype == "float":
        base = st.floats(spec.min if spec.min is not None else -1e6, spec.max if spec.max is not None else 1e6,
                         allow_nan=False).map(lambda x: round(x, 6))
    elif spec.dtype == "category":
        base = st.sampled_from(spec.allowed or ())
    elif spec.dtype == "string":
        base = _WORDS
    elif spec.dtype == "bool":
        base = st.booleans()
    else:
        base = st.dates().map(lambda d: d.isoformat())
    return st.none() | base if spec.nullable else base


@st.composite
def frames(draw: st.DrawFn, contract: Contract) -> pd.DataFrame:
    rows = draw(st.integers(0, 25))
    data = {}
    for spec in contract.columns:
        if spec.name == "row_id":
            data[spec.name] = pd.Series(range(rows), dtype="int64")
            continue
        values = draw(st.lists(_values(spec), min_size=rows, max_size=rows))
        has_null = any(v is None for v in values)
        if spec.dtype in ("string", "datetime") or (spec.dtype == "category" and isinstance(spec.allowed[0], str)):
            data[spec.name] = pd.Series(values, dtype="str")
        elif spec.dtype == "bool":
            data[spec.name] = pd.Series(values, dtype=object if has_null else bool)
        elif spec.dtype == "float" or has_null:
            data[spec.name] = pd.Series(values, dtype="float64")
        else:
            data[spec.name] = pd.Series(values, dtype="int64")
    return pd.DataFrame(data)


@st.composite
def contract_and_frame(draw: st.DrawFn) -> tuple[Contract, pd.DataFrame]:
    contract = draw(contracts())
    return contract, draw(frames(contract))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(contract_and_frame())
def test_valid_data_always_keeps_its_contract(case: tuple[Contract, pd.DataFrame]) -> None:
    contract, frame = case
    assert validate_contract(frame, contract) == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(contract_and_frame())
def test_valid_data_keeps_its_contract_after_a_csv_round_trip(case: tuple[Contract, pd.DataFrame]) -> None:
    contract, frame = case
    content = frame.to_csv(index=False).encode()
    read = parse_table(content, "data.csv", DataConfig(path="data.csv"))
    assert validate_contract(read, contract) == []


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(contract_and_frame(), st.data())
def test_one_value_above_max_is_found_and_named(case: tuple[Contract, pd.DataFrame], data: st.DataObject) -> None:
    contract, frame = case
    bounded = [c for c in contract.columns if c.max is not None]
    assume(bounded and len(frame) > 0)
    spec = data.draw(st.sampled_from(bounded))
    column = frame[spec.name].astype("float64")
    column.iloc[data.draw(st.integers(0, len(frame) - 1))] = spec.max + 1
    frame[spec.name] = column
    assert [(f.rule, f.message) for f in validate_contract(frame, contract)] == [
        ("ranges", f"column '{spec.name}': 1 value above max {spec.max} (e.g. {float(spec.max + 1)})")]
