"""The approval evidence for one exact digest, in Markdown: what a reviewer reads before approving a
deployment (the production job writes it to its job summary with ``mlcd promote --plan``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlcd.evaluation.gates import ARROW, worse_by
from mlcd.evaluation.shadow_result import ShadowFile, largest_slice_churn
from mlcd.promotion.plan import Plan
from mlcd.promotion.saga import Outcome
from mlcd.promotion.verify import Parity


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def _change(direction: str, value: float | None, baseline: float | None) -> str:
    if value is None or baseline is None:
        return "—"
    loss = worse_by("lower" if direction == "lower" else "higher", value, baseline)
    if loss == 0:
        return "no change"
    return f"{value - baseline:+.4g} ({'worse' if loss > 0 else 'better'})"


def markdown(plan: Plan, *, parity: Parity | None = None, smoke: Mapping[str, Any] | None = None,
             data_tests: Mapping[str, Any] | None = None, directions: Mapping[str, str] | None = None,
             outcome: Outcome | None = None, shadow: ShadowFile | None = None) -> str:
    """The plan's evidence; with the ``outcome`` of the promotion it led to, the table says what is true
    afterwards (registered, running in the environment) rather than what was about to happen."""
    c = plan.candidate
    env = plan.environment.name
    title = "Rollback" if plan.kind == "rollback" else "Promotion"
    done = outcome is not None and outcome.action != "noop"
    if done:
        verdict = "✅ rolled back" if plan.kind == "rollback" else "✅ promoted"
    else:
        verdict = "❌ refused" if plan.refused else ("⚪ already there" if plan.noop else "✅ ready")
    lines = [f"## {title} of {plan.model} {c.version} to {env}: {verdict}", ""]
    ran = [stage for stage in plan.stages if plan.history.was_in(stage, c.version) or (done and stage == env)]
    before = f"{plan.current.version} (`{plan.current_digest}`)" if plan.current else "nothing recorded"
    if c.registered:
        registered = f"`{c.registered.tag}`"
    elif done:
        registered = f"`{plan.model}@{c.version}` (by this promotion)"
    else:
        registered = f"not yet: becomes `{plan.model}@{c.version}`"
    lines += [
        "| | |", "|---|---|",
        f"| Image | `{c.reference}` |",
        f"| Model sha256 | `{c.model_sha256 or 'unknown'}` |",
        f"| Built from commit | `{c.commit[:12] or 'unknown'}` |",
        f"| Registered | {registered} |",
        f"| Has run in | {', '.join(ran) or 'no environment yet'} |",
        f"| {env} ran before | {before} |" if done else f"| {env} runs now | {before} |",
        "",
    ]
    if plan.problems:
        lines += ["### Why it is refused", ""] + [f"- {_cell(p)}" for p in plan.problems] + [""]
    if plan.notes:
        lines += ["### Notes", ""] + [f"- {_cell(n)}" for n in plan.notes] + [""]
    lines += _metrics(plan, directions or {})
    if plan.gates:
        lines += ["### Gates", "", "| | gate | reason |", "|---|---|---|"]
        lines += [f"| {ARROW[g.verdict]} | {_cell(g.name)} | {_cell(g.reason)} |" for g in plan.gates] + [""]
    lines += _parity(parity, smoke)
    lines += _data_tests(data_tests)
    lines += _shadow(shadow, plan)
    return "\n".join(lines).rstrip("\n") + "\n"


def _metrics(plan: Plan, directions: Mapping[str, str]) -> list[str]:
    metrics = plan.candidate.metrics
    if not metrics:
        return []
    champion = plan.champion or {}
    env = plan.environment.name
    lines = [f"### Metrics against {env}", "", f"| metric | this image | {env} now | change |", "|---|---:|---:|---|"]
    for name, value in metrics.items():
        baseline = champion.get(name)
        lines.append(f"| {name} | {_number(value)} | {_number(baseline)} | "
                     f"{_change(directions.get(name, 'higher'), value, baseline)} |")
    return [*lines, ""]


def _parity(parity: Parity | None, smoke: Mapping[str, Any] | None) -> list[str]:
    lines = ["### Parity", ""]
    if parity is not None:
        if parity.skipped:
            lines.append(f"- deployed endpoint: not checked ({_cell(parity.skipped)})")
        else:
            mark = "✅" if parity.passed else "❌"
            lines.append(f"- {mark} deployed endpoint: {parity.rows} rows, {len(parity.mismatches)} mismatch(es), "
                         f"largest probability gap {parity.largest_proba_gap:.2e}")
    if smoke:
        details = smoke.get("parity") or {}
        mark = "✅" if smoke.get("passed") else "❌"
        lines.append(f"- {mark} `mlcd smoke` of `{_cell(smoke.get('image', '?'))}`: parity on "
                     f"{details.get('rows', '?')} rows, {len(details.get('mismatches') or [])} mismatch(es); "
                     f"latency p50 {(smoke.get('latency_ms') or {}).get('p50', '?')} ms")
    if len(lines) == 2:
        lines.append("- no parity result given (pass `--smoke smoke.json` from `mlcd smoke`)")
    return [*lines, ""]


def _data_tests(data_tests: Mapping[str, Any] | None) -> list[str]:
    if not data_tests:
        return []
    mark = "✅ passed" if data_tests.get("passed") else "❌ failed"
    summary = data_tests.get("summary") or {}
    counts = ", ".join(f"{count} {status}" for status, count in summary.items())
    lines = ["### Data tests", "", f"{mark}" + (f" ({counts})" if counts else "")]
    failed = [c for c in data_tests.get("checks") or [] if isinstance(c, dict) and c.get("status") == "failed"]
    lines += [f"- ❌ {_cell(c.get('name'))}: {_cell(c.get('message'))}" for c in failed[:20]]
    return [*lines, ""]


def _shadow(shadow: ShadowFile | None, plan: Plan) -> list[str]:
    if shadow is None:
        return []
    document = shadow.document
    rate = "n/a" if shadow.rate is None else f"{shadow.rate:.2%}"
    lines = ["### Shadow replay of production traffic", "",
             f"{shadow.rows:,} logged production rows ({_cell(document.get('window') or 'every logged row')}) "
             f"replayed through `{_cell(document.get('candidate') or '?')}`: **{rate}** change prediction "
             f"({shadow.changed:,} of {shadow.rows:,}).", ""]
    gate = next((g for g in plan.gates if g.kind == "prediction_churn"), None)
    if gate is not None:
        lines.append(f"- {ARROW[gate.verdict]} {_cell(gate.name)}: {_cell(gate.reason)}")
    else:
        lines.append("- not gated: set gates.max_prediction_churn in mlcd.yaml to refuse a larger churn")
    largest = largest_slice_churn(document)
    if largest is not None:
        lines.append(f"- largest slice churn: `{_cell(largest.column)}` = {_cell(largest.group)}, "
                     f"{largest.rate:.2%} ({largest.changed:,} of {largest.rows:,})")
    return [*lines, ""]
