"""The shadow replay's report: a JSON document and Markdown for the step summary and the pull request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlcd.evaluation.gates import ARROW

if TYPE_CHECKING:
    from mlcd.monitoring.shadow import Churn
    from mlcd.monitoring.shadow_run import ShadowContext, ShadowResult

__all__ = ["shadow_json", "shadow_markdown"]

_CONFUSION_LABELS = 12  # a larger confusion is in the JSON only


def shadow_json(result: ShadowResult, context: ShadowContext) -> dict[str, Any]:
    return {
        "model": context.model,
        "candidate": context.candidate,
        "model_sha256": context.model_sha256,
        "production": "the logged predictions (what production answered)",
        "logs": context.logs,
        "window": context.window,
        "rows_in_window": context.rows_in_window,
        "first": context.first.isoformat() if context.first else None,
        "last": context.last.isoformat() if context.last else None,
        "files_read": context.files_read,
        "files_total": context.files_total,
        "production_versions": context.versions,
        "task": result.task,
        "churn": result.overall.as_dict(),
        "slices": {column: {group: c.as_dict(confusion=False) for group, c in groups.items()}
                   for column, groups in result.slices.items()},
        "unlogged_slices": list(context.unlogged_slices),
        "gate": result.gate.as_dict() if result.gate else None,
        "passed": result.gate is None or result.gate.verdict != "fail",
    }


def shadow_markdown(result: ShadowResult, context: ShadowContext) -> str:
    overall = result.overall
    versions = ", ".join(f"`{v}` ({n:,})" for v, n in context.versions.items()) or "none logged"
    lines = ["### Shadow replay", "",
             f"{overall.rows:,} logged production rows ({context.window}, {context.rows_in_window:,} in the window) "
             f"replayed through `{context.candidate}` and compared with what production answered "
             f"(model versions: {versions}).", ""]
    if result.gate is not None:
        gate = result.gate
        lines += [f"{ARROW[gate.verdict]} **{gate.name}**: {gate.reason}", ""]
    if overall.rows == 0:
        return "\n".join([*lines, "No logged rows to replay."]) + "\n"
    lines.append(f"**{_rate(overall)}** of rows change prediction ({overall.changed:,} of {overall.rows:,}).")
    if result.task == "classification":
        lines += ["", *_confusion(overall)]
    else:
        lines += ["", *_differences(overall)]
    for column, groups in result.slices.items():
        lines += ["", f"By `{column}`:", "", "| group | rows | changed | churn |", "|---|---:|---:|---:|"]
        lines += [f"| {group} | {c.rows:,} | {c.changed:,} | {_rate(c)} |" for group, c in groups.items()]
    if context.unlogged_slices:
        lines += ["", f"Slices not in the log (not features): {', '.join(context.unlogged_slices)}."]
    return "\n".join(lines) + "\n"


def _rate(c: Churn) -> str:
    return "n/a" if c.rate is None else f"{c.rate:.2%}"


def _confusion(c: Churn) -> list[str]:
    labels = sorted({*c.confusion, *(new for row in c.confusion.values() for new in row)})
    if len(labels) > _CONFUSION_LABELS:
        return [f"{len(labels)} labels: the confusion between old and new labels is in the JSON result."]
    lines = ["Production label (rows) → candidate label (columns):", "",
             "| production \\ candidate | " + " | ".join(labels) + " |",
             "|---|" + "---:|" * len(labels)]
    for old in labels:
        row = c.confusion.get(old, {})
        lines.append(f"| {old} | " + " | ".join(f"{row.get(new, 0):,}" for new in labels) + " |")
    return lines


def _differences(c: Churn) -> list[str]:
    if not c.differences:
        return ["No row has a number on both sides."]
    names = [name for name in c.differences if name.startswith("p")]
    return ["Candidate - production:", "",
            "| mean | mean abs | max abs | " + " | ".join(names) + " |",
            "|---:|---:|---:|" + "---:|" * len(names),
            "| " + " | ".join(f"{c.differences[n]:.4g}" for n in ["mean", "mean_abs", "max_abs", *names]) + " |"]
