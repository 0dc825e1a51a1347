"""The data test's result as JSON (for machines and later gates) and as a Markdown report section."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

from mlcd.config.model import DriftConfig
from mlcd.data import ColumnDrift, DataTestResult, Status

__all__ = ["ICONS", "markdown", "to_json"]

ICONS: dict[Status, str] = {"passed": "✅", "failed": "❌", "skipped": "⏭️"}


def to_json(result: DataTestResult, drift: DriftConfig) -> dict[str, Any]:
    return {
        "passed": result.passed,
        "data": result.data,
        "rows": result.rows,
        "columns": result.columns,
        "summary": {status: result.count(status) for status in ICONS},
        "checks": [
            {"name": c.name, "kind": c.kind, "status": c.status, "message": c.message, "details": list(c.details)}
            for c in result.checks
        ],
        "drift": {
            "reference": result.reference,
            "thresholds": {"psi": drift.psi_threshold, "ks_pvalue": drift.ks_pvalue,
                           "chi2_pvalue": drift.chi2_pvalue, "bins": drift.bins},
            "columns": [_finite(asdict(c)) for c in result.drift],
        },
        "warnings": list(result.warnings),
    }


def _finite(row: dict[str, Any]) -> dict[str, Any]:
    """JSON has no NaN: a statistic that is not a number is reported as null."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}


def markdown(result: DataTestResult, drift: DriftConfig) -> str:
    verdict = "✅ passed" if result.passed else "❌ failed"
    size = f"{result.rows} rows × {result.columns} columns" if result.rows is not None else "not readable"
    counts = ", ".join(f"{result.count(s)} {s}" for s in ICONS if result.count(s))
    lines = [
        f"### Data test {verdict}",
        "",
        f"`{result.data}`: {size}. {counts}.",
        "",
        "| | Check | Kind | Result |",
        "|---|---|---|---|",
    ]
    lines += [f"| {ICONS[c.status]} | {c.name} | {c.kind} | {_cell(c.message)} |" for c in result.checks]
    failed = [c for c in result.failed if len(c.details) > 1]
    if failed:
        lines += ["", "<details><summary>Every failure</summary>", ""]
        for check in failed:
            lines += [f"**{check.name}**", ""] + [f"- {_cell(d)}" for d in check.details] + [""]
        lines.append("</details>")
    if result.drift:
        lines += ["", f"#### Drift against `{result.reference}`", "",
                  "| Column | Type | PSI | KS p-value | χ² p-value | Drift |", "|---|---|---|---|---|---|"]
        lines += [_drift_row(c) for c in result.drift]
        lines += ["", f"A column drifts when PSI ≥ {drift.psi_threshold} and the test's p-value is below "
                      f"{drift.ks_pvalue} (KS, numeric) or {drift.chi2_pvalue} (χ², categorical)."]
    for warning in result.warnings:
        lines += ["", f"> ⚠️ {_cell(warning)}"]
    return "\n".join(lines) + "\n"


def _drift_row(column: ColumnDrift) -> str:
    verdict = "❌ drifted" if column.drifted else "✅ stable"
    if column.note is not None:
        verdict = f"⏭️ {_cell(column.note)}"
    return (f"| {column.column} | {column.kind} | {_number(column.psi, '.3f')} | {_number(column.ks_pvalue, '.2g')} "
            f"| {_number(column.chi2_pvalue, '.2g')} | {verdict} |")


def _number(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")
