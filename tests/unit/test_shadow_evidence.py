"""The shadow replay where it is read: the churn gate in a promotion's plan and its approval evidence, and the
section and gate of the pull request's report, from what `mlcd shadow` really wrote."""

from __future__ import annotations

import io
import json
import textwrap
from datetime import datetime, timezone
from pathlib import Path

import pytest

import mlcd.output
from mlcd import record
from mlcd.cli import main
from mlcd.compare.run import Comparison
from mlcd.compare.snapshot import Snapshot
from mlcd.config import Config, validate_text
from mlcd.config.model import build_config
from mlcd.errors import InputError
from mlcd.evaluation.gates import GateResult
from mlcd.evaluation.shadow_result import ShadowFile, largest_slice_churn, read_shadow
from mlcd.model.io import file_sha256
from mlcd.packaging.labels import METRICS, MODEL_NAME, MODEL_SHA256
from mlcd.promotion import evidence
from mlcd.promotion.plan import PromotionState, decide
from mlcd.record import Event, History
from mlcd.registry import ImageRef, Manifest
from mlcd.report.document import report_markdown
from testing.shadow import CONFIG, make_logged_project, save_threshold_model

DIGEST = "sha256:" + "1" * 64
COMMIT = "a" * 40


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> ShadowFile:
    """`mlcd shadow` of a candidate answering x > 1 on traffic production answered with x > 0: about one row
    in ten flips from yes to no."""
    project = make_logged_project(tmp_path_factory.mktemp("shadow"))
    save_threshold_model(project / "models" / "model.skops", 1.0)
    out = project / "shadow.json"
    assert main(["shadow", "--config", str(project / "mlcd.yaml"), "--json", str(out),
                 "--markdown", str(project / "shadow.md")]) == 0
    return read_shadow(out)


def config(limit: float | None) -> Config:
    gates = f"gates: {{max_prediction_churn: {limit}}}\n" if limit is not None else ""
    text = textwrap.dedent(CONFIG) + "metrics: {accuracy: }\n" + gates + textwrap.dedent("""\
        deploy:
          stages: [staging, production]
          push: false
          environments:
            staging: {target: docker, url: "http://127.0.0.1:8081"}
            production: {target: docker, url: "http://127.0.0.1:8082"}
        """)
    raw, problems = validate_text(text, "mlcd.yaml")
    assert problems == []
    return build_config(raw, Path("repository"), "mlcd.yaml")


def state(shadow: ShadowFile, limit: float | None, model_sha256: str) -> PromotionState:
    """A promotion to staging of a registered image that is otherwise fine: only the shadow replay decides."""
    conf = config(limit)
    register = Event(record.registration_tag("demo", "v1.0.0"), "register", "demo", COMMIT,
                     datetime(2025, 1, 1, tzinfo=timezone.utc), "ci", "ci@x", "",
                     {"digest": DIGEST, "model_sha256": model_sha256, "metrics": {"accuracy": 0.95}}, "v1.0.0")
    labels = {MODEL_NAME: "demo", MODEL_SHA256: model_sha256, METRICS: json.dumps({"accuracy": 0.95})}
    return PromotionState("promote", conf, conf.deploy.environments["staging"], History("demo", (register,)),
                          ImageRef("127.0.0.1:5000", "demo", None, DIGEST), Manifest(DIGEST, "m", b"{}"),
                          {"config": {"Labels": labels}}, register, commit=COMMIT, shadow=shadow)


def candidate_sha(shadow: ShadowFile) -> str:
    sha = shadow.model_sha256
    assert sha is not None and sha == file_sha256(Path(shadow.document["candidate"]))
    return sha


def test_the_replay_is_what_the_log_says(replayed: ShadowFile) -> None:
    assert replayed.rows == 1000 and 0.05 < (replayed.rate or 0) < 0.15  # x in (0, 1] of uniform(-5, 5)
    assert replayed.changed == replayed.document["churn"]["confusion"]["yes"]["no"]
    groups = replayed.document["slices"]["plan"]
    worst = max(groups, key=lambda g: groups[g]["rate"])
    largest = largest_slice_churn(replayed.document)
    assert largest is not None and (largest.column, largest.group) == ("plan", worst)
    assert (largest.rows, largest.changed) == (groups[worst]["rows"], groups[worst]["changed"])


def test_a_churn_above_the_limit_refuses_the_plan_with_one_line_naming_the_gate(replayed: ShadowFile) -> None:
    plan = decide(state(replayed, 0.05, candidate_sha(replayed)))
    rate = replayed.rate
    assert rate is not None
    assert plan.problems == [f"gate failed: prediction churn ≤ 0.05: {replayed.changed:,} of 1,000 logged rows "
                             f"({rate:.2%}) change prediction, more than the allowed 5.00%"]
    text = evidence.markdown(plan, shadow=replayed)
    assert text.startswith("## Promotion of demo v1.0.0 to staging: ❌ refused")
    section = text[text.index("### Shadow replay of production traffic"):]
    assert f"1,000 logged production rows (every logged row) replayed through `{replayed.document['candidate']}`: " \
           f"**{rate:.2%}** change prediction ({replayed.changed:,} of 1,000)" in section
    assert "- ❌ prediction churn ≤ 0.05: " in section
    largest = largest_slice_churn(replayed.document)
    assert largest is not None
    assert f"- largest slice churn: `plan` = {largest.group}, {largest.rate:.2%} ({largest.changed:,} of " \
           f"{largest.rows:,})" in section


def test_a_churn_within_the_limit_is_shown_and_not_refused(replayed: ShadowFile) -> None:
    plan = decide(state(replayed, 0.5, candidate_sha(replayed)))
    assert plan.problems == []
    [gate] = [g for g in plan.gates if g.kind == "prediction_churn"]
    assert gate.verdict == "pass" and gate.value == replayed.rate
    text = evidence.markdown(plan, shadow=replayed)
    assert "✅ ready" in text.splitlines()[0] and "- ✅ prediction churn ≤ 0.5: " in text

    ungated = decide(state(replayed, None, candidate_sha(replayed)))
    assert ungated.problems == [] and not [g for g in ungated.gates if g.kind == "prediction_churn"]
    assert "- not gated: set gates.max_prediction_churn" in evidence.markdown(ungated, shadow=replayed)
    assert "### Shadow replay" not in evidence.markdown(ungated)


def test_a_replay_of_another_model_is_no_evidence_for_the_image(replayed: ShadowFile) -> None:
    other = "f" * 64
    plan = decide(state(replayed, 0.5, other))
    [problem] = plan.problems
    assert problem.startswith(f"the shadow replay in {replayed.path} is of model sha256 "
                              f"{candidate_sha(replayed)[:12]}…, but the image serves ffffffffffff…")


def test_a_file_that_is_not_a_shadow_result_is_one_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "shadow.json"
    path.write_text(json.dumps({"passed": True}))
    with pytest.raises(InputError, match=r"shadow.json is not a shadow replay result") as raised:
        read_shadow(path)
    assert "mlcd shadow --json" in (raised.value.fix or "")
    with pytest.raises(InputError, match="does not exist"):
        read_shadow(tmp_path / "missing.json")


# --- the pull request's report ---------------------------------------------------------------------------


def comparison_file(tmp_path: Path) -> Path:
    head = Snapshot("head", None, {"accuracy": 0.95, "n_holdout": 50})
    gates = [GateResult("accuracy ≥ 0.9", "threshold", "pass", "accuracy is 0.95", "accuracy", 0.95, 0.9)]
    path = tmp_path / "comparison.json"
    path.write_text(json.dumps(Comparison(head, None, None, gates, {"accuracy": "higher"}).to_json()))
    return path


def report(tmp_path: Path, shadow: ShadowFile, limit: float | None) -> tuple[str, bool]:
    found = report_markdown(config(limit), comparison_file(tmp_path), {}, shadow_file=shadow.path)
    return found.markdown, found.passed


def test_the_report_fails_the_gates_when_the_churn_is_over_the_limit(tmp_path: Path, replayed: ShadowFile) -> None:
    text, passed = report(tmp_path, replayed, 0.05)
    assert not passed
    assert text.startswith("## ❌ mlcd: 1 of 2 gates failed, 1 passed")
    assert "> ❌ **prediction churn ≤ 0.05**: " in text  # the headline names the failing gate
    section = text[text.index("### Shadow replay of production traffic"):]
    rate = replayed.rate
    assert rate is not None
    assert f"Flip rate **{rate:.2%}**: {replayed.changed:,} of 1,000 rows change label." in section
    confusion = replayed.document["churn"]["confusion"]
    assert f"| yes | {confusion['yes'].get('no', 0):,} | {confusion['yes']['yes']:,} |" in section
    largest = largest_slice_churn(replayed.document)
    assert largest is not None and f"(largest: `plan` = {largest.group}, {largest.rate:.2%})" in section
    first_row = next(line for line in section.splitlines() if line.startswith("| `plan` |"))
    assert first_row.startswith(f"| `plan` | {largest.group} |")  # most churn first


def test_the_report_passes_within_the_limit_and_without_one_only_shows_the_churn(tmp_path: Path,
                                                                                  replayed: ShadowFile) -> None:
    text, passed = report(tmp_path, replayed, 0.5)
    assert passed and text.startswith("## ✅ mlcd: all 2 gates passed")
    assert "| ✅ | prediction churn ≤ 0.5 |" in text
    text, passed = report(tmp_path, replayed, None)
    assert passed and text.startswith("## ✅ mlcd: all 1 gates passed")
    assert "Not gated: set `gates.max_prediction_churn`" in text


def test_report_command_sets_passed_from_every_gate(tmp_path: Path, replayed: ShadowFile,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "mlcd.yaml"
    conf.write_text(textwrap.dedent(CONFIG) + "metrics: {accuracy: }\ngates: {max_prediction_churn: 0.05}\n")
    outputs = tmp_path / "outputs"
    monkeypatch.setattr(mlcd.output, "_default", mlcd.output.Output(io.StringIO(), {"GITHUB_OUTPUT": str(outputs)}))
    assert main(["report", "--config", str(conf), "--comparison", str(comparison_file(tmp_path)),
                 "--output", str(tmp_path / "report.md"), "--shadow", str(replayed.path)]) == 0
    assert "passed=false" in outputs.read_text().splitlines()
    assert "> ❌ **prediction churn ≤ 0.05**" in (tmp_path / "report.md").read_text()
