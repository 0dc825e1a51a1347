"""The pull-request report: one Markdown document, always under GitHub's comment size limit.

Sections in order of importance; long tables fold into <details> and are cut with a note. GitHub
renders the Mermaid `xychart-beta` history natively, so no image leaves the repository.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from mlcd.actions_context import run_url
from mlcd.compare.run import Comparison
from mlcd.compare.snapshot import Snapshot
from mlcd.evaluation.gates import ARROW, FAILING
from mlcd.evaluation.slices import between_groups
from mlcd.report.fit import COMMENT_LIMIT, RESERVED, fit_sections

MAX_TABLE_ROWS = 40
IMPORTANCE_ROWS = 10


def _number(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "—"
    if isinstance(value, (int, float)):
        return f"{value:.4f}" if isinstance(value, float) else str(value)
    return str(value)


def _cell(value: Any) -> str:
    text = "—" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def delta_cell(head: float | None, other: float | None, direction: str) -> str:
    """Signed change with an arrow and a colour cue that respects the metric's direction."""
    if head is None or other is None:
        return "—"
    change = head - other
    if abs(change) < 5e-5:
        return "= 0"
    better = change > 0 if direction == "higher" else change < 0
    return f"{'🟢' if better else '🔴'} {'▲' if change > 0 else '▼'} {change:+.4f}"


def _short(snapshot: Snapshot | None) -> str:
    if snapshot is None:
        return "none"
    return f"`{snapshot.rev[:7]}`" if snapshot.rev else "work tree"


def gate_counts(comparison: Comparison) -> str:
    """``all 8 gates passed``, ``7 of 8 gates passed, 1 not applicable`` or ``1 of 8 gates failed, 6 passed,
    1 not applicable``: a gate without a baseline is never counted as passed."""
    total = len(comparison.gates)
    failed = sum(g.verdict in FAILING for g in comparison.gates)
    passed = sum(g.verdict == "pass" for g in comparison.gates)
    missing = total - failed - passed
    not_applicable = f", {missing} not applicable (no baseline)" if missing else ""
    if failed:
        return f"{failed} of {total} gates failed, {passed} passed{not_applicable}"
    return f"all {total} gates passed" if not missing else f"{passed} of {total} gates passed{not_applicable}"


def headline(comparison: Comparison, model: str) -> list[str]:
    failed = [g for g in comparison.gates if g.verdict in FAILING]
    title = f"## ✅ mlcd: {gate_counts(comparison)}" if not failed else f"## ❌ mlcd: {gate_counts(comparison)}"
    where = (f"**{model}** · head {_short(comparison.head)} · base {_short(comparison.base)} · "
             f"production {_short(comparison.production)}")
    lines = [title, "", where, ""]
    lines += [f"> {ARROW[g.verdict]} **{g.name}**: {g.reason}" for g in failed]
    return lines + ([""] if failed else [])


def metrics_table(comparison: Comparison) -> list[str]:
    lines = ["### Metrics", "", "| metric | head | base | Δ vs base | production | Δ vs production |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, direction in comparison.directions.items():
        head = comparison.head.metric(name)
        base = comparison.base.metric(name) if comparison.base else None
        prod = comparison.production.metric(name) if comparison.production else None
        arrow = "↑" if direction == "higher" else "↓"
        lines.append(f"| {name} {arrow} | {_number(head)} | {_number(base)} | {delta_cell(head, base, direction)} "
                     f"| {_number(prod)} | {delta_cell(head, prod, direction)} |")
    rows = comparison.head.metrics.get("n_holdout")
    if rows:
        lines += ["", f"Holdout: {rows} rows. ↑ higher is better, ↓ lower is better."]
    sources = [f"{snapshot.name}: {snapshot.source}{_age(snapshot.recorded)}"
               for snapshot in (comparison.base, comparison.production) if snapshot is not None and snapshot.source]
    if sources:
        lines += ["", "Where the numbers come from: " + "; ".join(sources) + "."]
    if comparison.pairing:
        lines += ["", f"Noise tests against the base: {comparison.pairing}."]
    return [*lines, ""]


def _age(recorded: str | None, now: datetime | None = None) -> str:
    """`, recorded 3 days ago` from an ISO 8601 time; empty when unknown."""
    if not recorded:
        return ""
    try:
        then = datetime.fromisoformat(recorded)
    except ValueError:
        return ""
    seconds = max(((now or datetime.now(timezone.utc)) - then).total_seconds(), 0)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f", recorded {count} {unit}{'s' if count != 1 else ''} ago"
    return ", recorded just now"


def gates_table(comparison: Comparison) -> list[str]:
    lines = ["### Gates", "", "| | gate | reason |", "|---|---|---|"]
    lines += [f"| {ARROW[g.verdict]} | {_cell(g.name)} | {_cell(g.reason)} |" for g in comparison.gates]
    return [*lines, ""]


def folded_table(summary: str, header: Sequence[str], rows: Sequence[Sequence[Any]], open_: bool = False) -> list[str]:
    shown = rows[:MAX_TABLE_ROWS]
    lines = [f"<details{' open' if open_ else ''}><summary>{summary}</summary>", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in shown]
    if len(rows) > len(shown):
        lines += ["", f"… {len(rows) - len(shown)} more rows not shown (see the run's artifacts)."]
    return [*lines, "", "</details>", ""]


def data_tests_section(data_tests: Mapping[str, Any] | None) -> list[str]:
    if not data_tests:
        return ["### Data tests", "", "No data test result was given (`mlcd data test` writes one).", ""]
    checks = data_tests.get("checks", [])
    failed = [c for c in checks if c.get("status") == "failed"]
    icon = "✅" if data_tests.get("passed") else "❌"
    summary = data_tests.get("summary", {})
    counts = ", ".join(f"{n} {status}" for status, n in summary.items() if n)
    lines = ["### Data tests", "", f"{icon} `{data_tests.get('data')}`: {data_tests.get('rows')} rows. {counts}.", ""]
    if failed:
        lines += ["| | check | result |", "|---|---|---|"]
        lines += [f"| ❌ | {_cell(c['name'])} | {_cell(c['message'])} |" for c in failed[:MAX_TABLE_ROWS]]
        lines.append("")
    lines += folded_table("Every check", ["", "check", "kind", "result"],
                          [[{"passed": "✅", "failed": "❌"}.get(c["status"], "⏭️"), c["name"], c["kind"], c["message"]]
                           for c in checks])
    drift = data_tests.get("drift", {}).get("columns", [])
    if drift:
        drifted = [d["column"] for d in drift if d.get("drifted")]
        note = f"drifted: {', '.join(drifted)}" if drifted else "no column drifted"
        lines += folded_table(f"Drift against {data_tests['drift'].get('reference') or 'the reference'} ({note})",
                              ["column", "kind", "test", "p (Holm)", "effect", "drifted"],
                              [[d["column"], d["kind"], d.get("test") or "—", _fmt(d.get("adjusted_pvalue")),
                                _effect(d), _drifted(d)] for d in drift])
    return lines


def _fmt(value: Any) -> str:
    return "—" if value is None else f"{value:.3g}"


def _effect(column: Mapping[str, Any]) -> str:
    value = column.get("effect_value")
    return "—" if value is None else f"{str(column.get('effect', '')).upper()} {value:.3f}"


def _drifted(column: Mapping[str, Any]) -> str:
    if column.get("drifted"):
        return "⚠️ yes"
    return "no" if column.get("test") else f"not tested: {column.get('note') or 'no values'}"


def changes_section(comparison: Comparison, model_path: str) -> list[str]:
    if comparison.base is None:
        return []
    lines = ["### What changed since base", ""]
    if comparison.params_changed:
        lines += ["| param | base | head |", "|---|---|---|"]
        lines += [f"| `{k}` | {_cell(a)} | {_cell(b)} |" for k, (a, b) in comparison.params_changed.items()]
        lines.append("")
    else:
        lines += ["No params changed.", ""]
    if comparison.data_changed:
        lines += ["| data | base md5 | head md5 |", "|---|---|---|"]
        lines += [f"| `{path}`{' (model)' if path == model_path else ''} | {_cell(a and a[:10])} | "
                  f"{_cell(b and b[:10])} |" for path, (a, b) in comparison.data_changed.items()]
        lines.append("")
    else:
        lines += ["No data or model outputs changed hashes." if comparison.head.data else "", ""]
    return lines


def _mean(importance: Mapping[str, Any], feature: str) -> float | None:
    value = importance.get(feature, {}).get("mean")
    return float(value) if isinstance(value, (int, float)) else None


def importance_rows(head: Mapping[str, Any], base: Mapping[str, Any] | None,
                    limit: int = IMPORTANCE_ROWS) -> list[tuple[str, float | None, float | None, float | None]]:
    """(feature, base, head, head - base) of the ``limit`` largest changes of mean importance, largest first;
    without a base, the features the head relies on most."""
    rows = []
    for feature in sorted(set(head) | set(base or {})):
        now, before = _mean(head, feature), (_mean(base, feature) if base else None)
        rows.append((feature, before, now, now - before if now is not None and before is not None else None))
    if base:
        rows.sort(key=lambda row: (row[3] is None, -abs(row[3] or 0.0)))  # a feature one model lacks: last
    else:
        rows.sort(key=lambda row: -(row[2] or 0.0))
    return rows[:limit]


def importance_section(importance: Mapping[str, Any] | None) -> list[str]:
    """"What the model relies on": the permutation importance of head and base, largest changes first."""
    if not importance:
        return []
    head, base = importance.get("head"), importance.get("base")
    note = importance.get("note") or ""
    lines = ["### What the model relies on", ""]
    if not head:
        return [*lines, f"Permutation importance {note}.", ""]
    how = (f"Drop in {importance.get('scoring')} when one feature's values are shuffled on the holdout "
           f"({importance.get('rows')} rows, {importance.get('repeats')} repeats, seed {importance.get('seed')})")
    if base:
        lines += [f"{how}: the largest changes since base first.", "",
                  "| feature | base | head | change |", "|---|---:|---:|---:|"]
        for feature, before, now, change in importance_rows(head, base):
            shown = "—" if change is None else ("= 0" if abs(change) < 5e-5 else
                                                  f"{'▲' if change > 0 else '▼'} {change:+.4f}")
            lines.append(f"| `{_cell(feature)}` | {_number(before)} | {_number(now)} | {shown} |")
    else:
        lines += [f"{how}; the head's alone{f' ({note})' if note else ''}.", "", "| feature | head |", "|---|---:|"]
        lines += [f"| `{_cell(feature)}` | {_number(now)} |" for feature, _, now, _ in importance_rows(head, None)]
    more = len(set(head) | set(base or {})) - IMPORTANCE_ROWS
    if more > 0:
        lines += ["", f"{more} more feature(s) in comparison.json."]
    return [*lines, ""]


def slices_section(comparison: Comparison) -> list[str]:
    slices: Mapping[str, Mapping[str, Mapping[str, Any]]] = comparison.head.metrics.get("slices", {})
    gaps: Mapping[str, Mapping[str, Mapping[str, Any]]] = comparison.head.metrics.get("slice_gaps", {})
    if not slices:
        return []
    lines = ["### Slices", ""]
    for column, per_metric in gaps.items():
        for metric, gap in per_metric.items():
            lines.append(f"- `{column}`: largest {metric} gap {gap['gap']:.4f} ({between_groups(gap)})")
    lines.append("")
    metrics = list(comparison.directions)
    for column, groups in slices.items():
        rows = [[group, values.get("n"), *[_number(values.get(m)) for m in metrics]]
                for group, values in groups.items()]
        lines += folded_table(f"Per-group metrics by `{column}`", [column, "rows", *metrics], rows)
    return lines


def history_chart(comparison: Comparison, metric: str) -> list[str]:
    points = [(label, m.get(metric)) for label, m in comparison.history if isinstance(m.get(metric), (int, float))]
    head = comparison.head.metric(metric)
    if head is not None:
        points.append(("head", head))
    if len(points) < 2:
        return []
    values = [float(v) for _, v in points if v is not None]
    low, high = min(values), max(values)
    pad = max((high - low) * 0.1, 0.005)
    labels = ", ".join(f'"{label}"' for label, _ in points)
    return ["### History", "", "```mermaid", "xychart-beta",
            f'  title "{metric} over recent commits"', f"  x-axis [{labels}]",
            f'  y-axis "{metric}" {low - pad:.4f} --> {high + pad:.4f}',
            f"  line [{', '.join(f'{v:.4f}' for v in values)}]", "```", ""]


def links_section(env: Mapping[str, str]) -> list[str]:
    url = run_url(env)
    if url is None:
        return []
    return ["---", f"[Workflow run]({url}) · [artifacts]({url}#artifacts)", ""]


def failure_report(stage: str, data_tests: Mapping[str, Any] | None, model: str, env: Mapping[str, str],
                   limit: int = COMMENT_LIMIT - RESERVED) -> str:
    """The report of a run that stopped before anything could be compared: which stage failed and where to
    read why, and the data tests' result when they ran (failed data tests stop training: they come first)."""
    url = run_url(env)
    where = f"its log is in the [workflow run]({url})" if url else "its log is in the workflow run"
    if data_tests is not None and not data_tests.get("passed"):
        failing = [c for c in data_tests.get("checks", []) if c.get("status") == "failed"]
        lines = [f"## ❌ mlcd: the data tests failed, so {model} was not trained", ""]
        lines += [f"> ❌ **data test {c['name']}**: {c['message']}" for c in failing[:MAX_TABLE_ROWS]]
    else:
        lines = [f"## ❌ mlcd: {stage} failed", "", f"> ❌ **{stage}** of {model} failed; {where}."]
    sections = [[*lines, ""], data_tests_section(data_tests) if data_tests else [], links_section(env)]
    return fit_sections(sections, limit, "the full report is in the run's artifacts")


def render(
    comparison: Comparison, model: str, env: Mapping[str, str], model_path: str = "",
    limit: int = COMMENT_LIMIT - RESERVED, shadow: Sequence[str] = (),
) -> str:
    """The whole report; sections that do not fit are dropped, last first, with a note. ``shadow``: the shadow
    replay's section, after the data tests."""
    first_metric = next(iter(comparison.directions), None)
    sections = [
        headline(comparison, model),
        metrics_table(comparison),
        gates_table(comparison),
        data_tests_section(comparison.data_tests),
        shadow,
        changes_section(comparison, model_path),
        importance_section(comparison.importance),
        slices_section(comparison),
        history_chart(comparison, first_metric) if first_metric else [],
        links_section(env),
    ]
    return fit_sections(sections, limit, "the full report is in the run's artifacts")
