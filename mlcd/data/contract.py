"""The data contract as a pandera schema, and pandera's failure cases as findings people can read.

Every check is vectorised (one pass over a column, no Python per row), so validating a large frame
costs about what a hand-written pandera schema costs. Rules and their check names:

- ``columns``: every contract column is present; with ``strict``, no other column is.
- ``dtypes``: ``int`` is an integer column, or a float column whose values are all whole numbers (pandas
  reads an integer column with missing values as float); ``float`` is any numeric column; ``string`` and
  ``category`` are string, object or pandas category columns (``category`` also takes numbers or booleans
  when its ``allowed`` values are numbers or booleans); ``bool`` is a boolean column (or an object column
  of booleans and missing values); ``datetime`` is a datetime column or ISO 8601 text.
- ``nulls``: no missing values in columns that are not ``nullable``.
- ``ranges``: values within ``min`` and ``max`` (missing values are not checked; non-numeric columns
  are left to ``dtypes``).
- ``categories``: values among ``allowed``.
- ``unique``: the ``unique`` columns together identify a row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from mlcd.config.model import ColumnSpec, Contract
from mlcd.data import Check, fmt, plural, summary

__all__ = ["RULES", "Finding", "Rule", "build_schema", "contract_checks", "dtype_problem", "rules",
           "validate_contract"]

Rule = Literal["columns", "dtypes", "nulls", "ranges", "categories", "unique"]
RULES: tuple[Rule, ...] = ("columns", "dtypes", "nulls", "ranges", "categories", "unique")
_EXAMPLES = 3


@dataclass(frozen=True)
class Finding:
    rule: Rule
    column: str | None
    message: str


def rules(contract: Contract) -> tuple[Rule, ...]:
    """The rules a contract declares, in report order; ``ranges``, ``categories`` and ``unique`` are optional."""
    declared: set[Rule] = {"columns", "dtypes", "nulls"}
    if any(c.min is not None or c.max is not None for c in contract.columns):
        declared.add("ranges")
    if any(c.allowed is not None for c in contract.columns):
        declared.add("categories")
    if contract.unique:
        declared.add("unique")
    return tuple(r for r in RULES if r in declared)


def build_schema(contract: Contract) -> pa.DataFrameSchema:
    columns = {spec.name: pa.Column(None, checks=_column_checks(spec), nullable=spec.nullable, required=True)
               for spec in contract.columns}
    checks = [pa.Check(_unique_check(contract.unique), name="unique")] if contract.unique else []
    return pa.DataFrameSchema(columns, checks=checks, strict=contract.strict, name="contract")


def validate_contract(frame: pd.DataFrame, contract: Contract) -> list[Finding]:
    """Every way the frame breaks the contract; empty when it keeps it."""
    try:
        build_schema(contract).validate(frame, lazy=True, inplace=True)
    except SchemaErrors as exc:
        return summarise(exc.failure_cases, frame, contract)
    return []


def contract_checks(frame: pd.DataFrame, contract: Contract) -> list[Check]:
    findings = validate_contract(frame, contract)
    checks = []
    for rule in rules(contract):
        mine = [f.message for f in findings if f.rule == rule]
        if mine:
            checks.append(Check(rule, "schema", "failed", summary(mine), tuple(mine)))
        else:
            checks.append(Check(rule, "schema", "passed", _passed(rule, contract)))
    return checks


def _passed(rule: Rule, contract: Contract) -> str:
    if rule == "columns":
        return f"all {len(contract.columns)} contract columns present" + (", no others" if contract.strict else "")
    return {
        "dtypes": "every column has its contract dtype",
        "nulls": "no missing values in non-nullable columns",
        "ranges": "all values within min/max",
        "categories": "all values among the allowed ones",
        "unique": f"{', '.join(contract.unique)} identify every row",
    }[rule]


# --- checks -------------------------------------------------------------------------------------------


def _column_checks(spec: ColumnSpec) -> list[pa.Check]:
    checks = [pa.Check(lambda s: dtype_problem(s, spec) is None, name="dtype")]
    if spec.min is not None:
        checks.append(pa.Check(_bound(spec.min, at_least=True), name="min"))
    if spec.max is not None:
        checks.append(pa.Check(_bound(spec.max, at_least=False), name="max"))
    if spec.allowed is not None:
        checks.append(pa.Check(_allowed(spec.allowed), name="allowed"))
    return checks


def _bound(limit: float, *, at_least: bool) -> Any:
    def check(series: pd.Series) -> pd.Series | bool:
        if not _is_number(series.dtype):
            return True  # the dtype check reports it
        return series >= limit if at_least else series <= limit
    return check


def _allowed(values: tuple[Any, ...]) -> Any:
    allowed = list(values)

    def check(series: pd.Series) -> pd.Series:
        return series.isin(allowed)
    return check


def _unique_check(key: tuple[str, ...]) -> Any:
    def check(frame: pd.DataFrame) -> bool:
        if not set(key) <= set(frame.columns):
            return True  # the columns rule reports the missing column
        return not bool(frame.duplicated(subset=list(key)).any())
    return check


def _is_number(dtype: Any) -> bool:
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def _is_text(dtype: Any) -> bool:
    return isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(dtype)


def dtype_problem(series: pd.Series, spec: ColumnSpec) -> str | None:
    """Why the column does not have the contract's dtype, or None when it does.

    A column without values keeps every dtype: pandas reads an all-missing column as float64, and the
    columns of a header-only file as object, whatever they should hold.
    """
    problem = _dtype_problem(series, spec)
    if problem is not None and not series.notna().any():
        return None
    return problem


def _dtype_problem(series: pd.Series, spec: ColumnSpec) -> str | None:
    dtype = series.dtype
    found = f"found {dtype}"
    if spec.dtype == "int":
        if pd.api.types.is_integer_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
            return None
        if pd.api.types.is_float_dtype(dtype):
            values = series.to_numpy(dtype="float64", na_value=np.nan)
            present = values[~np.isnan(values)]
            fractional = present[~np.isfinite(present) | (present != np.trunc(present))]
            if fractional.size == 0:
                return None
            return f"expected int, {found} with values that are not whole numbers (e.g. {_examples(fractional)})"
        return f"expected int, {found}{_non_numeric_examples(series)}"
    if spec.dtype == "float":
        return None if _is_number(dtype) else f"expected float, {found}{_non_numeric_examples(series)}"
    if spec.dtype == "string":
        return None if _is_text(dtype) else f"expected string, {found}"
    if spec.dtype == "category":
        if _is_text(dtype):
            return None
        codes = spec.allowed is not None and not any(isinstance(v, str) for v in spec.allowed)
        if codes and (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
            return None
        return f"expected category (text), {found}"
    if spec.dtype == "bool":
        if pd.api.types.is_bool_dtype(dtype):
            return None
        booleans = pd.api.types.is_object_dtype(dtype) and pd.api.types.infer_dtype(series, skipna=True) == "boolean"
        return None if booleans else f"expected bool, {found}"
    # datetime
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return None
    if _is_text(dtype):
        present = series.dropna()
        parsed = pd.to_datetime(present.astype(str), errors="coerce", format="ISO8601")
        bad = present[parsed.isna().to_numpy()]
        if bad.empty:
            return None
        return f"expected datetime, found text that is not an ISO 8601 date (e.g. {_examples(bad)})"
    return f"expected datetime, {found}"


def _non_numeric_examples(series: pd.Series) -> str:
    if not _is_text(series.dtype):
        return ""
    present = series.dropna()
    bad = present[pd.to_numeric(present, errors="coerce").isna().to_numpy()]
    return f" with values that are not numbers (e.g. {_examples(bad)})" if not bad.empty else ""


# --- failure cases → findings --------------------------------------------------------------------------


def summarise(cases: pd.DataFrame, frame: pd.DataFrame, contract: Contract) -> list[Finding]:
    """One finding per column and rule, in contract order, from pandera's failure-case table."""
    specs = {spec.name: spec for spec in contract.columns}
    findings: list[Finding] = []
    schema_level = (cases["schema_context"] == "DataFrameSchema").to_numpy()
    pairs = zip(cases["check"][schema_level].astype(str), cases["failure_case"][schema_level], strict=True)
    for check, case in sorted(pairs, key=lambda pair: _SCHEMA_ORDER.get(pair[0], len(_SCHEMA_ORDER))):
        findings.append(_schema_finding(check, case, frame, contract))
    column_level = cases[~schema_level]
    order = {name: i for i, name in enumerate(specs)}
    groups = sorted(column_level.groupby(["column", "check"], sort=False),
                    key=lambda item: (order.get(str(item[0][0]), len(order)), str(item[0][1])))
    for (column, check), group in groups:
        spec = specs[str(column)]
        findings.append(_column_finding(spec, str(check), group, frame[spec.name]))
    return findings


_SCHEMA_ORDER = {"column_in_dataframe": 0, "column_in_schema": 1}


def _schema_finding(check: str, case: Any, frame: pd.DataFrame, contract: Contract) -> Finding:
    if check == "column_in_dataframe":
        return Finding("columns", str(case), f"column '{case}' is missing")
    if check == "column_in_schema":
        return Finding("columns", str(case), f"unexpected column '{case}' (contract.strict is true: declare it "
                                             "under contract.columns or set contract.strict: false)")
    if check == "unique":
        key = list(contract.unique)
        repeated = frame[frame.duplicated(subset=key, keep=False)]
        keys = repeated[key].drop_duplicates().head(_EXAMPLES)
        shown = ", ".join("(" + ", ".join(fmt(v) for v in row) + ")" if len(key) > 1 else fmt(row[0])
                          for row in keys.itertuples(index=False))
        return Finding("unique", None, f"{', '.join(key)}: {len(repeated)} rows share a key with another row "
                                       f"(e.g. {shown})")
    return Finding("columns", None, f"{check}: {case}")


def _column_finding(spec: ColumnSpec, check: str, group: pd.DataFrame, series: pd.Series) -> Finding:
    name = spec.name
    count = len(group)
    values = group["failure_case"]
    if check == "dtype":
        problem = dtype_problem(series, spec) or f"expected {spec.dtype}, found {series.dtype}"
        return Finding("dtypes", name, f"column '{name}': {problem}")
    if check == "not_nullable":
        rows = ", ".join(str(i) for i in group["index"].head(_EXAMPLES))
        return Finding("nulls", name, f"column '{name}': {plural(count, 'missing value')} but nullable is false "
                                      f"(e.g. at index {rows})")
    if check == "min":
        return Finding("ranges", name, f"column '{name}': {plural(count, 'value')} below min {fmt(spec.min)} "
                                       f"(e.g. {_examples(values)})")
    if check == "max":
        return Finding("ranges", name, f"column '{name}': {plural(count, 'value')} above max {fmt(spec.max)} "
                                       f"(e.g. {_examples(values)})")
    if check == "allowed":
        unseen = values.drop_duplicates()
        return Finding("categories", name,
                       f"column '{name}': {plural(count, 'value')} not among the allowed "
                       f"{', '.join(fmt(v) for v in spec.allowed or ())} (e.g. {_examples(unseen)})")
    return Finding("dtypes", name, f"column '{name}': check {check} failed (e.g. {_examples(values)})")


def _examples(values: Iterable[Any]) -> str:
    """The first few distinct values, formatted."""
    seen: list[str] = []
    for value in values:
        text = fmt(value)
        if text not in seen:
            seen.append(text)
            if len(seen) == _EXAMPLES:
                break
    return ", ".join(seen)
