"""The data test: a dataset checked against the contract, quality rules, leakage and drift in mlcd.yaml.

This module holds the result types every part shares and imports nothing heavy; the parts are
``io`` (reading), ``contract`` (pandera schema), ``quality``, ``leakage``, ``drift``, ``checks`` (runs
them all: ``run_data_test``) and ``report`` (JSON and Markdown).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from mlcd.drift import ColumnTest

__all__ = ["Check", "DataTestResult", "Kind", "Status", "fmt", "plural", "summary"]

Status = Literal["passed", "failed", "skipped"]
Kind = Literal["read", "schema", "quality", "leakage", "drift"]


@dataclass(frozen=True)
class Check:
    """One named check: ``message`` sums it up in a line, ``details`` lists every finding."""

    name: str
    kind: Kind
    status: Status
    message: str
    details: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return self.status == "failed"


@dataclass(frozen=True)
class DataTestResult:
    data: str
    rows: int | None
    columns: int | None
    checks: tuple[Check, ...]
    reference: str | None = None
    drift: tuple[ColumnTest, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.failed

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.failed)

    def count(self, status: Status) -> int:
        return sum(1 for c in self.checks if c.status == status)

    def check(self, name: str) -> Check:
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(name)


_SHOWN = 3


def summary(problems: Sequence[str]) -> str:
    """One line for a check's message: the first few problems and how many more there are."""
    if len(problems) == 1:
        return problems[0]
    shown = "; ".join(problems[:_SHOWN])
    more = f"; and {len(problems) - _SHOWN} more" if len(problems) > _SHOWN else ""
    return f"{len(problems)} problems: {shown}{more}"


def fmt(value: Any) -> str:
    """A data value in a message: text quoted, NumPy scalars as plain numbers."""
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", None) == 0:
        value = value.item()
    return repr(value) if isinstance(value, str) else str(value)


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
