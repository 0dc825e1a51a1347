"""The pure parts of promotion: tag names and messages, the record's queries, stage order, gate re-checks,
label checks, the Kubernetes manifests, webhook signatures and the approval evidence."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlcd import record
from mlcd.config import validate_text
from mlcd.config.model import GatesConfig, KubernetesTargetConfig, MetricGate, build_deploy
from mlcd.errors import ConfigError, UsageError
from mlcd.promotion import checks
from mlcd.promotion.targets import Release
from mlcd.promotion.targets.kubernetes import render
from mlcd.promotion.targets.webhook import sign, signature_matches
from mlcd.record import Event, History
from testing.configs import MINIMAL_CONFIG

MODEL = "penguins-classifier"
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64
START = datetime(2025, 1, 1, tzinfo=timezone.utc)


# --- tag names and messages ---------------------------------------------------------------------------


def test_tag_names_follow_gto_and_parse_back() -> None:
    assert record.registration_tag(MODEL, "v1.2.0") == "penguins-classifier@v1.2.0"
    assert record.assignment_tag(MODEL, "production", 3) == "penguins-classifier#production#3"
    assert record.unassignment_tag(MODEL, "production", 4) == "penguins-classifier#production!#4"
    assert record.parse_tag_name("penguins-classifier#production!#4") == record.TagName(
        "unassign", MODEL, None, "production", 4)
    assert record.parse_tag_name("penguins-classifier@v1.2.0") == record.TagName("register", MODEL, "v1.2.0")
    assert record.parse_tag_name("v1.0") is None
    assert record.parse_tag_name("penguins-classifier@deprecated") is None


def test_a_model_name_gto_cannot_tag_is_refused_with_the_fix() -> None:
    with pytest.raises(ConfigError, match="cannot name a GTO artifact") as raised:
        record.check_model_name("penguins.v2")
    assert raised.value.fix and "rename" in raised.value.fix


def test_versions_are_semantic() -> None:
    assert record.normalise_version("1.2.0") == "v1.2.0"
    with pytest.raises(UsageError):
        record.normalise_version("v1.2")


def test_the_message_starts_with_gtos_sentence_and_carries_the_evidence() -> None:
    data = {"digest": DIGEST_A, "metrics": {"accuracy": 0.97}, "approver": "octocat",
            "gates": [{"name": "# not a comment", "verdict": "pass", "reason": "a: b"}]}
    message = record.tag_message(record.summary_line("assign", MODEL, "v1.0.0", "production"), data)
    assert message.startswith(f"Assigning stage production to artifact {MODEL} version v1.0.0\n\nmlcd: 1\n")
    assert record.parse_message(message) == (message.splitlines()[0], data)


def test_a_message_mlcd_did_not_write_has_no_evidence() -> None:
    assert record.parse_message("Registering artifact m version v1.0.0") == (
        "Registering artifact m version v1.0.0", {})
    assert record.parse_message("summary\n\n: not yaml [") == ("summary", {})


# --- the record's queries -----------------------------------------------------------------------------


def _event(action: record.Action, version: str, *, stage: str | None = None, number: int | None = None,
           digest: str | None = None, at: int = 0, commit: str | None = None) -> Event:
    data = {"digest": digest} if digest else {}
    if action == "register":
        tag = record.registration_tag(MODEL, version)
    elif action == "assign":
        tag = record.assignment_tag(MODEL, stage or "", number or 0)
    else:
        tag = record.unassignment_tag(MODEL, stage or "", number or 0)
    return Event(tag, action, MODEL, commit or f"commit-{version}", START + timedelta(seconds=at), "ci", "ci@x",
                 "", data, version, stage, number)


def test_current_previous_and_numbering() -> None:
    history = History(MODEL, (
        _event("register", "v1.0.0", digest=DIGEST_A, at=0),
        _event("assign", "v1.0.0", stage="staging", number=1, at=1),
        _event("assign", "v1.0.0", stage="production", number=2, at=2),
        _event("register", "v1.1.0", digest=DIGEST_B, at=3),
        _event("unassign", "v1.0.0", stage="production", number=3, at=4),
        _event("assign", "v1.1.0", stage="production", number=4, at=5),
    ))
    current = history.current("production")
    assert current is not None and current.version == "v1.1.0"
    assert history.digest_of(current) == DIGEST_B
    previous = history.previous("production")
    assert previous is not None and previous.version == "v1.0.0"
    assert history.was_in("staging", "v1.0.0") and not history.was_in("staging", "v1.1.0")
    assert history.next_number() == 5
    assert history.next_version() == "v1.1.1"
    assert history.by_digest(DIGEST_A) is not None and history.by_digest(DIGEST_A).version == "v1.0.0"
    assert History(MODEL, ()).next_version() == "v0.0.1"


def test_an_unassigned_environment_runs_nothing() -> None:
    history = History(MODEL, (
        _event("register", "v1.0.0", at=0),
        _event("assign", "v1.0.0", stage="staging", number=1, at=1),
        _event("unassign", "v1.0.0", stage="staging", number=2, at=2),
    ))
    assert history.current("staging") is None


@given(st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=12))
def test_the_current_version_is_always_the_last_one_promoted(promoted: list[int]) -> None:
    """Whatever sequence of promotions and rollbacks mlcd records, the record says the last one runs."""
    events = [_event("register", f"v{n}.0.0", at=n) for n in range(1, 5)]
    number, at, running = 1, 10, None
    for n in promoted:
        version = f"v{n}.0.0"
        if running is not None and running != version:
            events.append(_event("unassign", running, stage="production", number=number, at=at))
            number, at = number + 1, at + 1
        if running != version:
            events.append(_event("assign", version, stage="production", number=number, at=at))
            number, at = number + 1, at + 1
        running = version
    history = History(MODEL, tuple(events))
    current = history.current("production")
    assert current is not None and current.version == running
    earlier = [f"v{n}.0.0" for n in promoted if f"v{n}.0.0" != running]
    previous = history.previous("production")
    assert (previous.version if previous else None) == (earlier[-1] if earlier else None)


# --- decisions ----------------------------------------------------------------------------------------


def test_production_only_after_staging() -> None:
    stages = ("staging", "production")
    assert checks.stage_problems(stages, "staging", "v1.0.0", []) == []
    assert checks.stage_problems(stages, "production", "v1.0.0", ["staging"]) == []
    [problem] = checks.stage_problems(stages, "production", "v1.0.0", [])
    assert "v1.0.0 has not run in staging" in problem and "promote it to staging first" in problem
    assert checks.stage_problems(stages, "canary", "v1.0.0", []) == []


GATES = GatesConfig(metrics=(MetricGate("accuracy", min=0.9, max_regression_vs_production=0.02),
                             MetricGate("log_loss", max=0.5)), require_data_tests=False)
DIRECTIONS: dict[str, checks.Direction] = {"accuracy": "higher", "log_loss": "lower"}


def _verdicts(metrics: dict[str, float], champion: dict[str, float] | None, environment: str = "production",
              tolerance: float = 0.0) -> dict[str, str]:
    results = checks.recheck_gates(GATES, DIRECTIONS, metrics, {}, environment=environment, champion=champion,
                                   extra_tolerance=tolerance)
    return {r.name: r.verdict for r in results}


def test_a_regression_against_what_runs_now_beyond_the_limit_fails() -> None:
    verdicts = _verdicts({"accuracy": 0.93, "log_loss": 0.2}, {"accuracy": 0.96})
    assert verdicts["accuracy vs production (max regression 0.02)"] == "fail"
    assert verdicts["accuracy ≥ 0.9"] == "pass"


def test_within_the_limit_or_the_tolerance_passes() -> None:
    assert _verdicts({"accuracy": 0.95, "log_loss": 0.2}, {"accuracy": 0.96})[
        "accuracy vs production (max regression 0.02)"] == "pass"
    assert _verdicts({"accuracy": 0.935, "log_loss": 0.2}, {"accuracy": 0.96}, tolerance=0.01)[
        "accuracy vs production (max regression 0.02)"] == "pass"


def test_the_champion_is_the_model_in_the_target_environment() -> None:
    results = checks.recheck_gates(GATES, DIRECTIONS, {"accuracy": 0.90, "log_loss": 0.2}, {},
                                   environment="staging", champion={"accuracy": 0.97})
    [regression] = [r for r in results if r.kind == "regression_vs_production"]
    assert regression.name == "accuracy vs staging (max regression 0.02)"
    assert regression.verdict == "fail" and "in staging" in regression.reason


def test_no_champion_is_no_baseline_not_a_failure() -> None:
    verdicts = _verdicts({"accuracy": 0.95, "log_loss": 0.2}, None)
    assert verdicts["accuracy vs production (max regression 0.02)"] == "no_baseline"


def test_absolute_gates_still_apply() -> None:
    assert _verdicts({"accuracy": 0.95, "log_loss": 0.7}, None)["log_loss ≤ 0.5"] == "fail"


LABELS = {"dev.mlcd.model.name": MODEL, "dev.mlcd.model.sha256": "c" * 64,
          "dev.mlcd.metrics": json.dumps({"accuracy": 0.97})}


def test_labels_that_match_the_record_pass() -> None:
    assert checks.label_problems(LABELS, model=MODEL, expected_sha256="c" * 64, expected_from="the tag",
                                 recorded_metrics={"accuracy": 0.97}) == []


def test_every_label_mismatch_is_a_reason() -> None:
    problems = checks.label_problems({**LABELS, "dev.mlcd.model.name": "other"}, model=MODEL,
                                     expected_sha256="d" * 64, expected_from="the tag m@v1.0.0",
                                     recorded_metrics={"accuracy": 0.5})
    assert len(problems) == 3
    assert "not 'penguins-classifier'" in problems[0]
    assert "the tag m@v1.0.0 says dddddddddddd" in problems[1]
    assert "differ from the metrics recorded" in problems[2]
    assert len(checks.label_problems({}, model=MODEL, expected_sha256=None, expected_from="",
                                     recorded_metrics=None)) == 3


# --- Kubernetes manifests -----------------------------------------------------------------------------


def _release() -> Release:
    return Release(MODEL, "production", "v1.2.0", f"127.0.0.1:5000/penguins@{DIGEST_A}", DIGEST_A, "c" * 64, 8080)


def test_the_deployment_names_the_image_by_digest_and_never_drops_a_ready_pod() -> None:
    deployment, service = render(_release(), KubernetesTargetConfig(namespace="ml"), name="penguins-production")
    spec = deployment["spec"]
    container = spec["template"]["spec"]["containers"][0]
    assert container["image"].endswith(f"@{DIGEST_A}")
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    assert service["spec"]["selector"] == spec["selector"]["matchLabels"]
    assert service["spec"]["ports"][0]["targetPort"] == "http"


@pytest.mark.parametrize("settings", [KubernetesTargetConfig(),
                                      KubernetesTargetConfig(namespace="ml", replicas=3, image_pull_secret="reg")])
def test_the_manifests_are_valid_kubernetes_objects(settings: KubernetesTargetConfig) -> None:
    import kubernetes_validate

    version = kubernetes_validate.latest_version()
    for manifest in render(_release(), settings, name="penguins-production"):
        kubernetes_validate.validate(manifest, version, strict=True)


def test_an_invalid_manifest_is_caught_by_the_schema() -> None:
    import kubernetes_validate
    from kubernetes_validate.utils import ValidationError

    deployment, _ = render(_release(), KubernetesTargetConfig(), name="penguins-production")
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(ValidationError):
        kubernetes_validate.validate(deployment, kubernetes_validate.latest_version(), strict=True)


# --- webhook signatures -------------------------------------------------------------------------------


def test_a_signature_verifies_only_with_the_same_secret_and_body() -> None:
    body = b'{"digest": "sha256:aa"}'
    header = sign(b"secret", body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert signature_matches(b"secret", body, header)
    assert not signature_matches(b"other", body, header)
    assert not signature_matches(b"secret", body + b" ", header)
    assert not signature_matches(b"secret", body, None)


# --- configuration ------------------------------------------------------------------------------------

CONFIG = MINIMAL_CONFIG + """\
deploy:
  stages: [staging, production]
  environments:
    staging: {target: docker, url: "http://127.0.0.1:8081"}
    production:
      target: webhook
      url: https://models.example.com
      reviewers: [octocat, acme/ml-leads]
      webhook: {url: "https://deploy.example.com/hook"}
"""


def test_the_deploy_section_is_typed_with_defaults() -> None:
    data, problems = validate_text(CONFIG, "mlcd.yaml")
    assert problems == []
    deploy = build_deploy(data["deploy"])
    production = deploy.environments["production"]
    assert production.webhook is not None and production.webhook.secret_env == "MLCD_WEBHOOK_SECRET"
    assert production.branches == ("main",) and production.prevent_self_review
    assert deploy.environments["staging"].docker.ready_timeout == 60.0
    assert deploy.push and deploy.remote == "origin"


@pytest.mark.parametrize(("change", "expected"), [
    ("reviewers: [octocat, acme/ml-leads]", "reviewers: [a, b, c, d, e, f, g]"),
    ('webhook: {url: "https://deploy.example.com/hook"}', "wait_minutes: 1"),
    ("staging: {target: docker", "stag.ing: {target: docker"),
])
def test_invalid_deploy_sections_are_refused(change: str, expected: str) -> None:
    _, problems = validate_text(CONFIG.replace(change, expected), "mlcd.yaml")
    assert problems, expected


def test_evidence_markdown_shows_metrics_against_the_environment_and_reasons(tmp_path: Path) -> None:
    from mlcd.promotion.evidence import markdown
    from mlcd.promotion.plan import Candidate, Plan
    from mlcd.registry import ImageRef, Manifest

    deploy = build_deploy(validate_text(CONFIG, "mlcd.yaml")[0]["deploy"])
    candidate = Candidate(ImageRef("127.0.0.1:5000", "penguins", None, DIGEST_B), Manifest(DIGEST_B, "x", b"{}"),
                          LABELS, "v1.1.0", None, "f" * 40, "c" * 64, {"accuracy": 0.93}, 8080)
    history = History(MODEL, (_event("register", "v1.0.0", digest=DIGEST_A),
                              _event("assign", "v1.0.0", stage="production", number=1, at=1)))
    gates = checks.recheck_gates(GATES, DIRECTIONS, {"accuracy": 0.93}, {}, environment="production",
                                 champion={"accuracy": 0.96})
    plan = Plan("promote", MODEL, deploy.environments["production"], candidate, history, history.current("production"),
                DIGEST_A, {"accuracy": 0.96}, gates, ["gate failed: accuracy"], [], deploy.stages)
    text = markdown(plan, directions=DIRECTIONS)
    assert "## Promotion of penguins-classifier v1.1.0 to production: ❌ refused" in text
    assert f"`127.0.0.1:5000/penguins@{DIGEST_B}`" in text
    assert "| accuracy | 0.93 | 0.96 | -0.03 (worse) |" in text
    assert "- gate failed: accuracy" in text
    assert "| ❌ | accuracy vs production (max regression 0.02) |" in text


def test_evidence_after_the_promotion_says_what_is_true_afterwards() -> None:
    from mlcd.promotion.evidence import markdown
    from mlcd.promotion.plan import Candidate, Plan
    from mlcd.promotion.saga import Outcome
    from mlcd.registry import ImageRef, Manifest

    deploy = build_deploy(validate_text(CONFIG, "mlcd.yaml")[0]["deploy"])
    candidate = Candidate(ImageRef("127.0.0.1:5000", "penguins", None, DIGEST_B), Manifest(DIGEST_B, "x", b"{}"),
                          LABELS, "v1.1.0", None, "f" * 40, "c" * 64, {"accuracy": 0.97}, 8080)
    history = History(MODEL, (_event("register", "v1.0.0", digest=DIGEST_A),
                              _event("assign", "v1.0.0", stage="staging", number=1, at=1)))
    plan = Plan("promote", MODEL, deploy.environments["staging"], candidate, history, history.current("staging"),
                DIGEST_A, {"accuracy": 0.96}, [], [], [], deploy.stages)
    before = markdown(plan, directions=DIRECTIONS)
    assert ": ✅ ready" in before and "| Registered | not yet: becomes `penguins-classifier@v1.1.0` |" in before
    assert "| Has run in | no environment yet |" in before and "| staging runs now | v1.0.0" in before
    after = markdown(plan, directions=DIRECTIONS, outcome=Outcome(plan, "deployed"))
    assert "## Promotion of penguins-classifier v1.1.0 to staging: ✅ promoted" in after
    assert "| Registered | `penguins-classifier@v1.1.0` (by this promotion) |" in after
    assert "| Has run in | staging |" in after and "| staging ran before | v1.0.0" in after
    assert markdown(plan, directions=DIRECTIONS, outcome=Outcome(plan, "noop")) == before
