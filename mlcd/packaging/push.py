"""`mlcd push`: tag an image with its git SHA and model version, push both tags, and prove the registry
holds exactly what was pushed: the manifest digest the registry reports (asked over its v2 API) must
equal the one the engine computed.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlcd.errors import DockerError, UsageError
from mlcd.output import Output
from mlcd.packaging import labels
from mlcd.packaging.engine import get_image, reason

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
LOOPBACK = ("localhost", "127.0.0.1", "[::1]")
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class Target:
    registry: str
    path: str

    @property
    def repository(self) -> str:
        return f"{self.registry}/{self.path}"

    @property
    def api(self) -> str:
        host = self.registry
        host = host[: host.index("]") + 1] if host.startswith("[") else host.split(":", 1)[0]
        scheme = "http" if host in LOOPBACK else "https"  # the engine allows plain HTTP to these too
        registry = "registry-1.docker.io" if self.registry == "docker.io" else self.registry
        return f"{scheme}://{registry}/v2/{self.path}"


def parse_target(text: str) -> Target:
    """``REGISTRY/REPO`` as Docker reads a reference: the first part is a registry when it has a dot or a
    port, or is localhost; otherwise the registry is Docker Hub. A tag or digest is refused."""
    text = text.strip()
    first, _, rest = text.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = "docker.io", text if "/" in text else f"library/{text}"
    if "@" in path or ":" in path:
        raise UsageError(f"--to {text} names a tag or digest", fix="give only REGISTRY/REPO: mlcd chooses the tags")
    bad = [part for part in path.split("/") if not _COMPONENT.match(part)]
    if not path or bad:
        raise UsageError(f"--to {text} is not a valid repository name",
                         fix="use lowercase letters, digits and . _ - separated by /, e.g. ghcr.io/owner/model")
    return Target(registry, path)


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


def push_fix(error: str, target: Target) -> str:
    text = error.lower()
    if "connection refused" in text or "no such host" in text or "dial tcp" in text or "i/o timeout" in text:
        return f"check that a registry is running at {target.registry} and that --to names it"
    if "unauthorized" in text or "denied" in text or "authentication required" in text:
        return (f"log in first: docker login {target.registry} (on GitHub Actions, docker/login-action with "
                "`permissions: packages: write`)")
    if "http response to https client" in text:
        return f"{target.registry} speaks plain HTTP: list it under insecure-registries in the engine's daemon.json"
    return "see the engine's log for details"


def _bearer_token(session: Any, challenge: str) -> str | None:
    """An anonymous token for a ``WWW-Authenticate: Bearer realm=…,service=…,scope=…`` challenge."""
    if not challenge.lower().startswith("bearer "):
        return None
    fields = dict(_CHALLENGE.findall(challenge))
    if "realm" not in fields:
        return None
    params = {key: fields[key] for key in ("service", "scope") if key in fields}
    answer = session.get(fields["realm"], params=params, timeout=30)
    if answer.status_code != 200:
        return None
    body = answer.json()
    token = body.get("token") or body.get("access_token")
    return token if isinstance(token, str) else None


def registry_digest(target: Target, tag: str, session: Any = None) -> str | None:
    """The manifest digest the registry reports for a tag (v2 API, HEAD); None if it refuses to say."""
    import requests

    if session is None:
        session = requests.Session()
        session.trust_env = not target.api.startswith("http://")
    url = f"{target.api}/manifests/{tag}"
    headers = {"Accept": ", ".join(MANIFEST_TYPES)}
    try:
        answer = session.head(url, headers=headers, timeout=30)
        if answer.status_code == 401:
            token = _bearer_token(session, answer.headers.get("WWW-Authenticate", ""))
            if token is None:
                return None
            headers["Authorization"] = f"Bearer {token}"
            answer = session.head(url, headers=headers, timeout=30)
        if answer.status_code in (401, 403):
            return None
        if answer.status_code != 200:
            raise DockerError(f"the registry answered {answer.status_code} for {target.repository}:{tag} right after "
                              "the push", fix="check the registry's log")
        digest = answer.headers.get("Docker-Content-Digest")
        if digest:
            return str(digest)
        body = session.get(url, headers=headers, timeout=30)
        return "sha256:" + hashlib.sha256(body.content).hexdigest()
    except requests.RequestException as exc:
        raise DockerError(f"cannot ask {target.registry} for the digest of {tag}: {exc.__class__.__name__}",
                          fix=push_fix(str(exc), target)) from None


@dataclass
class PushResult:
    target: Target
    tags: list[str]
    digest: str
    verified_by: str

    @property
    def reference(self) -> str:
        return f"{self.target.repository}@{self.digest}"


def _revision(image_labels: Mapping[str, str], fallback: str | None) -> str:
    revision = image_labels.get(labels.REVISION) or fallback
    if not revision:
        raise UsageError("cannot tell which git commit the image was built from",
                         fix="build it with `mlcd package` inside the project's git repository")
    return revision


def _push_tag(client: Any, target: Target, tag: str, out: Output) -> str:
    import docker

    progress = PushProgress()
    try:
        for chunk in client.api.push(target.repository, tag=tag, stream=True, decode=True):
            progress.feed(chunk)
    except (docker.errors.DockerException, OSError) as exc:
        message = reason(exc)
        raise DockerError(f"cannot push {target.repository}:{tag}: {message}", fix=push_fix(message, target)) from None
    if progress.error is not None or progress.digest is None:
        message = progress.error or "the engine reported no digest"
        raise DockerError(f"cannot push {target.repository}:{tag}: {message}", fix=push_fix(message, target))
    pushed = sum(status == "Pushed" for status in progress.layers.values())
    out.info(f"  {target.repository}:{tag}: {pushed} layer(s) pushed, {len(progress.layers) - pushed} already there")
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
    sha256 = image_labels.get(labels.MODEL_SHA256)
    if not sha256:
        raise UsageError(f"{image_ref} has no {labels.MODEL_SHA256} label: it was not built by mlcd package",
                         fix="build the image with `mlcd package`")
    tags = tags_for(_revision(image_labels, revision), sha256)
    digests = set()
    created = [f"{target.repository}:{tag}" for tag in tags if f"{target.repository}:{tag}" not in image.tags]
    with out.group(f"Push {image_ref} to {target.repository} as {', '.join(tags)}"):
        try:
            for tag in tags:
                image.tag(target.repository, tag)
                digests.add(_push_tag(client, target, tag, out))
        except docker.errors.APIError as exc:
            _untag(client, created)
            raise DockerError(f"cannot tag {image_ref} for {target.repository}: {reason(exc)}") from None
        except DockerError:
            _untag(client, created)  # a failed push leaves no tags behind that point nowhere
            raise
    if len(digests) != 1:
        raise DockerError(f"the tags of one image were pushed with different digests: {', '.join(sorted(digests))}")
    digest = digests.pop()
    verified_by = "registry v2 API"
    for tag in tags:
        remote = registry_digest(target, tag)
        if remote is None:  # the registry wants credentials the engine has: ask through the engine
            try:
                remote = client.images.get_registry_data(f"{target.repository}:{tag}").id
            except docker.errors.DockerException as exc:
                raise DockerError(f"cannot read back the digest of {target.repository}:{tag}: {reason(exc)}",
                                  fix=push_fix(reason(exc), target)) from None
            verified_by = "the engine's distribution API"
        if remote != digest:
            raise DockerError(f"{target.repository}:{tag} is {remote} in the registry, but the push produced {digest}",
                              fix="another push raced this one: push again, and deploy by digest")
    image.reload()
    local = [d.split("@", 1)[1] for d in image.attrs.get("RepoDigests") or [] if d.startswith(target.repository + "@")]
    if digest not in local:
        raise DockerError(f"the engine records {', '.join(local) or 'no digest'} for {target.repository}, "
                          f"not the pushed {digest}", fix="push again")
    return PushResult(target, tags, digest, verified_by)
