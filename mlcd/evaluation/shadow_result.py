"""The one reader of the file `mlcd shadow --json` writes (shadow.json), for the promotion's evidence and
plan and for the pull-request report; and the churn gate decided on it with the configured limit, so the
file's reader, not its writer, says whether it passes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlcd.errors import InputError
from mlcd.evaluation.gates import GateResult, churn_gate

__all__ = ["ShadowFile", "SliceChurn", "largest_slice_churn", "read_shadow"]


@dataclass(frozen=True)
class SliceChurn:
    column: str
    group: str
    rows: int
    changed: int
    rate: float


@dataclass(frozen=True)
class ShadowFile:
    """A shadow replay's result as written: ``document`` is :func:`mlcd.monitoring.shadow_report.shadow_json`'s."""

    path: Path
    document: dict[str, Any]

    @property
    def rows(self) -> int:
        return int(self.document["churn"]["rows"])

    @property
    def changed(self) -> int:
        return int(self.document["churn"]["changed"])

    @property
    def rate(self) -> float | None:
        rate = self.document["churn"].get("rate")
        return float(rate) if isinstance(rate, (int, float)) else None

    @property
    def model_sha256(self) -> str | None:
        value = self.document.get("model_sha256")
        return value if isinstance(value, str) and value else None

    def gate(self, limit: float | None) -> GateResult | None:
        """The churn gate with ``limit`` (gates.max_prediction_churn); None when it is not set."""
        return None if limit is None else churn_gate(self.rate, self.changed, self.rows, limit)


def read_shadow(path: Path) -> ShadowFile:
    """The result in ``path``, or an InputError naming the file and saying how to write it."""
    fix = "pass the file `mlcd shadow --json FILE` wrote, or leave out --shadow"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"the shadow replay result {path} does not exist", fix=fix) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read the shadow replay result {path}: {exc}", fix=fix) from None
    churn = document.get("churn") if isinstance(document, dict) else None
    if not isinstance(churn, dict) or not all(_count(churn.get(key)) for key in ("rows", "changed")):
        raise InputError(f"{path} is not a shadow replay result: it has no 'churn' with counts 'rows' and 'changed'",
                         fix=fix)
    return ShadowFile(path, document)


def largest_slice_churn(document: Mapping[str, Any]) -> SliceChurn | None:
    """The slice group whose predictions change most often (more rows first on a tie); None without slices."""
    found: list[SliceChurn] = []
    slices = document.get("slices")
    for column, groups in (slices if isinstance(slices, dict) else {}).items():
        for group, churn in (groups if isinstance(groups, dict) else {}).items():
            rate = churn.get("rate") if isinstance(churn, dict) else None
            if isinstance(rate, (int, float)) and _count(churn.get("rows")) and _count(churn.get("changed")):
                found.append(SliceChurn(str(column), str(group), churn["rows"], churn["changed"], float(rate)))
    return max(found, key=lambda s: (s.rate, s.rows), default=None)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
