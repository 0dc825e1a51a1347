"""Check request rows against the data contract, value by value, with messages that name column and row.

The checks are plain Python over lists: a request holds a few rows, and one pass over them costs less
than building the pandas objects a vectorised check would need. ``mlcd predict`` uses the same checks on
each chunk of a file, so a row is accepted or refused the same way offline and online.

Rules for the feature columns (the contract's columns that are neither the label nor ``feature: false``):

- every feature column is present; the label and other contract columns may be present and are ignored;
  any other column is refused (named in the error);
- ``float``: a finite number; ``int``: a whole number within the 64-bit range (``2.0`` counts);
  ``string``: text; ``category``: text, or a number or boolean when its ``allowed`` values are such;
  ``bool``: ``true``/``false``; ``datetime``: ISO 8601 text;
- a missing value (JSON ``null``) only where the column is ``nullable``;
- numbers within ``min``/``max``; values among ``allowed``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from mlcd.config.model import ColumnSpec, Contract

__all__ = ["MAX_PROBLEMS", "Datatype", "FeatureTally", "InputSchema", "check_columns", "column_problems",
           "datatype_of", "describe", "name_list", "tally_features"]

Datatype = Literal["BYTES", "FP64", "INT64", "BOOL"]
MAX_PROBLEMS = 10
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_SHOWN_CHARS = 32


def datatype_of(spec: ColumnSpec) -> Datatype:
    """The Open Inference Protocol datatype of a contract column."""
    if spec.dtype == "float":
        return "FP64"
    if spec.dtype == "int":
        return "INT64"
    if spec.dtype == "bool":
        return "BOOL"
    if spec.dtype == "category" and spec.allowed and not any(isinstance(v, str) for v in spec.allowed):
        if all(isinstance(v, bool) for v in spec.allowed):
            return "BOOL"
        if all(isinstance(v, int) and not isinstance(v, bool) for v in spec.allowed):
            return "INT64"
        return "FP64"
    return "BYTES"


@dataclass(frozen=True)
class InputSchema:
    """What a request must carry: the contract's feature columns, in the order the model takes them."""

    features: tuple[ColumnSpec, ...]
    ignored: frozenset[str]  # the label and other contract columns: accepted, not used

    @classmethod
    def from_contract(cls, contract: Contract) -> InputSchema:
        features = contract.features
        names = {spec.name for spec in features}
        return cls(features, frozenset(spec.name for spec in contract.columns if spec.name not in names))

    def knows(self, name: str) -> bool:
        return name in self.ignored or any(spec.name == name for spec in self.features)

    @property
    def names(self) -> list[str]:
        return [spec.name for spec in self.features]

    def datatypes(self) -> dict[str, Datatype]:
        return {spec.name: datatype_of(spec) for spec in self.features}


def describe(value: Any) -> str:
    """A short, safe rendering of a value for an error message: never the whole of a long input."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        text = repr(value)
    elif isinstance(value, str):
        text = repr(value[:_SHOWN_CHARS] + "…" if len(value) > _SHOWN_CHARS else value)
    elif isinstance(value, list):
        return "a list"
    elif isinstance(value, dict):
        return "an object"
    else:
        return f"a {type(value).__name__}"
    return text if len(text) <= _SHOWN_CHARS + 8 else text[:_SHOWN_CHARS] + "…"


def name_list(names: Iterable[str], limit: int = 5) -> str:
    shown = [describe(str(name)) for name in names]
    more = f" and {len(shown) - limit} more" if len(shown) > limit else ""
    return ", ".join(shown[:limit]) + more


def _limit(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def _number_problem(value: Any, spec: ColumnSpec) -> str | None:
    kind = type(value)
    if kind is bool or kind not in (int, float):
        return f"{describe(value)} is not a number ({spec.dtype})"
    if kind is float and not math.isfinite(value):
        return f"{describe(value)} is not a finite number"
    if spec.dtype == "int":
        if kind is float and not value.is_integer():
            return f"{describe(value)} is not a whole number (int)"
        if not _INT64_MIN <= value <= _INT64_MAX:
            return f"{describe(value)} is outside the 64-bit integer range"
    if spec.min is not None and value < spec.min:
        return f"{describe(value)} is below the contract's min {_limit(spec.min)}"
    if spec.max is not None and value > spec.max:
        return f"{describe(value)} is above the contract's max {_limit(spec.max)}"
    return None


def _allowed_problem(value: Any, spec: ColumnSpec) -> str | None:
    assert spec.allowed is not None
    # bool is an int in Python: compare type and value so that true is not taken for 1
    if any(type(value) is type(a) and value == a for a in spec.allowed):
        return None
    return f"{describe(value)} is not one of the contract's allowed values ({name_list(map(str, spec.allowed), 8)})"


def _value_problem(value: Any, spec: ColumnSpec) -> str | None:
    dtype = spec.dtype
    if dtype in ("float", "int"):
        return _number_problem(value, spec)
    if dtype == "bool":
        return None if type(value) is bool else f"{describe(value)} is not true or false (bool)"
    if dtype == "datetime":
        if type(value) is not str:
            return f"{describe(value)} is not an ISO 8601 date (datetime)"
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return f"{describe(value)} is not an ISO 8601 date (datetime)"
        return None
    expected = datatype_of(spec)
    if expected == "BYTES":
        if type(value) is not str:
            return f"{describe(value)} is not text ({dtype})"
    elif expected == "BOOL":
        if type(value) is not bool:
            return f"{describe(value)} is not true or false ({dtype})"
    elif type(value) is bool or type(value) not in (int, float):
        return f"{describe(value)} is not a number ({dtype})"
    return _allowed_problem(value, spec) if spec.allowed is not None else None


def column_problems(values: Sequence[Any], spec: ColumnSpec, first_row: int = 0,
                    limit: int = MAX_PROBLEMS) -> list[tuple[int, str]]:
    """Up to ``limit`` (row, message) problems with one column's values; ``first_row`` numbers the first."""
    problems: list[tuple[int, str]] = []
    nullable = spec.nullable
    for index, value in enumerate(values):
        if value is None:
            if nullable:
                continue
            problem: str | None = "missing (null), but the contract does not allow missing values"
        else:
            problem = _value_problem(value, spec)
        if problem is not None:
            problems.append((first_row + index, f"column '{spec.name}' row {first_row + index}: {problem}"))
            if len(problems) >= limit:
                break
    return problems


def check_columns(schema: InputSchema, columns: Mapping[str, Sequence[Any]], first_row: int = 0,
                  limit: int = MAX_PROBLEMS) -> list[str]:
    """Every way (up to ``limit``) the columns break the contract; empty when they keep it."""
    unknown = [name for name in columns if not schema.knows(name)]
    problems: list[str] = []
    if unknown:
        problems.append(f"unknown column(s) {name_list(unknown)}: not in the data contract "
                        f"(expected the feature columns {name_list(schema.names, 20)})")
    missing = [spec.name for spec in schema.features if spec.name not in columns]
    if missing:
        problems.append(f"missing column(s) {name_list(missing)}: the contract requires every feature column")
    if problems:
        return problems
    for spec in schema.features:
        problems += [message for _, message in column_problems(columns[spec.name], spec, first_row,
                                                               limit - len(problems))]
        if len(problems) >= limit:
            break
    return problems



@dataclass(frozen=True)
class FeatureTally:
    """One feature column of a request: its missing values, and its values that break the contract (a missing
    value where the column is not nullable counts as both)."""

    feature: str
    nulls: int
    out_of_contract: int


def tally_features(schema: InputSchema, columns: Mapping[str, Sequence[Any]], rows: int, *,
                   valid: bool) -> list[FeatureTally]:
    """Nulls and out-of-contract values per feature over a request's ``rows`` rows; features with neither are
    left out.

    ``valid`` columns passed :func:`check_columns`, so only their nulls need counting (the request path's
    case, kept cheap). A feature column missing from a refused request is out of contract in every row.
    """
    tallies = []
    for spec in schema.features:
        values = columns.get(spec.name)
        if valid:
            nulls = values.count(None) if spec.nullable and values is not None else 0
            if nulls:
                tallies.append(FeatureTally(spec.name, nulls, 0))
            continue
        if values is None:
            tallies.append(FeatureTally(spec.name, 0, rows))
            continue
        nulls = values.count(None)
        broken = sum(1 for value in values if value is not None and _value_problem(value, spec) is not None)
        broken += 0 if spec.nullable else nulls
        if nulls or broken:
            tallies.append(FeatureTally(spec.name, nulls, broken))
    return tallies
