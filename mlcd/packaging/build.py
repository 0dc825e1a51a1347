"""`mlcd package`: write the build context and Dockerfile, build the image with the Docker SDK, write its SBOM."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mlcd import __version__, git
from mlcd.config import Config
from mlcd.errors import DockerError, InputError, ModelError, UsageError
from mlcd.lineage import lineage_path
from mlcd.model import file_sha256
from mlcd.output import Output
from mlcd.packaging import dockerfile, labels, requirements
from mlcd.packaging.engine import connect, reason
from mlcd.packaging.wheelhouse import ensure_image, open_wheelhouse

CONTEXT_MARKER = ".mlcd-context"
INVENTORY_CACHE = ".mlcd-inventory.json"
DEFAULT_CONTEXT = Path(".mlcd") / "image"
LOG_LINES_SHOWN = 60
_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_RESULT = re.compile(r"^ ---> ([0-9a-f]{12,64})$")
_TAG_INVALID = re.compile(r"[^a-z0-9._/-]+")


@dataclass
class Step:
    number: int
    total: int
    instruction: str
    lines: list[str] = field(default_factory=list)
    cached: bool = False
    result: str | None = None
    """The ID of the image the step produced (a prefix, as the classic builder prints it)."""


class BuildProgress:
    """Follows the JSON stream of ``POST /build`` (the classic builder): steps, their output, the result."""

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.image_id: str | None = None
        self.error: str | None = None
        self._partial = ""

    @property
    def current(self) -> Step | None:
        return self.steps[-1] if self.steps else None

    def feed(self, chunk: Mapping[str, Any]) -> list[Step]:
        """Take one decoded chunk; returns the steps it started."""
        started: list[Step] = []
        if "error" in chunk or "errorDetail" in chunk:
            detail = chunk.get("errorDetail") or {}
            self.error = " ".join(str(chunk.get("error") or detail.get("message") or "unknown error").split())
        aux = chunk.get("aux")
        if isinstance(aux, dict) and isinstance(aux.get("ID"), str):
            self.image_id = aux["ID"]
        text = chunk.get("stream")
        if isinstance(text, str):
            self._partial += text
            *lines, self._partial = self._partial.split("\n")
            for line in lines:
                step = self._line(line.rstrip("\r"))
                if step is not None:
                    started.append(step)
        return started

    def _line(self, line: str) -> Step | None:
        match = _STEP.match(line)
        if match:
            step = Step(int(match.group(1)), int(match.group(2)), match.group(3))
            self.steps.append(step)
            return step
        if self.current is not None and line.strip():
            if line.strip() == "---> Using cache":
                self.current.cached = True
            result = _RESULT.match(line)
            if result:
                self.current.result = result.group(1)
            self.current.lines.append(line)
        return None

    @property
    def build_steps(self) -> list[Step]:
        """The steps that produce something (every step but FROM, which only picks a starting image)."""
        return [step for step in self.steps if not step.instruction.upper().startswith("FROM ")]

    @property
    def cached_steps(self) -> int:
        return sum(step.cached for step in self.build_steps)

    def environment_id(self) -> str | None:
        """The image ID after the Python environment and mlcd are in place: equal IDs, equal environments."""
        server = [s for s in self.steps if s.instruction.startswith(f"COPY --from=server {dockerfile.SERVER}")]
        return server[-1].result if server else None


def failure_fix(step: Step | None, error: str, base_image: str, hermetic: bool) -> str:
    """What to do about a failed build, judged from the failing step and its log."""
    log = "\n".join(step.lines) if step else ""
    if step is not None and step.instruction.startswith("FROM") and any(
            hint in error for hint in ("pull access denied", "manifest unknown", "not found", "dial tcp", "lookup")):
        return (f"the base image {base_image} is not in the local engine and cannot be pulled: "
                "`docker pull` it, or choose another with --base-image / package.base_image")
    missing = re.search(r"No matching distribution found for (\S+)", log)
    if missing and hermetic:
        return (f"the wheelhouse has no wheel for {missing.group(1)}: add it (pip download --only-binary=:all: "
                "--python-version 3.11 --platform manylinux2014_x86_64 --dest WHEELHOUSE …) or build without "
                "--wheelhouse")
    if missing:
        return f"check that {missing.group(1)} exists on the package index the build can reach"
    if "python3: not found" in log or "No module named venv" in log:
        return f"the base image {base_image} needs python3 with the venv module (e.g. python:3.11-slim)"
    return "read the step's log above; MLCD_DEBUG=1 shows the whole build output"


def short(instruction: str, width: int = 96) -> str:
    text = " ".join(instruction.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def default_tag(config: Config, sha256: str) -> str:
    repository = config.package.image or _TAG_INVALID.sub("-", config.model.name.lower()).strip("-._/")
    return f"{repository or 'model'}:model-{labels.model_version(sha256)}"


def read_lineage(model_path: Path) -> dict[str, Any]:
    path = lineage_path(model_path)
    if not path.is_file():
        raise InputError(f"{path} does not exist: an image is built only from a model with lineage",
                         fix="run `mlcd train` to write the model and its lineage")
    try:
        lineage = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"cannot read {path}: {exc}", fix="run `mlcd train` to rewrite it") from None
    if not isinstance(lineage, dict):
        raise InputError(f"{path} is not a lineage file", fix="run `mlcd train` to rewrite it")
    return lineage


def verified_model(config: Config) -> tuple[Path, dict[str, Any], str]:
    """(model path, lineage, sha256), refusing a model whose bytes differ from its lineage."""
    model_path = config.resolve(config.model.path)
    if not model_path.is_file():
        raise InputError(f"model file {model_path} does not exist", fix="run `mlcd train` first")
    lineage = read_lineage(model_path)
    actual = file_sha256(model_path)
    recorded = (lineage.get("model") or {}).get("sha256")
    if recorded != actual:
        raise ModelError(f"{model_path} has sha256 {actual[:12]}…, but its lineage records {str(recorded)[:12]}…: "
                         "the file changed after training", fix="retrain with `mlcd train`, or restore the model file")
    return model_path, lineage, actual


def _metrics(config: Config, out: Output) -> dict[str, float]:
    path = config.resolve(config.evaluate.metrics_file)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        out.warning(f"no readable {path}: the image's dev.mlcd.metrics label will be empty (run `mlcd evaluate`)")
        return {}
    return labels.headline_metrics(document, list(config.metrics)) if isinstance(document, dict) else {}


def _source_url(root: Path, env: Mapping[str, str]) -> str | None:
    if env.get("GITHUB_SERVER_URL") and env.get("GITHUB_REPOSITORY"):
        return f"{env['GITHUB_SERVER_URL']}/{env['GITHUB_REPOSITORY']}"
    remote = git.remote_url(root, "origin")
    return labels.public_source_url(remote) if remote else None


def _created(env: Mapping[str, str]) -> str:
    epoch = env.get("SOURCE_DATE_EPOCH")
    moment = datetime.fromtimestamp(int(epoch), timezone.utc) if epoch and epoch.isdigit() else datetime.now(
        timezone.utc)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def image_requirements(config: Config, lineage: Mapping[str, Any]) -> list[str]:
    """Serving requirements pinned to the training versions (lineage), else to the versions installed here."""
    own = requirements.mlcd_requires()
    names = requirements.serving_names(own)
    pins = requirements.installed_versions(names)
    trained = lineage.get("libraries") or {}
    pins.update({name: version for name, version in trained.items()
                 if requirements.normalize(name) in names and isinstance(version, str)})
    return requirements.serving_requirements(own, pins, config.package.requirements)


def _place(source: Path, target: Path) -> None:
    """Hard-link when possible (the wheelhouse can be large), copy otherwise."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def reset_context(directory: Path) -> None:
    """Empty the build context directory (but for the SBOM's inventory cache), refusing one mlcd did not
    make: it might be the project."""
    if directory.exists():
        if not directory.is_dir():
            raise UsageError(f"--context-dir {directory} is a file", fix="pass a directory")
        if any(directory.iterdir()) and not (directory / CONTEXT_MARKER).is_file():
            raise UsageError(f"--context-dir {directory} is not empty and was not made by mlcd package",
                             fix="pass a new or empty directory; mlcd replaces its contents on every build")
        for entry in directory.iterdir():
            if entry.name == INVENTORY_CACHE:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CONTEXT_MARKER).write_text("made by `mlcd package`; replaced on every build\n", encoding="utf-8")


def write_context(
    directory: Path,
    *,
    config: Config,
    spec: dockerfile.ImageSpec,
    requirement_lines: list[str],
    model_path: Path,
    mlcd_wheel: Path | None = None,
) -> Path:
    reset_context(directory)
    (directory / dockerfile.REQUIREMENTS).write_text(dockerfile.render_requirements(requirement_lines),
                                                     encoding="utf-8")
    if mlcd_wheel is not None:
        _place(mlcd_wheel, directory / dockerfile.MLCD_DIST / mlcd_wheel.name)
    app = directory / dockerfile.APP
    _place(Path(config.source), app / dockerfile.CONFIG_NAME)
    _place(model_path, directory / dockerfile.context_path(spec.model_path))
    _place(lineage_path(model_path), directory / dockerfile.context_path(spec.lineage_path))
    target = directory / "Dockerfile"
    target.write_text(dockerfile.render_dockerfile(spec), encoding="utf-8")
    return target


@dataclass
class BuildResult:
    tag: str
    image_id: str
    dockerfile: Path
    labels: dict[str, str]
    steps: int
    cached_steps: int
    seconds: float
    sbom: Path | None = None
    components: int = 0


def run_build(client: Any, context: Path, tag: str, out: Output, *, base_image: str, hermetic: bool) -> BuildProgress:
    """Build with the classic builder, printing each step; on failure show the step's log and raise."""
    import docker

    progress = BuildProgress()
    try:
        stream = client.api.build(path=str(context), tag=tag, rm=True, forcerm=True, pull=False, decode=True,
                                  use_config_proxy=False)
        for chunk in stream:
            for started in progress.feed(chunk):
                out.info(f"  [{started.number}/{started.total}] {short(started.instruction)}")
    except (docker.errors.DockerException, OSError) as exc:
        raise DockerError(f"building {tag} failed: {reason(exc)}") from None
    if progress.error is None and progress.image_id is None:
        progress.error = "the engine ended the build without an image"
    if progress.error is not None:
        step = progress.current
        where = f" at step {step.number}/{step.total} ({short(step.instruction, 60)})" if step else ""
        if step is not None and step.lines:
            with out.group(f"Log of step {step.number}/{step.total}: {short(step.instruction, 60)}"):
                for line in step.lines[-LOG_LINES_SHOWN:]:
                    out.info(f"    {line}")
        raise DockerError(f"building {tag} failed{where}: {progress.error}",
                          fix=failure_fix(step, progress.error, base_image, hermetic))
    return progress


def _pin_advice(client: Any, base_image: str, out: Output) -> None:
    if dockerfile.is_pinned(base_image):
        return
    try:
        digests = client.images.get(base_image).attrs.get("RepoDigests") or []
    except Exception:  # not local yet, or the engine cannot say: the advice is optional
        return
    if digests:
        name = base_image.rsplit(":", 1)[0] if ":" in base_image.rsplit("/", 1)[-1] else base_image
        digest = digests[0].split("@", 1)[1]
        out.warning(f"base image {base_image} is not pinned: use {name}@{digest} (its digest here) in "
                    "package.base_image for reproducible builds")


def package(
    config: Config,
    out: Output,
    *,
    tag: str | None = None,
    base_image: str | None = None,
    wheelhouse: Path | None = None,
    context_dir: Path | None = None,
    sbom_path: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> BuildResult:
    from mlcd.packaging import sbom

    env = os.environ if env is None else env
    model_path, lineage, sha256 = verified_model(config)
    base = base_image or config.package.base_image
    tag = tag or default_tag(config, sha256)
    commit, _ = git.head_state(config.root)
    data_hashes = lineage.get("data") or {}
    image_labels = labels.image_labels(
        model_name=config.model.name,
        model_sha256=sha256,
        created=_created(env),
        revision=commit,
        source=_source_url(config.root, env),
        data=labels.data_version(data_hashes, [config.data.train, config.data.path]),
        metrics=_metrics(config, out),
        lineage=lineage,
    )
    wheels = open_wheelhouse(wheelhouse, __version__) if wheelhouse is not None else None
    client = connect()
    try:
        spec = dockerfile.ImageSpec(
            base_image=base,
            model_path=config.model.path,
            lineage_path=str(lineage_path(Path(config.model.path))),
            mlcd_version=__version__,
            mlcd_wheel=wheels.mlcd_wheel.name if wheels else None,
            wheels_image=ensure_image(client, wheels, out) if wheels else None,
            port=config.package.port,
            labels=image_labels,
        )
        context = context_dir or config.root / DEFAULT_CONTEXT
        target = write_context(context, config=config, spec=spec, requirement_lines=image_requirements(config, lineage),
                               model_path=model_path, mlcd_wheel=wheels.mlcd_wheel if wheels else None)
    except ValueError as exc:
        raise UsageError(f"cannot write the Dockerfile: {exc}", fix="check model.path in mlcd.yaml") from None
    out.info(f"  Dockerfile → {target}")
    _pin_advice(client, base, out)
    started = time.monotonic()
    with out.group(f"Build {tag} from {base}" + (" (hermetic: wheels only, no index)" if wheelhouse else "")):
        progress = run_build(client, target.parent, tag, out, base_image=base, hermetic=wheelhouse is not None)
    seconds = time.monotonic() - started
    assert progress.image_id is not None
    result = BuildResult(tag, progress.image_id, target, image_labels, len(progress.build_steps),
                         progress.cached_steps, seconds)
    if sbom_path is not None:
        with out.group("SBOM (CycloneDX) of the image's Python environment"):
            result.components = sbom.write_sbom(
                client, result, sbom_path, model_name=config.model.name,
                hashes=wheels.by_distribution() if wheels else {},
                cache=(target.parent / INVENTORY_CACHE, progress.environment_id()))
        result.sbom = sbom_path
    return result
