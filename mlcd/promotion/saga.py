"""A promotion's saga, from the plan to the record — and rollback, which is the same road back.

In order — nothing changes before the retag, and every failure after the deploy puts the previous
version back and records a failed deployment:

1. **Lock** the environment (here and on the remote): one promotion per environment at a time.
2. **Plan** (read-only, :mod:`mlcd.promotion.state` and :mod:`mlcd.promotion.plan`): which image, the
   stage order, the gates; a refused plan stops here.
3. **GitHub Deployment** created (queued), when a token is present.
4. **Retag** in the registry: ``<environment>`` and the version point at the digest.
5. **Deploy** through the environment's target, which returns once the new version serves.
6. **Verify**: the target's own check, the endpoint serves this model, and parity with the model file
   (when the file is here).
7. **Record**: the GTO tags (register, unassign the old version, assign the new) pushed atomically.
8. **Deployment success**; earlier deployments of the environment marked inactive.

On a failure after the deploy: **restore** what ran before, and its registry tag.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mlcd import record
from mlcd.actions_context import run_url
from mlcd.errors import CheckFailed, DeployFailed, MlcdError
from mlcd.evaluation.shadow_result import ShadowFile
from mlcd.github.deployments import DeploymentLog, approver
from mlcd.model.io import file_sha256
from mlcd.output import Output
from mlcd.promotion.context import DEPLOY_DIR, Context, environment_config
from mlcd.promotion.lock import promotion_lock
from mlcd.promotion.plan import Candidate, Kind, Plan, tags_to_record
from mlcd.promotion.state import check_subject, review, rollback_target
from mlcd.promotion.targets import Deployed, DeployTarget
from mlcd.promotion.verify import Parity, deployed_parity
from mlcd.record import Identity


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
            shadow: ShadowFile | None = None, parity_golden: Path | None = None,
            require_parity: bool = False) -> Outcome:
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
        the_plan = review(ctx, what, environment, kind=kind, register_as=register_as,
                          data_tests_passed=data_tests_passed, shadow=shadow)
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
    new = tags_to_record(plan, identity, evidence)
    names = [tag.name for tag in new]
    record.create_tags(ctx.root, new, identity, plan.history.latest_time())
    if ctx.config.deploy.push and names:
        try:
            record.push_tags(ctx.root, ctx.config.deploy.remote, names)
        except MlcdError:
            record.delete_local_tags(ctx.root, names)
            raise
    for name in names:
        ctx.out.info(f"  {name}")
    return names


def rollback(ctx: Context, environment: str, to: str | None, *, parity_golden: Path | None = None,
             require_parity: bool = False) -> Outcome:
    """Back to the version named, else to the one that ran before the current one: the same saga as a
    promotion, recorded as a rollback."""
    version = rollback_target(ctx, environment, to)
    return promote(ctx, version, environment, kind="rollback", parity_golden=parity_golden,
                   require_parity=require_parity)
