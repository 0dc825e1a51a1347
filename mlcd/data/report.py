"""The data test's result as JSON (for machines and later gates) and as a Markdown report section."""

from __future__ import annotations

from typing import Any

from mlcd.config.model import DriftConfig
from mlcd.data import DataTestResult, Status
from mlcd.drift import ColumnTest, column_json, rule, thresholds_json

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
            "thresholds": thresholds_json(drift, _tested(result)),
            "columns": [column_json(c) for c in result.drift],
        },
        "warnings": list(result.warnings),
    }


def _tested(result: DataTestResult) -> int:
    return sum(1 for c in result.drift if c.pvalue is not None)


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
                  "| Column | Type | Test | p (Holm) | Effect | Drift |", "|---|---|---|---|---|---|"]
        lines += [_drift_row(c) for c in result.drift]
        lines += ["", rule(drift, _tested(result))]
    for warning in result.warnings:
        lines += ["", f"> ⚠️ {_cell(warning)}"]
    return "\n".join(lines) + "\n"


def _drift_row(column: ColumnTest) -> str:
    if column.pvalue is None:
        return f"| {column.column} | {column.kind} | – | – | – | ⏭️ {_cell(column.note or 'not tested')} |"
    verdict = ("❌ drifted" if column.drifted else "⚠️ significant, below the effect floor" if column.significant
               else "✅ stable")
    return (f"| {column.column} | {column.kind} | {column.test} | {_number(column.adjusted_pvalue, '.2g')} "
            f"| {column.effect_name} {_number(column.effect, '.3f')} | {verdict} |")


def _number(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")
