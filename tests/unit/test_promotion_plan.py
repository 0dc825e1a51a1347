"""A promotion's decisions, ``decide(state) -> Plan``, property-tested over generated records, images and
requests; the tags a plan records; the rollback target; and the saga's order with stand-in targets."""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlcd import record
from mlcd.config import Config, validate_text
from mlcd.config.model import build_config
from mlcd.errors import CheckFailed, DeployFailed, UsageError
from mlcd.evaluation.gates import FAILING
from mlcd.output import Output
from mlcd.packaging.labels import METRICS, MODEL_NAME, MODEL_SHA256, REVISION
from mlcd.promotion.context import Context
from mlcd.promotion.plan import Kind, PromotionState, decide, rollback_version, tags_to_record
from mlcd.promotion.saga import promote
from mlcd.promotion.targets import Deployed, Release
from mlcd.record import Event, History, Identity
from mlcd.registry import ImageRef, Manifest
from testing.configs import MINIMAL_CONFIG

MODEL = "demo"
STAGES = ("staging", "production")
VERSIONS = ("v1.0.0", "v1.1.0", "v1.2.0", "v2.0.0")
START = datetime(2025, 1, 1, tzinfo=timezone.utc)
IDENTITY = Identity("octocat", "octocat@users.noreply.github.com")
CONFIG_TEXT = MINIMAL_CONFIG + """\
metrics:
  accuracy:
gates:
  metrics:
    accuracy: {min: 0.9, max_regression_vs_production: 0.02}
  max_slice_gap: {accuracy: 0.1}
deploy:
  stages: [staging, production]
  push: false
  environments:
    staging: {target: docker, url: "http://127.0.0.1:8081"}
    production: {target: docker, url: "http://127.0.0.1:8082"}
"""


def make_config(root: Path = Path("repository")) -> Config:
    raw, problems = validate_text(CONFIG_TEXT, "mlcd.yaml")
    assert problems == []
    return build_config(raw, root, "mlcd.yaml")


CONFIG = make_config()


def digest(n: int) -> str:
    return "sha256:" + f"{n:x}" * 64


def commit(n: int) -> str:
    return f"{n:x}" * 40


def model_sha(n: int) -> str:
    return "abcdefghij"[n] * 64


def image(n: int) -> ImageRef:
    return ImageRef("127.0.0.1:5000", MODEL, None, digest(n))


def _event(action: record.Action, version: str, at: int, data: Mapping[str, Any], *, stage: str | None = None,
           number: int | None = None, at_commit: str = "") -> Event:
    if action == "register":
        tag = record.registration_tag(MODEL, version)
    elif action == "assign":
        tag = record.assignment_tag(MODEL, stage or "", number or 0)
    else:
        tag = record.unassignment_tag(MODEL, stage or "", number or 0)
    return Event(tag, action, MODEL, at_commit, START + timedelta(seconds=at), "ci", "ci@x", "", dict(data), version,
                 stage, number)


# --- generated records ----------------------------------------------------------------------------------


@st.composite
def histories(draw: st.DrawFn) -> History:
    """Up to four registered versions, promoted to and removed from the stages in any order, recorded the
    way mlcd records them (the version that leaves is unassigned, then the new one assigned)."""
    registered = draw(st.integers(min_value=0, max_value=len(VERSIONS)))
    events: list[Event] = []
    for n in range(registered):
        accuracy = draw(st.floats(min_value=0.8, max_value=1.0))
        events.append(_event("register", VERSIONS[n], n, {"digest": digest(n + 1), "image": str(image(n + 1)),
                                                           "model_sha256": model_sha(n + 1),
                                                           "metrics": {"accuracy": accuracy}},
                             at_commit=commit(n + 1)))
    steps = draw(st.lists(st.tuples(st.sampled_from(STAGES), st.integers(min_value=-1, max_value=registered - 1),
                                    st.booleans()), max_size=10)) if registered else []
    running: dict[str, int | None] = dict.fromkeys(STAGES)
    number, at = 1, 100
    for stage, n, with_evidence in steps:
        now = running[stage]
        if now is not None and now != n:  # n == -1: the environment is emptied
            events.append(_event("unassign", VERSIONS[now], at, {}, stage=stage, number=number,
                                 at_commit=commit(now + 1)))
            number, at = number + 1, at + 1
        if n >= 0 and now != n:
            data = {"digest": digest(n + 1), "metrics": {"accuracy": 0.5 + n / 10}} if with_evidence else {}
            events.append(_event("assign", VERSIONS[n], at, data, stage=stage, number=number,
                                 at_commit=commit(n + 1)))
            number, at = number + 1, at + 1
        running[stage] = n if n >= 0 else None
    return History(MODEL, tuple(events))


FAULTS = ("no name", "other name", "no sha", "other sha", "other metrics", "no metrics")


@st.composite
def states(draw: st.DrawFn) -> PromotionState:
    """A request (promote or roll back, to a stage), the record, and the image the registry holds: mostly
    the image the record says it is, sometimes with a label that says otherwise."""
    history = draw(histories())
    registrations = history.registrations()
    kind: Kind = draw(st.sampled_from(["promote", "rollback"]))
    environment = CONFIG.deploy.environments[draw(st.sampled_from(STAGES))]
    registered = draw(st.sampled_from([None, *registrations]))
    faults = draw(st.sets(st.sampled_from(FAULTS), max_size=2)) if draw(st.integers(0, 3)) == 0 else set()
    accuracy = draw(st.floats(min_value=0.85, max_value=1.0))
    if registered is not None:
        n = VERSIONS.index(registered.version or "") + 1
        at_commit, revision, local_sha = registered.commit, commit(n), None
        accuracy = registered.metrics["accuracy"] if "other metrics" not in faults else accuracy + 0.01
    else:
        n = draw(st.integers(min_value=len(registrations) + 1, max_value=9))
        revision = draw(st.sampled_from([None, commit(n)]))
        # the revision's commit here; "" when this checkout lacks it; HEAD for an image without the label
        at_commit = draw(st.sampled_from([commit(n), commit(1), *([""] if revision else [])]))
        local_sha = draw(st.sampled_from([None, model_sha(n)]))
    labels = {MODEL_NAME: "other" if "other name" in faults else MODEL,
              MODEL_SHA256: model_sha(0) if "other sha" in faults else model_sha(n),
              METRICS: json.dumps({"accuracy": accuracy})}
    for fault, label in (("no name", MODEL_NAME), ("no sha", MODEL_SHA256), ("no metrics", METRICS)):
        if fault in faults:
            del labels[label]
    if revision:
        labels[REVISION] = revision
    image_config = {"config": {"Labels": labels, "Env": draw(st.sampled_from([[], ["MLCD_PORT=9000"]]))}}
    register_as = draw(st.sampled_from([None, None, *VERSIONS, "v3.0.0"]))
    gap = draw(st.floats(min_value=0.0, max_value=0.2))
    headline = draw(st.sampled_from([accuracy, accuracy - 0.05]))
    document = draw(st.sampled_from([None, ["not", "a", "mapping"],
                                     {"accuracy": headline, "slice_gaps": {"island": {"accuracy": {"gap": gap}}}}]))
    return PromotionState(kind, CONFIG, environment, history, image(n), Manifest(digest(n), "m", b"{}"),
                          image_config, registered, register_as, local_sha, at_commit, document,
                          draw(st.sampled_from([True, True, None, False])))


# --- decide ----------------------------------------------------------------------------------------------


@given(states())
def test_decide_always_answers_and_refuses_exactly_when_it_says_why(state: PromotionState) -> None:
    plan = decide(state)
    assert plan.refused == bool(plan.problems)
    assert plan.kind == state.kind and plan.environment == state.environment and plan.stages == STAGES
    assert plan.candidate.digest == state.manifest.digest and plan.candidate.image.digest == state.manifest.digest
    assert plan == decide(state)  # a function of the state alone


@given(states())
def test_a_promotion_is_refused_for_every_failing_gate_and_a_rollback_for_none(state: PromotionState) -> None:
    plan = decide(state)
    failing = [gate for gate in plan.gates if gate.verdict in FAILING]
    if plan.kind == "promote":
        for gate in failing:
            assert f"gate failed: {gate.name}: {gate.reason}" in plan.problems
    else:
        assert not any(problem.startswith("gate failed") for problem in plan.problems)
        for gate in failing:
            assert any(note.startswith(f"{gate.name} would fail today") for note in plan.notes)
        assert not any(gate.kind == "regression_vs_production" for gate in plan.gates)


@given(states())
def test_slice_gaps_come_only_from_the_evaluation_the_image_carries(state: PromotionState) -> None:
    """The gaps in the metrics file at the image's commit count only when its headline metrics are the
    image's own (an image without them is refused for that already)."""
    plan = decide(state)
    [gate] = [gate for gate in plan.gates if gate.kind == "slice_gap"]
    document, metrics = state.metrics_document, plan.candidate.metrics
    if METRICS not in state.labels:
        return
    same = isinstance(document, dict) and bool(plan.candidate.commit) and document["accuracy"] == metrics["accuracy"]
    if not same:
        assert gate.verdict == "no_baseline"
    else:
        assert isinstance(document, dict)
        assert gate.verdict == ("fail" if document["slice_gaps"]["island"]["accuracy"]["gap"] > 0.1 else "pass")


@given(states())
def test_the_version_is_the_registered_one_else_the_one_asked_for_else_the_next(state: PromotionState) -> None:
    plan = decide(state)
    version, history = plan.candidate.version, state.history
    if state.registered is not None:
        assert version == state.registered.version and plan.candidate.commit == state.registered.commit
        if state.register_as and state.register_as != version:
            assert plan.refused
    else:
        assert version == (state.register_as or history.next_version())
        assert plan.candidate.commit == state.commit
        if history.version(version) is not None:
            assert plan.refused  # a version names one image
        if state.commit and history.version_at(state.commit) is not None:
            assert plan.refused  # one version per commit
        if REVISION in state.labels and not state.commit:
            assert plan.refused  # the image's commit must be in this checkout


@given(states())
def test_an_image_that_is_not_the_model_the_record_says_is_refused(state: PromotionState) -> None:
    plan = decide(state)
    labels = state.labels
    expected = state.registered.model_sha256 if state.registered is not None else state.local_model_sha256
    if (labels.get(MODEL_NAME) != MODEL or MODEL_SHA256 not in labels or METRICS not in labels
            or (expected is not None and labels[MODEL_SHA256] != expected)):
        assert plan.refused


@given(states())
def test_a_stage_is_reached_only_from_the_stage_before_it(state: PromotionState) -> None:
    plan = decide(state)
    version = plan.candidate.version
    out_of_order = [problem for problem in plan.problems if "has not run in" in problem]
    if plan.kind == "promote" and plan.environment.name == "production":
        assert bool(out_of_order) == (not state.history.was_in("staging", version))
    else:
        assert out_of_order == []


@given(states())
def test_a_rollback_only_returns_to_a_version_that_ran_there(state: PromotionState) -> None:
    plan = decide(state)
    if plan.kind == "rollback" and not plan.refused:
        assert state.history.was_in(plan.environment.name, plan.candidate.version)


@given(states())
def test_the_champion_is_what_runs_in_the_environment_now(state: PromotionState) -> None:
    plan = decide(state)
    current = state.history.current(plan.environment.name)
    assert plan.current == current
    assert plan.current_digest == (state.history.digest_of(current) if current else None)
    assert plan.noop == (plan.current_digest == plan.candidate.digest)
    if current is None or plan.noop:
        assert plan.champion is None
    else:
        registration = state.history.version(current.version or "")
        assert plan.champion == (current.metrics or (registration.metrics if registration else None) or None)


@given(states())
def test_the_release_is_the_candidate_by_digest_on_the_images_port(state: PromotionState) -> None:
    release = decide(state).release()
    assert release.digest == state.manifest.digest and release.image.endswith(f"@{state.manifest.digest}")
    assert release.port == (9000 if "MLCD_PORT=9000" in state.image_config["config"]["Env"] else 8080)


def test_a_clean_promotion_to_the_next_stage_is_not_refused() -> None:
    register = _event("register", "v1.0.0", 0, {"digest": digest(1), "model_sha256": model_sha(1),
                                                 "metrics": {"accuracy": 0.95}}, at_commit=commit(1))
    staged = _event("assign", "v1.0.0", 1, {"digest": digest(1)}, stage="staging", number=1, at_commit=commit(1))
    labels = {MODEL_NAME: MODEL, MODEL_SHA256: model_sha(1), METRICS: json.dumps({"accuracy": 0.95})}
    state = PromotionState("promote", CONFIG, CONFIG.deploy.environments["production"],
                           History(MODEL, (register, staged)), image(1), Manifest(digest(1), "m", b"{}"),
                           {"config": {"Labels": labels}}, register, commit=commit(1), data_tests_passed=True)
    plan = decide(state)
    assert plan.problems == [] and plan.candidate.version == "v1.0.0" and plan.is_production
    assert not decide(replace(state, environment=CONFIG.deploy.environments["staging"])).refused


# --- what a plan records -------------------------------------------------------------------------------------


@given(states())
def test_the_record_registers_new_versions_replaces_the_current_one_and_assigns(state: PromotionState) -> None:
    plan = decide(state)
    evidence = {"digest": plan.candidate.digest, "run_url": "https://ci/run/1"}
    tags = tags_to_record(plan, IDENTITY, evidence)
    parsed = [record.parse_tag_name(tag.name) for tag in tags]
    assert all(name is not None and name.model == MODEL for name in parsed)
    actions = [name.action for name in parsed if name is not None]
    current = plan.current
    replaces = current is not None and bool(current.version) and current.version != plan.candidate.version
    assert actions == (["register"] * (plan.candidate.registered is None) + ["unassign"] * replaces
                       + ["assign"] * (not plan.noop))
    numbers = [name.number for name in parsed if name is not None and name.number is not None]
    assert numbers == list(range(state.history.next_number(), state.history.next_number() + len(numbers)))
    for tag, name in zip(tags, parsed, strict=True):
        assert name is not None
        if name.action == "unassign":
            assert current is not None and tag.commit == current.commit and name.stage == plan.environment.name
        else:
            assert tag.commit == plan.candidate.commit
        if name.action == "assign":
            assert name.stage == plan.environment.name
            assert record.parse_message(tag.message)[1] == evidence


# --- rollback ------------------------------------------------------------------------------------------------


@given(histories(), st.sampled_from(STAGES))
def test_a_rollback_returns_to_the_newest_earlier_version_that_is_not_the_current(history: History,
                                                                                   stage: str) -> None:
    current = history.current(stage)
    earlier = [e.version for e in history.events if e.stage == stage and e.action == "assign"
               and (current is None or e.version != current.version)]
    if not earlier:
        with pytest.raises(UsageError, match="nothing to roll back to"):
            rollback_version(history, stage)
        return
    version = rollback_version(history, stage)
    assert version == earlier[-1]
    assert current is None or version != current.version
    assert history.was_in(stage, version)


# --- the saga, with stand-ins for the registry and the target ---------------------------------------------------


@dataclass
class StandInRegistry:
    labels: dict[str, str]
    tagged: list[str] = field(default_factory=list)

    def manifest(self, repository: str, reference: str) -> Manifest:
        return Manifest(reference, "application/vnd.oci.image.manifest.v1+json", b"{}")

    def image_config(self, repository: str, manifest: Manifest) -> dict[str, Any]:
        return {"config": {"Labels": self.labels}}

    def tag(self, repository: str, manifest: Manifest, tag: str) -> None:
        self.tagged.append(f"{tag}→{manifest.digest}")


@dataclass
class StandInTarget:
    kind: str = "stand-in"
    running: Deployed | None = None
    fail_verify: bool = False
    calls: list[str] = field(default_factory=list)

    def current(self) -> Deployed | None:
        self.calls.append("current")
        return self.running

    def deploy(self, release: Release, evidence: Mapping[str, Any]) -> Deployed:
        self.calls.append(f"deploy {release.version}")
        self.running = Deployed(self.kind, release.environment, release.digest, release.image, release.version)
        return self.running

    def verify(self, deployed: Deployed) -> None:
        self.calls.append("verify")
        if self.fail_verify:
            raise DeployFailed("the stand-in does not answer")

    def restore(self, previous: Deployed | None, evidence: Mapping[str, Any]) -> None:
        self.calls.append(f"restore {previous.version if previous else None}")
        self.running = previous


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@x", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    git("init", "-q", "-b", "main")
    git("commit", "-q", "--allow-empty", "-m", "first")
    return tmp_path


def _saga(root: Path, labels: dict[str, str], target: StandInTarget) -> tuple[Context, StandInRegistry, list[str]]:
    registry = StandInRegistry(labels)
    made: list[str] = []

    def target_for(model: str, environment: Any, env: Mapping[str, str]) -> StandInTarget:
        made.append(environment.name)
        return target

    env = {"GITHUB_ACTOR": "octocat"}
    ctx = Context(make_config(root), env, Output(io.StringIO(), env), registry_for=lambda host: registry,
                  target_for=target_for)
    return ctx, registry, made


def _labels(root: Path, name: str = MODEL) -> dict[str, str]:
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                          check=True).stdout.strip()
    return {MODEL_NAME: name, MODEL_SHA256: model_sha(1), METRICS: json.dumps({"accuracy": 0.95}), REVISION: head}


def _tags(root: Path) -> list[str]:
    return subprocess.run(["git", "tag", "--list"], cwd=root, capture_output=True, text=True,
                          check=True).stdout.split()


def test_the_saga_deploys_verifies_then_records(repository: Path) -> None:
    target = StandInTarget()
    ctx, registry, _ = _saga(repository, _labels(repository), target)
    outcome = promote(ctx, str(image(1)), "staging", data_tests_passed=True)
    assert outcome.action == "deployed" and outcome.tags == ["demo@v0.0.1", "demo#staging#1"]
    assert target.calls == ["current", "deploy v0.0.1", "verify"]
    assert registry.tagged == [f"staging→{digest(1)}", f"v0.0.1→{digest(1)}"]
    assert sorted(_tags(repository)) == sorted(outcome.tags)
    again = promote(ctx, "v0.0.1", "staging", data_tests_passed=True)  # it runs there already
    assert again.action == "noop" and target.calls[-1] == "current" and len(_tags(repository)) == 2


def test_a_refused_plan_never_reaches_the_target_or_the_registry(repository: Path) -> None:
    target = StandInTarget()
    ctx, registry, made = _saga(repository, _labels(repository, name="another-model"), target)
    with pytest.raises(CheckFailed, match="refused for 1 reason"):
        promote(ctx, str(image(1)), "staging", data_tests_passed=True)
    assert made == [] and target.calls == [] and registry.tagged == [] and _tags(repository) == []


def test_a_failed_verification_restores_what_ran_and_records_nothing(repository: Path) -> None:
    target = StandInTarget(fail_verify=True)
    ctx, _, _ = _saga(repository, _labels(repository), target)
    with pytest.raises(DeployFailed, match="was restored: the stand-in does not answer"):
        promote(ctx, str(image(1)), "staging", data_tests_passed=True)
    assert target.calls == ["current", "deploy v0.0.1", "verify", "restore None"]
    assert target.running is None and _tags(repository) == []
