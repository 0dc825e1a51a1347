"""`mlcd push`: tag an image with its git SHA and model version, push both tags, and prove the registry
holds exactly what was pushed: the manifest digest the registry reports (asked over its v2 API, with the
credentials the engine pushed with) must equal the one the engine computed.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlcd.errors import DockerError, UsageError
from mlcd.output import Output
from mlcd.packaging import labels
from mlcd.packaging.engine import get_image, reason
from mlcd.registry import ImageRef, Registry, parse_reference


def parse_target(text: str) -> ImageRef:
    """``--to REGISTRY/REPO``: an image repository as Docker reads it, without a tag or digest (mlcd chooses
    the tags, and reports the digest)."""
    target = parse_reference(text)
    if target.tag or target.digest:
        raise UsageError(f"--to {text} names a tag or digest", fix="give only REGISTRY/REPO: mlcd chooses the tags")
    return target


def tags_for(revision: str, model_sha256: str) -> list[str]:
    return [f"sha-{revision[:12]}", f"model-{labels.model_version(model_sha256)}"]


@dataclass
class PushProgress:
    """Follows the JSON stream of ``POST /images/{name}/push``: the engine reports failures only here."""

    layers: dict[str, str] = field(default_factory=dict)
    digest: str | None = None
    error: str | None = None

    def feed(self, chunk: Mapping[str, Any]) -> None:
        if "error" in chunk or "errorDetail" in chunk:
            detail = chunk.get("errorDetail") or {}
            self.error = " ".join(str(chunk.get("error") or detail.get("message") or "unknown error").split())
        aux = chunk.get("aux")
        if isinstance(aux, dict) and isinstance(aux.get("Digest"), str):
            self.digest = aux["Digest"]
        layer, status = chunk.get("id"), chunk.get("status")
        if isinstance(layer, str) and status in ("Pushed", "Layer already exists", "Mounted from"):
            self.layers[layer] = status
        elif isinstance(layer, str) and isinstance(status, str) and status.startswith("Mounted from"):
            self.layers[layer] = "Mounted"


def push_fix(error: str, target: ImageRef) -> str:
    text = error.lower()
    if "connection refused" in text or "no such host" in text or "dial tcp" in text or "i/o timeout" in text:
        return f"check that a registry is running at {target.registry} and that --to names it"
    if "unauthorized" in text or "denied" in text or "authentication required" in text:
        return (f"log in first: docker login {target.registry} (on GitHub Actions, docker/login-action with "
                "`permissions: packages: write`)")
    if "http response to https client" in text:
        return f"{target.registry} speaks plain HTTP: list it under insecure-registries in the engine's daemon.json"
    return "see the engine's log for details"


@dataclass
class PushResult:
    target: ImageRef
    tags: list[str]
    digest: str

    @property
    def reference(self) -> str:
        return f"{self.target.name}@{self.digest}"


def _revision(image_labels: Mapping[str, str], fallback: str | None) -> str:
    revision = image_labels.get(labels.REVISION) or fallback
    if not revision:
        raise UsageError("cannot tell which git commit the image was built from",
                         fix="build it with `mlcd package` inside the project's git repository")
    return revision


def _push_tag(client: Any, target: ImageRef, tag: str, out: Output) -> str:
    import docker

    progress = PushProgress()
    try:
        for chunk in client.api.push(target.name, tag=tag, stream=True, decode=True):
            progress.feed(chunk)
    except (docker.errors.DockerException, OSError) as exc:
        message = reason(exc)
        raise DockerError(f"cannot push {target.name}:{tag}: {message}", fix=push_fix(message, target)) from None
    if progress.error is not None or progress.digest is None:
        message = progress.error or "the engine reported no digest"
        raise DockerError(f"cannot push {target.name}:{tag}: {message}", fix=push_fix(message, target))
    pushed = sum(status == "Pushed" for status in progress.layers.values())
    out.info(f"  {target.name}:{tag}: {pushed} layer(s) pushed, {len(progress.layers) - pushed} already there")
    return progress.digest


def _untag(client: Any, references: list[str]) -> None:
    import docker

    for reference in references:
        with contextlib.suppress(docker.errors.DockerException):
            client.images.remove(reference, noprune=True)


def push(client: Any, image_ref: str, to: str, out: Output, *, revision: str | None = None) -> PushResult:
    import docker

    target = parse_target(to)
    image = get_image(client, image_ref)
    image_labels = image.labels or {}
    sha256 = labels.model_sha256(image_ref, image_labels)
    tags = tags_for(_revision(image_labels, revision), sha256)
    digests = set()
    created = [f"{target.name}:{tag}" for tag in tags if f"{target.name}:{tag}" not in image.tags]
    with out.group(f"Push {image_ref} to {target.name} as {', '.join(tags)}"):
        try:
            for tag in tags:
                image.tag(target.name, tag)
                digests.add(_push_tag(client, target, tag, out))
        except docker.errors.APIError as exc:
            _untag(client, created)
            raise DockerError(f"cannot tag {image_ref} for {target.name}: {reason(exc)}") from None
        except DockerError:
            _untag(client, created)  # a failed push leaves no tags behind that point nowhere
            raise
    if len(digests) != 1:
        raise DockerError(f"the tags of one image were pushed with different digests: {', '.join(sorted(digests))}")
    digest = digests.pop()
    registry = Registry(target.registry, env=os.environ)  # with the login the engine pushed with
    for tag in tags:
        remote = registry.digest(target.repository, tag)
        if remote != digest:
            raise DockerError(f"{target.name}:{tag} is {remote} in the registry, but the push produced {digest}",
                              fix="another push raced this one: push again, and deploy by digest")
    image.reload()
    local = [d.split("@", 1)[1] for d in image.attrs.get("RepoDigests") or [] if d.startswith(target.name + "@")]
    if digest not in local:
        raise DockerError(f"the engine records {', '.join(local) or 'no digest'} for {target.name}, "
                          f"not the pushed {digest}", fix="push again")
    return PushResult(target, tags, digest)
