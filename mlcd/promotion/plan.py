"""The decisions of a promotion or a rollback, made by one pure function of what was read: ``decide(state)``.

``state.gather`` reads a :class:`PromotionState` from the world (the record, the registry, git and this
checkout); :func:`decide` turns it into a :class:`Plan`: which version the image is (or becomes), the
gates against what runs in the environment now, the stage order, and every reason to refuse. Nothing here
reads or writes anything, and nothing here raises for a refusal: ``Plan.problems`` carry them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from mlcd import record
from mlcd.config import Config
from mlcd.config.model import EnvironmentConfig
from mlcd.errors import UsageError
from mlcd.evaluation.gates import FAILING, GateResult, apply_gates
from mlcd.evaluation.shadow_result import ShadowFile
from mlcd.output import Output
from mlcd.packaging.labels import MODEL_SHA256, REVISION
from mlcd.promotion import checks
from mlcd.promotion.targets import Release
from mlcd.record import Event, History, Identity, NewTag
from mlcd.registry import ImageRef, Manifest

Kind = Literal["promote", "rollback"]


@dataclass(frozen=True)
class Candidate:
    image: ImageRef  # at its digest
    manifest: Manifest
    labels: dict[str, str]
    version: str
    registered: Event | None
    commit: str
    model_sha256: str | None
    metrics: dict[str, float]
    port: int

    @property
    def digest(self) -> str:
        return self.manifest.digest

    @property
    def reference(self) -> str:
        return str(self.image)


@dataclass
class Plan:
    kind: Kind
    model: str
    environment: EnvironmentConfig
    candidate: Candidate
    history: History
    current: Event | None
    current_digest: str | None
    champion: dict[str, float] | None
    gates: list[GateResult]
    problems: list[str]
    notes: list[str] = field(default_factory=list)
    stages: tuple[str, ...] = ()

    @property
    def refused(self) -> bool:
        return bool(self.problems)

    @property
    def noop(self) -> bool:
        return self.current_digest == self.candidate.digest

    @property
    def is_production(self) -> bool:
        return bool(self.stages) and self.environment.name == self.stages[-1]

    def release(self) -> Release:
        c = self.candidate
        return Release(self.model, self.environment.name, c.version, c.reference, c.digest, c.model_sha256, c.port)


@dataclass(frozen=True)
class PromotionState:
    """What a promotion decides on, read before anything changes."""

    kind: Kind
    config: Config
    environment: EnvironmentConfig
    history: History
    image: ImageRef  # as asked for, at a digest
    manifest: Manifest
    image_config: Mapping[str, Any]  # the image's OCI config: its labels and environment
    registered: Event | None  # the registration of the image's digest (or of the version asked for)
    register_as: str | None = None  # normalised (v1.2.0)
    local_model_sha256: str | None = None  # of model.path here, read when the image is not registered
    commit: str = ""  # the image's commit in this checkout; "" when its revision label names one it lacks
    metrics_document: Mapping[str, Any] | None = None  # evaluate.metrics_file at that commit
    data_tests_passed: bool | None = None
    shadow: ShadowFile | None = None  # `mlcd shadow`'s replay of production traffic through the candidate

    @property
    def labels(self) -> dict[str, str]:
        return image_labels(self.image_config)


def decide(state: PromotionState) -> Plan:
    """The plan for ``state``; its ``problems`` say why the promotion (or rollback) would be refused."""
    config, history = state.config, state.history
    model, environment = config.model.name, state.environment.name
    labels = state.labels
    problems: list[str] = []
    notes: list[str] = []

    registered = state.registered
    if registered is not None:
        expected, source = registered.model_sha256, f"the tag {registered.tag}"
    else:
        expected, source = state.local_model_sha256, f"{config.model.path} here"
        if expected is None:
            notes.append(f"{config.model.path} is not here: the image's model sha256 is not checked against it")
    problems += checks.label_problems(labels, model=model, expected_sha256=expected, expected_from=source,
                                      recorded_metrics=registered.metrics if registered else None)
    version = _version(state, labels, problems, notes)
    commit = registered.commit if registered is not None else state.commit
    metrics = checks.label_metrics(labels) or {}
    candidate = Candidate(state.image.at(state.manifest.digest), state.manifest, labels, version, registered, commit,
                          labels.get(MODEL_SHA256), metrics, image_port(state.image_config, config.package.port))

    current = history.current(environment)
    current_digest = history.digest_of(current) if current else None
    champion = None
    if current is not None and current_digest != state.manifest.digest:
        registration = history.version(current.version) if current.version else None
        champion = current.metrics or (registration.metrics if registration else None) or None
    gaps = slice_gaps(state.metrics_document, metrics, list(config.metrics)) if commit else {}
    if state.kind == "promote":
        gates = checks.recheck_gates(config.gates, config.metrics, metrics, gaps, environment=environment,
                                     champion=champion, extra_tolerance=config.deploy.tolerance,
                                     data_tests_passed=state.data_tests_passed)
        if state.shadow is not None:
            problems += checks.shadow_problems(state.shadow, labels.get(MODEL_SHA256))
            churn = state.shadow.gate(config.gates.max_prediction_churn)
            gates += [churn] if churn is not None else []
        problems += [f"gate failed: {g.name}: {g.reason}" for g in gates if g.verdict in FAILING]
        ran_in = [stage for stage in config.deploy.stages if history.was_in(stage, version)]
        problems += checks.stage_problems(config.deploy.stages, environment, version, ran_in)
    else:
        gates = apply_gates(config.gates, config.metrics, dict(metrics), gaps, include_regressions=False)
        notes += [f"{g.name} would fail today ({g.reason}); a rollback does not wait for it"
                  for g in gates if g.verdict in FAILING]
        if not history.was_in(environment, version):
            problems.append(f"{version} never ran in {environment}: a rollback returns to a version that ran "
                            f"there; promote it instead")
    return Plan(state.kind, model, state.environment, candidate, history, current, current_digest, champion, gates,
                problems, notes, config.deploy.stages)


def _version(state: PromotionState, labels: Mapping[str, str], problems: list[str], notes: list[str]) -> str:
    """The candidate's version: its registration's, else the one asked for, else GTO's next one."""
    wanted, registered, history = state.register_as, state.registered, state.history
    if registered is not None:
        assert registered.version is not None
        if wanted and wanted != registered.version:
            problems.append(f"this image is registered as {registered.version} already, not {wanted}")
        return registered.version
    version = wanted or history.next_version()
    taken = history.version(version)
    if taken is not None:
        problems.append(f"{version} is registered for another image ({taken.digest}): choose another --register-as")
    revision, commit = labels.get(REVISION), state.commit
    if revision:
        if not commit:
            problems.append(f"the image was built from commit {revision[:12]}, which this checkout does not have "
                            "(fetch the full history: `actions/checkout` with `fetch-depth: 0`)")
    else:
        notes.append(f"the image has no {REVISION} label: {version} is registered at HEAD ({commit[:12]})")
    other = history.version_at(commit) if commit else None
    if other is not None:
        problems.append(f"commit {commit[:12]} is {history.model}@{other.version} already, with image {other.digest}: "
                        f"one version per commit (GTO); promote {other.version}, or build the new model from a new "
                        "commit")
    return version


def image_labels(image_config: Mapping[str, Any]) -> dict[str, str]:
    labels = (image_config.get("config") or {}).get("Labels") or {}
    return {str(k): str(v) for k, v in labels.items()}


def image_port(image_config: Mapping[str, Any], default: int) -> int:
    """The port the image's server listens on: its ``MLCD_PORT``, else ``default`` (package.port)."""
    env = dict(item.split("=", 1) for item in (image_config.get("config") or {}).get("Env") or [] if "=" in item)
    return int(env["MLCD_PORT"]) if env.get("MLCD_PORT", "").isdigit() else default


def slice_gaps(document: Mapping[str, Any] | None, metrics: Mapping[str, float],
               names: list[str]) -> dict[str, tuple[str, float] | None]:
    """Slice gaps from the metrics file at the image's commit, when it holds the same evaluation."""
    if not isinstance(document, dict):
        return {}
    headline = {k: float(v) for k, v in document.items() if k in metrics and isinstance(v, (int, float))}
    if not checks.same_metrics(headline, metrics):
        return {}
    return checks.largest_gaps_of(document, names)


def rollback_version(history: History, environment: str) -> str:
    """The version a rollback returns to when none is named: the newest one promoted to ``environment``
    that is not the one running there now."""
    previous = history.previous(environment)
    if previous is None or not previous.version:
        raise UsageError(f"no earlier version of {history.model} ran in {environment}: nothing to roll back to",
                         fix="name one with --to VERSION, or promote a version")
    return previous.version


def tags_to_record(plan: Plan, identity: Identity, evidence: Mapping[str, Any]) -> list[NewTag]:
    """The GTO tags that record the plan once it serves: the registration of a new version, the
    unassignment of the version it replaces, and the assignment (none when it ran there already)."""
    candidate = plan.candidate
    model, environment = plan.model, plan.environment.name
    new: list[NewTag] = []
    if candidate.registered is None:
        registration = {key: evidence[key] for key in ("image", "digest", "model_sha256", "revision", "metrics",
                                                       "gates", "actor", "run_url") if key in evidence}
        new.append(NewTag(record.registration_tag(model, candidate.version), candidate.commit,
                          record.tag_message(record.summary_line("register", model, candidate.version),
                                             {"version": candidate.version, **registration})))
    number = plan.history.next_number()
    if plan.current is not None and plan.current.version and plan.current.version != candidate.version:
        new.append(NewTag(record.unassignment_tag(model, environment, number), plan.current.commit,
                          record.tag_message(record.summary_line("unassign", model, plan.current.version, environment),
                                             {"kind": plan.kind, "environment": environment,
                                              "version": plan.current.version, "digest": plan.current_digest,
                                              "replaced_by": candidate.version, "actor": identity.name,
                                              "run_url": evidence.get("run_url")})))
        number += 1
    if not plan.noop:
        new.append(NewTag(record.assignment_tag(model, environment, number), candidate.commit,
                          record.tag_message(record.summary_line("assign", model, candidate.version, environment),
                                             dict(evidence))))
    return new


def show_plan(plan: Plan, out: Output) -> None:
    c = plan.candidate
    registered = f"registered as {c.registered.tag}" if c.registered else f"to be registered as {c.version}"
    out.info(f"  image {c.reference} ({registered})")
    out.info(f"  model sha256 {c.model_sha256 or '?'}, built from {c.commit[:12] or '?'}")
    now = f"{plan.current.version} ({plan.current_digest})" if plan.current else "nothing recorded"
    out.info(f"  {plan.environment.name} runs {now}")
    for gate in plan.gates:
        out.info(f"  {gate.verdict.upper():<11} {gate.name}: {gate.reason}")
    for note in plan.notes:
        out.warning(note)
    for problem in plan.problems:
        out.error(problem, title=f"mlcd {plan.kind} refused")
