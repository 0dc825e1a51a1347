"""The pull request's shadow replay: the churn gate among the comparison's gates, and its section of the report
(the flip rate and confusion, or the distribution of differences, and the slices that churn most)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from mlcd.compare.run import Comparison
from mlcd.evaluation.gates import ARROW
from mlcd.evaluation.shadow_result import ShadowFile, largest_slice_churn
from mlcd.report.markdown import folded_table

__all__ = ["shadow_section", "with_shadow_gate"]

TOP_SLICES = 10
_LABELS = 12  # a larger confusion is in the JSON only


def with_shadow_gate(comparison: Comparison, shadow: ShadowFile, limit: float | None) -> Comparison:
    """The comparison with the churn gate (gates.max_prediction_churn) among its gates: it passes, fails and
    counts in the headline and the check like any other gate."""
    gate = shadow.gate(limit)
    return comparison if gate is None else replace(comparison, gates=[*comparison.gates, gate])


def shadow_section(shadow: ShadowFile, comparison: Comparison) -> list[str]:
    document = shadow.document
    rate = "n/a" if shadow.rate is None else f"{shadow.rate:.2%}"
    lines = ["### Shadow replay of production traffic", "",
             f"{shadow.rows:,} logged production rows ({document.get('window') or 'every logged row'}) replayed "
             f"through this pull request's model and compared with what production answered.", ""]
    gate = next((g for g in comparison.gates if g.kind == "prediction_churn"), None)
    if gate is not None:
        lines += [f"{ARROW[gate.verdict]} **{gate.name}**: {gate.reason}", ""]
    else:
        lines += ["Not gated: set `gates.max_prediction_churn` in mlcd.yaml to fail the check above a churn.", ""]
    if shadow.rows == 0:
        return [*lines, "No logged rows to replay.", ""]
    churn: Mapping[str, Any] = document["churn"]
    if document.get("task") == "regression":
        lines += [f"**{rate}** of rows move by more than `gates.churn_tolerance` ({shadow.changed:,} of "
                  f"{shadow.rows:,}).", "", *_differences(churn.get("differences") or {})]
    else:
        lines += [f"Flip rate **{rate}**: {shadow.changed:,} of {shadow.rows:,} rows change label.", ""]
        lines += _confusion(churn.get("confusion") or {})
    lines += _slices(document)
    return lines


def _differences(differences: Mapping[str, Any]) -> list[str]:
    if not differences:
        return ["No row has a number on both sides.", ""]
    names = [name for name in ("mean", "mean_abs", "max_abs", "p1", "p5", "p25", "p50", "p75", "p95", "p99")
             if isinstance(differences.get(name), (int, float))]
    return ["Candidate - production:", "", "| " + " | ".join(n.replace("_", " ") for n in names) + " |",
            "|" + "---:|" * len(names), "| " + " | ".join(f"{differences[n]:.4g}" for n in names) + " |", ""]


def _confusion(confusion: Mapping[str, Mapping[str, int]]) -> list[str]:
    labels = sorted({*confusion, *(new for row in confusion.values() for new in row)})
    if not labels:
        return []
    if len(labels) > _LABELS:
        return [f"{len(labels)} labels: the confusion is in the shadow replay's JSON result.", ""]
    rows = [[old, *[f"{confusion.get(old, {}).get(new, 0):,}" for new in labels]] for old in labels]
    return folded_table("Production label (rows) → this model's label (columns)",
                        ["production \\ candidate", *labels], rows)


def _slices(document: Mapping[str, Any]) -> list[str]:
    slices = document.get("slices") if isinstance(document.get("slices"), dict) else {}
    rows: list[Sequence[Any]] = []
    for column, groups in (slices or {}).items():
        for group, churn in groups.items():
            rate = churn.get("rate")
            rows.append([f"`{column}`", group, f"{churn.get('rows', 0):,}", f"{churn.get('changed', 0):,}",
                         "n/a" if rate is None else f"{rate:.2%}", rate if isinstance(rate, (int, float)) else -1.0])
    if not rows:
        return []
    rows.sort(key=lambda row: -row[5])
    largest = largest_slice_churn(document)
    summary = "Churn by slice, most first"
    if largest is not None:
        summary += f" (largest: `{largest.column}` = {largest.group}, {largest.rate:.2%})"
    return folded_table(summary, ["slice", "group", "rows", "changed", "churn"], [row[:5] for row in rows[:TOP_SLICES]])
