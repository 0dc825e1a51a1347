"""What a promotion reads before it decides: the subject (a version, a digest, or ``deploy/<env>.yaml``),
the record, the image's manifest and labels in the registry, and this checkout's git and model file —
gathered into one :class:`~mlcd.promotion.plan.PromotionState` for :func:`~mlcd.promotion.plan.decide`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from mlcd import git, record
from mlcd.config import Config
from mlcd.data.result import ResultFile, read_result
from mlcd.errors import CheckFailed, ConfigError, InputError, UsageError
from mlcd.evaluation.shadow_result import ShadowFile as ShadowFile  # re-exported for the command
from mlcd.evaluation.shadow_result import read_shadow
from mlcd.model.io import file_sha256
from mlcd.packaging.labels import REVISION
from mlcd.promotion.context import DEPLOY_DIR, Context, deploy_file, environment_config
from mlcd.promotion.plan import Kind, Plan, PromotionState, decide, image_labels, rollback_version, show_plan
from mlcd.record import Event, History
from mlcd.registry import ImageRef, NotInRegistry, is_digest, parse_reference


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


def gather(ctx: Context, what: str | None, environment_name: str, *, kind: Kind = "promote",
           register_as: str | None = None, data_tests_passed: bool | None = None,
           shadow: ShadowFile | None = None) -> PromotionState:
    """Everything :func:`~mlcd.promotion.plan.decide` needs, read without changing anything."""
    config = ctx.config
    record.check_model_name(config.model.name)
    environment = environment_config(config, environment_name)
    history = History.read(ctx.root, config.model.name)
    ref, registered = resolve_subject(config, what, environment_name, history)
    assert ref.digest is not None
    registry = ctx.registry(ref.registry)
    try:
        manifest = registry.manifest(ref.repository, ref.digest)
        image_config = registry.image_config(ref.repository, manifest)
    except NotInRegistry as exc:  # the registry answered: the image is not what was asked for
        raise CheckFailed(f"{kind} to {environment_name} refused: {exc.message}", failures=[exc.message],
                          fix=exc.fix) from None
    local_sha256 = None
    if registered is None:
        model_file = config.resolve(config.model.path)
        local_sha256 = file_sha256(model_file) if model_file.is_file() else None
    wanted = record.normalise_version(register_as) if register_as else None
    commit = _image_commit(ctx.root, registered, image_labels(image_config))
    document = _metrics_at(config, commit) if commit else None
    return PromotionState(kind, config, environment, history, ref, manifest, image_config, registered, wanted,
                          local_sha256, commit, document, data_tests_passed, shadow)


def _image_commit(root: Path, registered: Event | None, labels: dict[str, str]) -> str:
    """The commit the image was built from: its registration's, else its revision label's in this checkout
    ("" when the checkout does not have it), else HEAD (an image without the label is registered there)."""
    if registered is not None:
        return registered.commit
    revision = labels.get(REVISION)
    if revision:
        return git.resolve_commit(root, revision) or ""
    return git.run(root, "rev-parse", "HEAD").stdout.strip()


def _metrics_at(config: Config, commit: str) -> Any:
    """The metrics file at ``commit`` (parsed JSON); None when it is not there or not JSON."""
    shown = git.run(config.root, "show", f"{commit}:{config.evaluate.metrics_file}", check=False)
    if shown.returncode != 0:
        return None
    try:
        return json.loads(shown.stdout)
    except json.JSONDecodeError:
        return None


def plan(ctx: Context, what: str | None, environment_name: str, *, kind: Kind = "promote",
         register_as: str | None = None, data_tests_passed: bool | None = None,
         shadow: ShadowFile | None = None) -> Plan:
    """Everything a promotion checks before it changes anything; ``problems`` say why it would be refused."""
    return decide(gather(ctx, what, environment_name, kind=kind, register_as=register_as,
                         data_tests_passed=data_tests_passed, shadow=shadow))


def review(ctx: Context, what: str | None, environment: str, *, kind: Kind = "promote",
           register_as: str | None = None, data_tests_passed: bool | None = None,
           shadow: ShadowFile | None = None) -> Plan:
    """The plan, shown, with the record fetched first (when it is pushed): ``mlcd promote --plan`` and
    ``--via-pr`` stop here; a promotion goes on from it, under its lock."""
    config = ctx.config
    if config.deploy.push:
        record.fetch_tags(ctx.root, config.deploy.remote, config.model.name)
    with ctx.out.group(f"Plan: {what or 'deploy/' + environment + '.yaml'} → {environment}"):
        the_plan = plan(ctx, what, environment, kind=kind, register_as=register_as,
                        data_tests_passed=data_tests_passed, shadow=shadow)
        show_plan(the_plan, ctx.out)
    return the_plan


def rollback_target(ctx: Context, environment: str, to: str | None) -> str:
    """The version a rollback returns to: the one named, else the one that ran before the current one."""
    environment_config(ctx.config, environment)
    record.check_repository(ctx.root, ctx.config.deploy.remote if ctx.config.deploy.push else None, ctx.config.source)
    if to:
        check_subject(to)
        return to
    if ctx.config.deploy.push:
        record.fetch_tags(ctx.root, ctx.config.deploy.remote, ctx.config.model.name)
    return rollback_version(History.read(ctx.root, ctx.config.model.name), environment)


def data_test_result(path: Path | None) -> ResultFile | None:
    """The data test's result to gate the promotion on (``--data-test``); None when none is given."""
    return read_result(path) if path is not None else None


def shadow_result(path: Path | None) -> ShadowFile | None:
    """The shadow replay's result to gate the promotion on and show in its evidence (``--shadow``)."""
    return read_shadow(path) if path is not None else None
