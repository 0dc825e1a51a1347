"""Gated promotion of one image, by digest, to one environment; and rollback, which is the same road back.

A promotion, in order — nothing changes before step 4, and every failure after it puts the previous
version back and records a failed deployment:

1. **Plan** (read-only): which image (a version, a digest, or ``deploy/<env>.yaml``); the registry's
   manifest must have that digest and labels naming this model, with the model sha256 and metrics the
   record (or this checkout) expects; the stage order (``deploy.stages``); the gates on the image's
   recorded metrics, regression gates measured against what runs in the environment now.
2. **Lock** the environment (here and on the remote): one promotion per environment at a time.
3. **GitHub Deployment** created (queued), when a token is present.
4. **Retag** in the registry: ``<environment>`` and the version point at the digest.
5. **Deploy** through the environment's target, which returns once the new version serves.
6. **Verify**: the target's own check, the endpoint serves this model, and parity with the model file
   (when the file is here).
7. **Record**: the GTO tags (register, unassign the old version, assign the new) pushed atomically.
8. **Deployment success**; earlier deployments of the environment marked inactive.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from mlcd.actions_context import run_url
from mlcd.config import Config
from mlcd.config.model import EnvironmentConfig
from mlcd.errors import CheckFailed, ConfigError, DeployFailed, InputError, MlcdError, UsageError
from mlcd.evaluation.gates import FAILING, GateResult, apply_gates
from mlcd.github.client import GitHubClient
from mlcd.model.io import file_sha256
from mlcd.output import Output
from mlcd.packaging.labels import MODEL_SHA256, REVISION
from mlcd.promotion import checks, record
from mlcd.promotion.github import DeploymentLog, approver
from mlcd.promotion.lock import promotion_lock
from mlcd.promotion.record import Event, History, Identity, NewTag
from mlcd.promotion.registry import ImageRef, Manifest, NotInRegistry, Registry, is_digest, parse_reference
from mlcd.promotion.targets import Deployed, DeployTarget, Release, make_target
from mlcd.promotion.verify import Parity, deployed_parity

Kind = Literal["promote", "rollback"]
DEPLOY_DIR = "deploy"


# --- what is promoted -------------------------------------------------------------------------------


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


@dataclass
class Context:
    """What a promotion talks to; tests swap any of it."""

    config: Config
    env: Mapping[str, str]
    out: Output
    registry_for: Callable[[str], Registry] | None = None
    target_for: Callable[[str, EnvironmentConfig, Mapping[str, str]], DeployTarget] = make_target
    github: GitHubClient | None = None
    repo: str | None = None

    @classmethod
    def create(cls, config: Config, env: Mapping[str, str], out: Output) -> Context:
        repo = env.get("GITHUB_REPOSITORY") or None
        client = GitHubClient.from_env(env) if env.get("GITHUB_TOKEN") and repo else None
        return cls(config, env, out, github=client, repo=repo)

    def registry(self, host: str) -> Registry:
        return self.registry_for(host) if self.registry_for else Registry(host, env=self.env)

    @property
    def root(self) -> Path:
        return self.config.root


def environment_config(config: Config, name: str) -> EnvironmentConfig:
    environments = config.deploy.environments
    if name not in environments:
        known = ", ".join(environments) or "none"
        raise ConfigError(f"environment '{name}' is not in deploy.environments of {config.source} (known: {known})",
                          fix=f"add `{name}: {{target: docker, url: http://127.0.0.1:8081}}` under "
                              "deploy.environments")
    record.check_stage_name(name)
    return environments[name]


@dataclass(frozen=True)
class NotConfigured:
    """An environment ``deploy.environments`` does not name: what to say, and the settings to add."""

    message: str
    snippet: str

    def markdown(self) -> str:
        return (f"## Not promoted\n\n{self.message}\n\nTo deploy, add to `mlcd.yaml` (see mlcd's "
                f"docs/promotion.md for the targets: docker, kubernetes, webhook):\n\n```yaml\n{self.snippet}```\n")


def not_configured(config: Config, environment: str, image: str | None = None) -> NotConfigured | None:
    """Why nothing is promoted to ``environment`` when mlcd.yaml does not configure it (a new repository's
    mlcd.yaml has no ``deploy:``); None when it does."""
    environments = config.deploy.environments
    if environment in environments:
        return None
    source = os.path.relpath(config.source)
    source = config.source if source.startswith("..") else source  # mlcd.yaml, not the runner's work path
    where = (f"deploy.environments of {source} has no '{environment}' (it has {', '.join(environments)})"
             if environments else f"{source} has no deploy.environments")
    names = list(dict.fromkeys([*config.deploy.stages, environment]))
    lines = ["deploy:", f"  stages: [{', '.join(config.deploy.stages)}]", "  environments:"]
    lines += [f"    {name}: {{target: docker, url: \"http://127.0.0.1:{8081 + i}\"}}" for i, name in enumerate(names)
              if name not in environments]
    built = f"the image {image} is built and pushed" if image else "the image is built and pushed"
    message = (f"{built}, and not promoted to {environment}: {where}; add `{environment}` under "
               f"deploy.environments (a target: docker, kubernetes or webhook, and its url) to deploy it")
    return NotConfigured(message, "\n".join(lines) + "\n")


def deploy_file(config: Config, environment: str) -> Path:
    return config.resolve(f"{DEPLOY_DIR}/{environment}.yaml")


def check_subject(what: str | None) -> None:
    """A UsageError when ``what`` is neither a version (v1.2.0) nor a digest (sha256:…, IMAGE@sha256:…)."""
    if what is None:
        return
    text = what.strip().split("@", 1)[-1] if "@sha256:" not in what else what
    if not (is_digest(text) or "@sha256:" in text):
        record.normalise_version(text)


def resolve_subject(config: Config, what: str | None, environment: str, history: History) -> tuple[ImageRef,
                                                                                                     Event | None]:
    """The image (at a digest) that ``what`` names — a version, a digest, an image@digest, or, when None,
    the digest in ``deploy/<environment>.yaml`` — and its registration, if it has one."""
    if what is None:
        path = deploy_file(config, environment)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise InputError(f"cannot read {path}: {exc}",
                             fix=f"name the version or digest to promote, or write {DEPLOY_DIR}/{environment}.yaml "
                                 "with `mlcd promote … --via-pr`") from None
        image = data.get("image") if isinstance(data, dict) else None
        if not isinstance(image, str) or "@sha256:" not in image:
            raise InputError(f"{path} has no `image: registry/repository@sha256:…`",
                             fix="write it with `mlcd promote DIGEST --to ENV --via-pr`")
        what = image
    text = what.strip().removeprefix(f"{config.model.name}@")
    if is_digest(text):
        if not config.package.image:
            raise ConfigError("a bare digest needs the image repository: package.image is not set",
                              fix="set package.image in mlcd.yaml, or pass registry/repository@sha256:…")
        ref = parse_reference(config.package.image).at(text)
        return ref, history.by_digest(text)
    if "@sha256:" in text:
        ref = parse_reference(text)
        assert ref.digest is not None
        return ref, history.by_digest(ref.digest)
    version = record.normalise_version(text)
    registered = history.version(version)
    if registered is None:
        raise UsageError(f"{config.model.name}@{version} is not registered (no tag {config.model.name}@{version})",
                         fix="promote the image by digest (sha256:…) to register it, with --register-as to name it")
    if not registered.digest or not registered.image:
        raise InputError(f"{registered.tag} does not record an image digest: it was not written by mlcd",
                         fix="promote the image by digest instead")
    return parse_reference(registered.image).at(registered.digest), registered


def _resolve_commit(root: Path, revision: str) -> str | None:
    result = record.git(root, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}", check=False)
    return result.stdout.strip() or None


def _image_port(image_config: Mapping[str, Any], default: int) -> int:
    env = dict(item.split("=", 1) for item in (image_config.get("config") or {}).get("Env") or [] if "=" in item)
    return int(env["MLCD_PORT"]) if env.get("MLCD_PORT", "").isdigit() else default


def _slice_gaps(config: Config, commit: str, metrics: Mapping[str, float]) -> dict[str, tuple[str, float] | None]:
    """Slice gaps from the metrics file at the image's commit, when it holds the same evaluation."""
    shown = record.git(config.root, "show", f"{commit}:{config.evaluate.metrics_file}", check=False)
    try:
        document = json.loads(shown.stdout) if shown.returncode == 0 else None
    except json.JSONDecodeError:
        document = None
    if not isinstance(document, dict):
        return {}
    headline = {k: float(v) for k, v in document.items() if k in metrics and isinstance(v, (int, float))}
    if not checks.same_metrics(headline, metrics):
        return {}
    return checks.largest_gaps_of(document, list(config.metrics))


def plan(ctx: Context, what: str | None, environment_name: str, *, kind: Kind = "promote",
         register_as: str | None = None, data_tests_passed: bool | None = None) -> Plan:
    """Everything a promotion checks before it changes anything; ``problems`` say why it would be refused."""
    config = ctx.config
    model = config.model.name
    record.check_model_name(model)
    environment = environment_config(config, environment_name)
    history = History.read(ctx.root, model)
    ref, registered = resolve_subject(config, what, environment_name, history)
    assert ref.digest is not None
    registry = ctx.registry(ref.registry)
    try:
        manifest = registry.manifest(ref.repository, ref.digest)
        image_config = registry.image_config(ref.repository, manifest)
    except NotInRegistry as exc:  # the registry answered: the image is not what was asked for
        raise CheckFailed(f"{kind} to {environment_name} refused: {exc.message}", failures=[exc.message],
                          fix=exc.fix) from None
    labels = {str(k): str(v) for k, v in ((image_config.get("config") or {}).get("Labels") or {}).items()}
    problems: list[str] = []
    notes: list[str] = []

    if registered is not None:
        expected, source = registered.model_sha256, f"the tag {registered.tag}"
    else:
        model_file = config.resolve(config.model.path)
        expected = file_sha256(model_file) if model_file.is_file() else None
        source = f"{config.model.path} here"
        if expected is None:
            notes.append(f"{config.model.path} is not here: the image's model sha256 is not checked against it")
    problems += checks.label_problems(labels, model=model, expected_sha256=expected, expected_from=source,
                                      recorded_metrics=registered.metrics if registered else None)
    version, commit = _version_and_commit(ctx.root, history, registered, labels, register_as, problems, notes)
    metrics = checks.label_metrics(labels) or {}
    candidate = Candidate(ref.at(manifest.digest), manifest, labels, version, registered, commit,
                          labels.get(MODEL_SHA256), metrics, _image_port(image_config, config.package.port))

    current = history.current(environment_name)
    current_digest = history.digest_of(current) if current else None
    champion = None
    if current is not None and current_digest != manifest.digest:
        registration = history.version(current.version) if current.version else None
        champion = current.metrics or (registration.metrics if registration else None) or None
    gaps = _slice_gaps(config, commit, metrics) if commit else {}
    if kind == "promote":
        gates = checks.recheck_gates(config.gates, config.metrics, metrics, gaps, environment=environment_name,
                                     champion=champion, extra_tolerance=config.deploy.tolerance,
                                     data_tests_passed=data_tests_passed)
        problems += [f"gate failed: {g.name}: {g.reason}" for g in gates if g.verdict in FAILING]
        ran_in = [stage for stage in config.deploy.stages if history.was_in(stage, version)]
        problems += checks.stage_problems(config.deploy.stages, environment_name, version, ran_in)
    else:
        gates = apply_gates(config.gates, config.metrics, dict(metrics), gaps, include_regressions=False)
        notes += [f"{g.name} would fail today ({g.reason}); a rollback does not wait for it"
                  for g in gates if g.verdict in FAILING]
        if not history.was_in(environment_name, version):
            problems.append(f"{version} never ran in {environment_name}: a rollback returns to a version that ran "
                            f"there; promote it instead")
    return Plan(kind, model, environment, candidate, history, current, current_digest, champion, gates, problems,
                notes, config.deploy.stages)


def _version_and_commit(root: Path, history: History, registered: Event | None, labels: Mapping[str, str],
                        register_as: str | None, problems: list[str], notes: list[str]) -> tuple[str, str]:
    wanted = record.normalise_version(register_as) if register_as else None
    if registered is not None:
        assert registered.version is not None
        if wanted and wanted != registered.version:
            problems.append(f"this image is registered as {registered.version} already, not {wanted}")
        return registered.version, registered.commit
    version = wanted or history.next_version()
    taken = history.version(version)
    if taken is not None:
        problems.append(f"{version} is registered for another image ({taken.digest}): choose another --register-as")
    revision = labels.get(REVISION)
    if revision:
        commit = _resolve_commit(root, revision) or ""
        if not commit:
            problems.append(f"the image was built from commit {revision[:12]}, which this checkout does not have "
                            "(fetch the full history: `actions/checkout` with `fetch-depth: 0`)")
    else:
        commit = record.git(root, "rev-parse", "HEAD").stdout.strip()
        notes.append(f"the image has no {REVISION} label: {version} is registered at HEAD ({commit[:12]})")
    other = history.version_at(commit) if commit else None
    if other is not None:
        problems.append(f"commit {commit[:12]} is {history.model}@{other.version} already, with image {other.digest}: "
                        f"one version per commit (GTO); promote {other.version}, or build the new model from a new "
                        "commit")
    return version, commit


# --- doing it ---------------------------------------------------------------------------------------


@dataclass
class Outcome:
    plan: Plan
    action: Literal["deployed", "noop", "repaired"]
    deployed: Deployed | None = None
    tags: list[str] = field(default_factory=list)
    parity: Parity | None = None
    deployment_url: str | None = None
    approver: str | None = None


def evidence_data(plan: Plan, *, approved_by: str | None, actor: str, url: str | None,
                  previous: Deployed | None) -> dict[str, Any]:
    c = plan.candidate
    data: dict[str, Any] = {
        "kind": plan.kind, "environment": plan.environment.name, "version": c.version, "image": c.reference,
        "digest": c.digest, "model_sha256": c.model_sha256, "revision": c.commit, "metrics": c.metrics,
        "gates": [{"name": g.name, "verdict": g.verdict, "reason": g.reason} for g in plan.gates],
        "approver": approved_by, "actor": actor, "run_url": url, "target": plan.environment.target,
    }
    if previous is not None:
        data["previous"] = {"version": previous.version, "digest": previous.digest}
    return {k: v for k, v in data.items() if v not in (None, [], {})}


def promote(ctx: Context, what: str | None, environment: str, *, kind: Kind = "promote",
            register_as: str | None = None, data_tests_passed: bool | None = None,
            parity_golden: Path | None = None, require_parity: bool = False) -> Outcome:
    config, out = ctx.config, ctx.out
    environment_config(config, environment)  # an environment mlcd.yaml does not name is refused before any lock
    push = config.deploy.push
    remote = config.deploy.remote
    record.check_repository(ctx.root, remote if push else None, config.source)
    check_subject(what)  # a version or digest that cannot be one is refused before any lock
    identity = Identity.detect(ctx.root, ctx.env)
    url = run_url(ctx.env)
    holder = {"actor": identity.name, "run_url": url or "", "version": what or f"{DEPLOY_DIR}/{environment}.yaml"}
    with promotion_lock(ctx.root, config.model.name, environment, holder, remote=remote if push else None):
        if push:
            record.fetch_tags(ctx.root, remote, config.model.name)
        with out.group(f"Plan: {what or 'deploy/' + environment + '.yaml'} → {environment}"):
            the_plan = plan(ctx, what, environment, kind=kind, register_as=register_as,
                            data_tests_passed=data_tests_passed)
            show_plan(the_plan, out)
        if the_plan.refused:
            raise CheckFailed(f"{kind} of {the_plan.candidate.version} to {environment} refused for "
                              f"{len(the_plan.problems)} reason(s), each above", failures=the_plan.problems)
        target = ctx.target_for(config.model.name, the_plan.environment, ctx.env)
        running = target.current()
        if the_plan.noop and running is not None and running.digest == the_plan.candidate.digest:
            out.success(f"{environment} already runs {the_plan.candidate.version} ({the_plan.candidate.digest}): "
                        "nothing to do")
            return Outcome(the_plan, "noop", running)
        return _execute(ctx, the_plan, target, running, identity, url, parity_golden, require_parity)


def _previous(plan: Plan, running: Deployed | None) -> Deployed | None:
    """What to put back on failure: what runs now, as the target reports it, else as the record says."""
    if running is not None:
        return running
    if plan.current is None or plan.current_digest is None:
        return None
    registration = plan.history.version(plan.current.version) if plan.current.version else None
    image = plan.current.image or (registration.image if registration else None)
    if not image:
        return None
    base = image.split("@")[0]
    return Deployed(plan.environment.target, plan.environment.name, plan.current_digest,
                    f"{base}@{plan.current_digest}", plan.current.version, plan.environment.url,
                    {"model_sha256": plan.current.model_sha256 or ""})


def _execute(ctx: Context, plan: Plan, target: DeployTarget, running: Deployed | None, identity: Identity,
             url: str | None, parity_golden: Path | None, require_parity: bool) -> Outcome:
    out = ctx.out
    candidate = plan.candidate
    environment = plan.environment.name
    previous = _previous(plan, running)
    approved_by = _approver(ctx, environment)
    evidence = evidence_data(plan, approved_by=approved_by, actor=identity.name, url=url, previous=previous)
    log = _deployment_log(ctx, environment, url)
    if log is not None:
        with out.group("GitHub Deployment"):
            log.create(candidate.commit or candidate.digest, {"digest": candidate.digest, "version": candidate.version,
                                                               "image": candidate.reference, "kind": plan.kind},
                       f"mlcd {plan.kind} {candidate.version} to {environment}", production=plan.is_production)
            out.info(f"  deployment {log.id} queued")
    registry = ctx.registry(candidate.image.registry)
    with out.group(f"Retag {candidate.image.name}: {environment}, {candidate.version} → {candidate.digest[:19]}…"):
        try:
            for tag in (environment, candidate.version):
                registry.tag(candidate.image.repository, candidate.manifest, tag)
        except MlcdError as exc:
            _status(log, out, "failure", f"retag failed: {exc.message}")
            raise
    _status(log, out, "in_progress", f"deploying {candidate.version} with {plan.environment.target}")
    release = plan.release()
    try:
        with out.group(f"Deploy {candidate.version} to {environment} ({plan.environment.target})", ticker=True):
            deployed = target.deploy(release, evidence)
    except MlcdError as exc:
        _restore_registry_tag(ctx, plan, previous, out)
        _status(log, out, "failure", f"deploy failed: {exc.message}")
        raise DeployFailed(f"{plan.kind} of {candidate.version} to {environment} failed, and "
                           f"{_name(previous)} still serves: {exc.message}", fix=exc.fix) from None
    parity: Parity | None = None
    tags: list[str] = []
    try:
        with out.group(f"Verify {environment}"):
            target.verify(deployed)
            out.info(f"  {deployed.url or environment} is ready and serves model {str(candidate.model_sha256)[:12]}")
            parity = _parity(ctx, deployed, candidate, parity_golden, require_parity)
        with out.group("Record the promotion (git tags)"):
            tags = _record(ctx, plan, identity, evidence)
    except MlcdError as exc:
        with out.group(f"Restore {_name(previous)} in {environment}"):
            try:
                target.restore(previous, {**evidence, "reason": exc.message})
            except MlcdError as restore_failure:
                _status(log, out, "failure", f"failed, and restoring failed: {restore_failure.message}")
                raise DeployFailed(f"{environment}: {candidate.version} failed ({exc.message}) and restoring "
                                   f"{_name(previous)} failed too: {restore_failure.message}",
                                   fix=f"restore by hand: `mlcd rollback {environment}`") from None
            _restore_registry_tag(ctx, plan, previous, out)
        _status(log, out, "failure", f"rolled back: {exc.message}")
        raise DeployFailed(f"{plan.kind} of {candidate.version} to {environment} failed after deploying, and "
                           f"{_name(previous)} was restored: {exc.message}", fix=exc.fix) from None
    _status(log, out, "success", f"{candidate.version} serves in {environment}", deployed.url)
    if log is not None:
        try:
            log.supersede()
        except MlcdError as exc:
            out.warning(f"could not mark earlier deployments inactive: {exc.message}")
    action: Literal["deployed", "repaired"] = "repaired" if plan.noop else "deployed"
    out.success(f"{environment} now runs {plan.model} {candidate.version} ({candidate.digest})"
                + (f" at {deployed.url}" if deployed.url else ""))
    return Outcome(plan, action, deployed, tags, parity, log.url if log else None, approved_by)


def _name(deployed: Deployed | None) -> str:
    if deployed is None:
        return "nothing (the environment was empty)"
    return deployed.version or deployed.digest


def _approver(ctx: Context, environment: str) -> str | None:
    run_id = ctx.env.get("GITHUB_RUN_ID")
    if ctx.github is None or ctx.repo is None or not run_id:
        return None
    try:
        return approver(ctx.github, ctx.repo, run_id, environment)
    except MlcdError as exc:
        ctx.out.warning(f"could not read who approved the deployment: {exc.message}")
        return None


def _deployment_log(ctx: Context, environment: str, url: str | None) -> DeploymentLog | None:
    if ctx.github is None or ctx.repo is None:
        ctx.out.info("  no GITHUB_TOKEN and GITHUB_REPOSITORY: no GitHub Deployment is recorded")
        return None
    return DeploymentLog(ctx.github, ctx.repo, environment, log_url=url)


def _status(log: DeploymentLog | None, out: Output, state: str, description: str,
            environment_url: str | None = None) -> None:
    if log is None:
        return
    try:
        log.status(state, description, environment_url)
    except MlcdError as exc:
        out.warning(f"could not set the GitHub deployment to {state}: {exc.message}")


def _restore_registry_tag(ctx: Context, plan: Plan, previous: Deployed | None, out: Output) -> None:
    if previous is None:
        return
    candidate = plan.candidate
    try:
        registry = ctx.registry(candidate.image.registry)
        manifest = registry.manifest(candidate.image.repository, previous.digest)
        registry.tag(candidate.image.repository, manifest, plan.environment.name)
    except MlcdError as exc:
        out.warning(f"the registry tag {plan.environment.name} still names {candidate.digest}: {exc.message}")


def _model_file(ctx: Context, candidate: Candidate) -> Path | None:
    """The model file to score offline: model.path when it is the candidate's (a promotion right after its
    build), else the one inside the candidate's image (a rollback to a version trained long ago)."""
    local = ctx.config.resolve(ctx.config.model.path)
    if candidate.model_sha256 is None or (local.is_file() and file_sha256(local) == candidate.model_sha256):
        return None
    from mlcd.packaging.image_model import copy_model_out

    try:
        copied = copy_model_out(str(candidate.image), candidate.model_sha256,
                                Path(tempfile.mkdtemp(prefix="mlcd-parity-")))
    except MlcdError as exc:
        ctx.out.warning(f"the model file of {candidate.version} is not here, and copying it out of its image "
                        f"failed: {exc.one_line()}")
        return None
    ctx.out.info(f"  parity: scoring with {candidate.version}'s model file, copied out of {candidate.image}")
    return copied


def _parity(ctx: Context, deployed: Deployed, candidate: Candidate, golden: Path | None, required: bool) -> Parity:
    out = ctx.out
    if not deployed.url:
        result = Parity(skipped="the environment has no url to score through")
    elif not candidate.model_sha256:
        result = Parity(skipped="the image does not say which model it serves")
    else:
        result = deployed_parity(ctx.config, deployed.url, candidate.model_sha256, golden=golden,
                                 model_path=_model_file(ctx, candidate))
    if result.skipped:
        if required:
            raise CheckFailed(f"parity could not run: {result.skipped}", fix="run the promotion where the model file "
                              "is (e.g. after `dvc pull` at the image's commit), or drop --require-parity")
        out.warning(f"parity not checked: {result.skipped}")
        return result
    if result.mismatches:
        shown = "; ".join(result.mismatches[:5])
        raise CheckFailed(f"{deployed.url} scores {len(result.mismatches)} value(s) differently from the model file "
                          f"({result.rows} rows): {shown}")
    out.info(f"  parity: {result.rows} rows scored identically (largest probability gap "
             f"{result.largest_proba_gap:.2g})")
    return result


def _record(ctx: Context, plan: Plan, identity: Identity, evidence: Mapping[str, Any]) -> list[str]:
    candidate = plan.candidate
    model, environment = plan.model, plan.environment.name
    history = plan.history
    new: list[NewTag] = []
    if candidate.registered is None:
        registration = {key: evidence[key] for key in ("image", "digest", "model_sha256", "revision", "metrics",
                                                       "gates", "actor", "run_url") if key in evidence}
        new.append(NewTag(record.registration_tag(model, candidate.version), candidate.commit,
                          record.tag_message(record.summary_line("register", model, candidate.version),
                                             {"version": candidate.version, **registration})))
    number = history.next_number()
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
    names = [tag.name for tag in new]
    record.create_tags(ctx.root, new, identity, history.latest_time())
    if ctx.config.deploy.push and names:
        try:
            record.push_tags(ctx.root, ctx.config.deploy.remote, names)
        except MlcdError:
            record.delete_local_tags(ctx.root, names)
            raise
    for name in names:
        ctx.out.info(f"  {name}")
    return names


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


# --- rollback and the promotion pull request --------------------------------------------------------


def rollback_target(ctx: Context, environment: str, to: str | None) -> str:
    """The version a rollback returns to: the one named, else the one that ran before the current one."""
    environment_config(ctx.config, environment)
    record.check_repository(ctx.root, ctx.config.deploy.remote if ctx.config.deploy.push else None, ctx.config.source)
    if to:
        check_subject(to)
        return to
    if ctx.config.deploy.push:
        record.fetch_tags(ctx.root, ctx.config.deploy.remote, ctx.config.model.name)
    history = History.read(ctx.root, ctx.config.model.name)
    previous = history.previous(environment)
    if previous is None or not previous.version:
        raise UsageError(f"no earlier version of {ctx.config.model.name} ran in {environment}: nothing to roll back to",
                         fix="name one with --to VERSION, or promote a version")
    return previous.version


def deploy_document(plan: Plan) -> str:
    c = plan.candidate
    data = {"environment": plan.environment.name, "model": plan.model, "version": c.version, "image": c.reference,
            "digest": c.digest, "model_sha256": c.model_sha256}
    head = (f"# Written by `mlcd promote --via-pr`: merging this change promotes the image below to "
            f"{plan.environment.name}\n# (the promotion workflow runs `mlcd promote --to {plan.environment.name}`, "
            f"which reads this file).\n")
    return head + yaml.safe_dump(data, sort_keys=False)


def push_promotion_branch(ctx: Context, plan: Plan, base: str) -> str:
    """A commit on ``base`` that writes ``deploy/<env>.yaml``, pushed as ``mlcd/promote-<env>``. Uses a
    temporary index: the work tree and the checkout's index stay as they are."""
    root, remote = ctx.root, ctx.config.deploy.remote
    environment = plan.environment.name
    branch = f"mlcd/promote-{environment}"
    record.remote_git(root, remote, "fetch", "--quiet", "--no-tags", remote,
                      f"+refs/heads/{base}:refs/remotes/{remote}/{base}")
    parent = record.git(root, "rev-parse", f"refs/remotes/{remote}/{base}").stdout.strip()
    relative = f"{DEPLOY_DIR}/{environment}.yaml"
    blob = record.git(root, "hash-object", "-w", "--stdin", input_text=deploy_document(plan)).stdout.strip()
    with _temporary_index(root) as env:
        record.git(root, "read-tree", parent, env=env)
        record.git(root, "update-index", "--add", "--cacheinfo", f"100644,{blob},{relative}", env=env)
        tree = record.git(root, "write-tree", env=env).stdout.strip()
    identity = Identity.detect(root, ctx.env)
    names = {"GIT_AUTHOR_NAME": identity.name, "GIT_AUTHOR_EMAIL": identity.email,
             "GIT_COMMITTER_NAME": identity.name, "GIT_COMMITTER_EMAIL": identity.email}
    message = f"Promote {plan.model} {plan.candidate.version} to {environment}\n\n{plan.candidate.reference}\n"
    commit = record.git(root, "commit-tree", tree, "-p", parent, "-m", message, env=names).stdout.strip()
    record.remote_git(root, remote, "push", "--force", "--porcelain", remote, f"{commit}:refs/heads/{branch}")
    return branch


@contextmanager
def _temporary_index(root: Path) -> Iterator[dict[str, str]]:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="mlcd-index-") as directory:
        yield {"GIT_INDEX_FILE": os.path.join(directory, "index")}


__all__ = ["Candidate", "Context", "NotConfigured", "Outcome", "Plan", "deploy_document", "environment_config",
           "not_configured", "plan", "promote", "push_promotion_branch", "resolve_subject", "rollback_target"]
