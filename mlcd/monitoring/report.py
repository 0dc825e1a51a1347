"""The drift result as JSON (for machines and later steps) and as Markdown in the PR report's style.

The Markdown has a headline verdict, a table per feature, the prediction, contract violations and a
Mermaid ``xychart-beta`` of the most drifted column's effect per time bucket; it stays under GitHub's
65,536-character comment limit however many features there are.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from mlcd.drift import ColumnTest, column_json, rule, thresholds_json
from mlcd.monitoring.drift import Bucket, DriftResult
from mlcd.report.fit import COMMENT_LIMIT, RESERVED, fit_sections

__all__ = ["COMMENT_LIMIT", "Context", "markdown", "to_json"]

_SHOWN = 40
_FINDINGS = 20
_NAMED = 10  # drifted columns named in the headline
_BUDGET = 40_000  # characters the folded rest of the features table may take


@dataclass(frozen=True)
class Context:
    """Where the result came from: shown in the headline and kept in the JSON."""

    model: str
    logs: str
    window: str
    reference: str
    first: datetime | None = None
    last: datetime | None = None
    files_read: int = 0
    files_total: int = 0
    versions: dict[str, int] = field(default_factory=dict)


def verdict(result: DriftResult) -> str:
    if result.failed:
        return "drift" if result.drifted else "skew"
    return "no drift" if result.decided else "not enough data"


def to_json(result: DriftResult, context: Context) -> dict[str, Any]:
    return {
        "verdict": verdict(result),
        "failed": result.failed,
        "drifted": list(result.drifted),
        "model": context.model,
        "model_versions": context.versions,
        "logs": context.logs,
        "window": {"asked": context.window, "first": _iso(context.first), "last": _iso(context.last),
                   "rows": result.rows, "files_read": context.files_read, "files_total": context.files_total},
        "reference": {"source": context.reference, "rows": result.reference_rows},
        "thresholds": {**thresholds_json(result.thresholds, len(result.tested)),
                       "max_violation_rate": result.skew.max_rate if result.skew is not None else None},
        "columns": [column_json(t) for t in result.columns],
        "prediction": column_json(result.prediction) if result.prediction is not None else None,
        "skew": None if result.skew is None else {
            "rows": result.skew.rows, "violating_rows": result.skew.violating_rows, "rate": result.skew.rate,
            "max_rate": result.skew.max_rate, "structural": result.skew.structural, "failed": result.skew.failed,
            "findings": list(result.skew.findings),
        },
        "buckets": [{"start": _iso(b.start), "end": _iso(b.end), "rows": b.rows,
                     "effects": {k: _finite(v) for k, v in b.effects.items()}} for b in result.buckets],
    }


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


# --- Markdown -----------------------------------------------------------------------------------------


def markdown(result: DriftResult, context: Context, limit: int = COMMENT_LIMIT - RESERVED) -> str:
    """The whole report; sections that do not fit are left out, last first, with a note."""
    sections = [headline(result, context), features_section(result), prediction_section(result),
                skew_section(result), chart_section(result)]
    return fit_sections(sections, limit, "the full result is in the JSON file")


def headline(result: DriftResult, context: Context) -> list[str]:
    features = [t for t in result.columns if t.pvalue is not None]
    drifted = list(result.drifted)
    if drifted:
        named = ", ".join(drifted[:_NAMED]) + (f", … {len(drifted) - _NAMED} more" if len(drifted) > _NAMED else "")
        title = f"## ❌ mlcd drift: {len(drifted)} of {len(result.tested)} columns drifted ({named})"
    elif result.skew is not None and result.skew.failed:
        title = "## ❌ mlcd drift: production rows break the data contract"
    elif result.decided:
        extra = " and the prediction" if result.prediction is not None and result.prediction.pvalue is not None else ""
        title = f"## ✅ mlcd drift: no drift in {len(features)} features{extra}"
    else:
        title = "## ⚠️ mlcd drift: not enough rows to decide"
    span = f"{_when(context.first)} → {_when(context.last)}" if context.first else context.window
    files = f", {context.files_read} of {context.files_total} log files" if context.files_total else ""
    lines = [title, "", f"**{context.model}** · window {span} ({result.rows:,} rows{files}) · "
                        f"reference `{context.reference}` ({result.reference_rows:,} rows)", ""]
    if len(context.versions) > 1 or (context.versions and result.rows):
        shown = ", ".join(f"`{v}` {n / max(result.rows, 1):.0%}" for v, n in list(context.versions.items())[:5])
        lines += [f"Model versions in the window: {shown}.", ""]
    alarms = [t for t in result.tests if t.drifted]
    lines += [f"> ❌ **{t.column}**: {t.effect_name} {t.effect:.3f}, {t.test} p (Holm) {_p(t.adjusted_pvalue)}"
              for t in alarms[:_NAMED] if t.effect is not None]
    if len(alarms) > _NAMED:
        lines.append(f"> … and {len(alarms) - _NAMED} more drifted columns in the table below")
    if result.skew is not None and result.skew.failed:
        lines.append(f"> ❌ **contract**: {_skew_summary(result)}")
    return lines + ([""] if alarms or (result.skew is not None and result.skew.failed) else [])


def features_section(result: DriftResult) -> list[str]:
    if not result.columns:
        return []
    ordered = sorted(result.columns, key=_order)
    header = ["", "feature", "type", "test", "statistic", "p-value", "p (Holm)", "effect", "drifted"]
    lines = ["### Features", ""]
    lines += _table(header, [_row(t) for t in ordered[:_SHOWN]])
    rest = ordered[_SHOWN:]
    if rest:
        folded = _table(header, [])
        size = 0
        for test in rest:
            line = _table(header, [_row(test)])[-1]
            if size + len(line) > _BUDGET:
                break
            folded.append(line)
            size += len(line) + 1
        lines += ["", f"<details><summary>{len(rest)} more features</summary>", "", *folded]
        if len(folded) - 2 < len(rest):
            lines += ["", f"… {len(rest) - len(folded) + 2} more in the JSON file."]
        lines += ["", "</details>"]
    lines += ["", rule(result.thresholds, len(result.tested)), ""]
    return lines


def prediction_section(result: DriftResult) -> list[str]:
    test = result.prediction
    if test is None:
        return []
    header = ["", "column", "type", "test", "statistic", "p-value", "p (Holm)", "effect", "drifted"]
    return ["### Prediction", "", *_table(header, [_row(test)]), ""]


def skew_section(result: DriftResult) -> list[str]:
    skew = result.skew
    if skew is None:
        return []
    lines = ["### Contract violations (training/serving skew)", ""]
    if not skew.findings:
        return [*lines, f"✅ Every one of {skew.rows:,} rows keeps the data contract.", ""]
    icon = "❌" if skew.failed else "⚠️"
    lines += [f"{icon} {_skew_summary(result)}", ""]
    lines += [f"- {_cell(f)}" for f in skew.findings[:_FINDINGS]]
    if len(skew.findings) > _FINDINGS:
        lines.append(f"- … and {len(skew.findings) - _FINDINGS} more in the JSON file")
    return [*lines, ""]


def chart_section(result: DriftResult) -> list[str]:
    test = _charted(result)
    if test is None:
        return []
    points = [(b, b.effects.get(test.column)) for b in result.buckets]
    if sum(1 for _, v in points if v is not None) < 2:
        return []
    floors = result.thresholds.min_effect
    floor = floors.psi if test.kind == "numeric" else floors.js
    values = [v or 0.0 for _, v in points]
    high = max([*values, floor]) * 1.15
    labels = ", ".join(f'"{_label(b)}"' for b, _ in points)
    return ["### Drift over the window", "", "```mermaid", "xychart-beta",
            f'  title "{test.effect_name} of {_quote(test.column)} per {_span(result.buckets)}"',
            f"  x-axis [{labels}]", f'  y-axis "{test.effect_name}" 0 --> {high:.3f}',
            f"  bar [{', '.join(f'{v:.4f}' for v in values)}]",
            f"  line [{', '.join(f'{floor:.4f}' for _ in values)}]", "```", "",
            f"Bars: {test.effect_name} of `{test.column}` in each bucket; line: the alarm floor {floor}. "
            "A bucket has fewer rows than the window, so its effect is noisier; the decision is the whole window's.",
            ""]


def _charted(result: DriftResult) -> ColumnTest | None:
    """The column whose effect is largest relative to its floor, drifted ones first."""
    floors = result.thresholds.min_effect

    def ratio(test: ColumnTest) -> float:
        floor = floors.psi if test.kind == "numeric" else floors.js
        return (test.effect or 0.0) / floor if floor > 0 else (test.effect or 0.0)

    tested = [t for t in result.tests if t.effect is not None and t.pvalue is not None]
    return max(tested, key=lambda t: (t.drifted, ratio(t)), default=None)


def _order(test: ColumnTest) -> tuple[int, float, str]:
    rank = 0 if test.drifted else 1 if test.significant else 2 if test.pvalue is not None else 3
    return rank, test.adjusted_pvalue if test.adjusted_pvalue is not None else 2.0, test.column


def _row(test: ColumnTest) -> list[str]:
    if test.pvalue is None:
        return ["⏭️", test.column, test.kind, "—", "—", "—", "—", "—", _cell(test.note or "not tested")]
    mark = "❌" if test.drifted else "⚠️" if test.significant else "✅"
    statistic = f"D = {test.statistic:.4f}" if test.kind == "numeric" else f"χ² = {test.statistic:.1f}"
    drifted = "yes" if test.drifted else "significant, below the effect floor" if test.significant else "no"
    return [mark, _cell(test.column), test.kind, test.test, statistic, _p(test.pvalue), _p(test.adjusted_pvalue),
            f"{test.effect_name} {test.effect:.3f}" if test.effect is not None else "—", drifted]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(row) + " |" for row in rows)]


def _skew_summary(result: DriftResult) -> str:
    skew = result.skew
    assert skew is not None
    if skew.structural:
        return f"a column's values have the wrong type for the contract ({skew.violating_rows:,} rows break it)"
    return (f"{skew.violating_rows:,} of {skew.rows:,} rows ({skew.rate:.2%}) break the data contract "
            f"(allowed: {skew.max_rate:.2%}, monitoring.max_violation_rate)")


def _p(value: float | None) -> str:
    if value is None:
        return "—"
    return "< 1e-300" if value < 1e-300 else f"{value:.3g}"


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _quote(text: str) -> str:
    return text.replace('"', "'")


def _when(moment: datetime | None) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def _label(bucket: Bucket) -> str:
    return bucket.start.astimezone(timezone.utc).strftime("%m-%d %H:%M")


def _span(buckets: Sequence[Bucket]) -> str:
    seconds = (buckets[0].end - buckets[0].start).total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            amount = seconds / size
            return f"{amount:.3g} {unit}s" if round(amount, 2) != 1 else unit
    return f"{seconds:.3g} seconds"
