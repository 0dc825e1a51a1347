"""Image references and OCI registries over their HTTP API (the Distribution spec): read a manifest and its
image config by digest, and point a tag at a digest without pulling the image.

References are read as Docker reads them (a first part without a dot or port, other than localhost, is a
path on Docker Hub). Credentials have one source, the one the Docker engine uses: what `docker login`
(locally) or docker/login-action (in a workflow) stored for the host, in Docker's config file or its
credential helper. They are sent to the registry's token service when it asks for a token
(``WWW-Authenticate: Bearer``), and as basic auth when it asks for that; without them, access is anonymous.
Registries on loopback addresses are spoken to over plain HTTP, every other over HTTPS.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from mlcd.errors import DockerError, UsageError

MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_REFERENCE = re.compile(r"^(?P<name>[^@]+?)(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$")
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_LOOPBACK = re.compile(r"^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$")
DOCKER_HUB = "docker.io"


@dataclass(frozen=True)
class ImageRef:
    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    def at(self, digest: str) -> ImageRef:
        return ImageRef(self.registry, self.repository, None, digest)

    def __str__(self) -> str:
        if self.digest:
            return f"{self.name}@{self.digest}"
        return f"{self.name}:{self.tag or 'latest'}"


def parse_reference(text: str) -> ImageRef:
    """``[host[:port]/]path[:tag][@sha256:…]`` as Docker reads it: the first part is the registry when it has
    a dot or a port or is localhost, else the image is on Docker Hub (``model`` is ``docker.io/library/model``)."""
    match = _REFERENCE.match(text.strip())
    name = match["name"] if match else ""
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = DOCKER_HUB, name if "/" in name else f"library/{name}"
    if not match or not name or any(not _COMPONENT.match(part) for part in path.split("/")):
        raise UsageError(f"'{text}' is not an image reference like ghcr.io/owner/model, "
                         "127.0.0.1:5000/model@sha256:… or owner/model (Docker Hub)",
                         fix="use lowercase letters, digits and . _ - separated by /, e.g. ghcr.io/owner/model")
    return ImageRef(registry, path, match["tag"], match["digest"])


def docker_login(host: str, env: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """(user, password) that `docker login HOST` stored, where the engine finds it (``$DOCKER_CONFIG`` or
    ``~/.docker/config.json``, or its credential helper); None when there is none."""
    try:
        from docker import auth, errors
    except ImportError:  # the package extra is not installed: anonymous access
        return None
    directory = (env or {}).get("DOCKER_CONFIG")
    try:
        config = auth.load_config(config_path=str(Path(directory) / "config.json") if directory else None)
        found = config.resolve_authconfig(host) or {}
    except errors.DockerException:
        return None
    fields = {str(key).lower(): value for key, value in found.items()}
    user, password = fields.get("username"), fields.get("password")
    return (str(user), str(password)) if user and password else None


class NotInRegistry(DockerError):
    """The registry answered, but does not hold the image asked for, or holds other content under its digest."""


def is_digest(text: str) -> bool:
    return bool(DIGEST.match(text))


@dataclass(frozen=True)
class Manifest:
    digest: str
    media_type: str
    body: bytes

    @property
    def document(self) -> dict[str, Any]:
        data = json.loads(self.body)
        return data if isinstance(data, dict) else {}


def sha256_digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


class Registry:
    """Example::

        registry = Registry("127.0.0.1:5000")
        manifest = registry.manifest("penguins", "sha256:…")
        labels = registry.labels("penguins", manifest)
        registry.tag("penguins", manifest, "production")
    """

    def __init__(self, host: str, *, env: Mapping[str, str] | None = None,
                 session: requests.Session | None = None, timeout: float = 30.0) -> None:
        self.host = host
        api_host = "registry-1.docker.io" if host == DOCKER_HUB else host
        self.base = f"{'http' if _LOOPBACK.match(host) else 'https'}://{api_host}/v2"
        self.session = session if session is not None else requests.Session()
        self.session.trust_env = not self.base.startswith("http://")  # no proxy for a registry on loopback
        self.timeout = timeout
        self._credentials = docker_login(host, env)
        self._auth: dict[str, str] = {}

    def digest(self, repository: str, tag: str) -> str:
        """The manifest digest the registry holds for a tag (as it reports it, else of the bytes it serves)."""
        response = self._call("HEAD", f"{repository}/manifests/{tag}",
                              headers={"Accept": ", ".join(MANIFEST_TYPES + INDEX_TYPES)}, missing_ok=True)
        if response is None:
            raise NotInRegistry(f"no {self.host}/{repository}:{tag} in the registry", fix="push it again")
        said = response.headers.get("Docker-Content-Digest")
        return str(said) if said else self.manifest(repository, tag).digest

    def manifest(self, repository: str, reference: str) -> Manifest:
        """The manifest at a digest or tag, its content checked against the digest asked for."""
        response = self._call("GET", f"{repository}/manifests/{reference}",
                              headers={"Accept": ", ".join(MANIFEST_TYPES + INDEX_TYPES)}, missing_ok=True)
        if response is None:
            raise NotInRegistry(f"no image {self.host}/{repository}@{reference} in the registry",
                              fix="push it first (`mlcd push`), or check the digest and package.image")
        digest = sha256_digest(response.content)
        if is_digest(reference) and digest != reference:
            raise NotInRegistry(f"the registry {self.host} answered {repository}@{reference} with content whose "
                              f"sha256 is {digest}: the registry is corrupt or not the one meant",
                              fix="check package.image and the registry")
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        return Manifest(digest, media_type, response.content)

    def image_manifest(self, repository: str, manifest: Manifest) -> Manifest:
        """For an index (multi-platform image), the linux/amd64 (else the first) image manifest."""
        if manifest.media_type not in INDEX_TYPES and "manifests" not in manifest.document:
            return manifest
        entries = [m for m in manifest.document.get("manifests", []) if isinstance(m, dict)]
        chosen = next((m for m in entries if (m.get("platform") or {}).get("os") == "linux"
                       and (m.get("platform") or {}).get("architecture") == "amd64"), entries[0] if entries else None)
        if chosen is None:
            raise NotInRegistry(f"{self.host}/{repository}@{manifest.digest} is an empty image index")
        return self.manifest(repository, str(chosen["digest"]))

    def image_config(self, repository: str, manifest: Manifest) -> dict[str, Any]:
        image = self.image_manifest(repository, manifest)
        config_digest = str((image.document.get("config") or {}).get("digest", ""))
        if not is_digest(config_digest):
            raise NotInRegistry(f"{self.host}/{repository}@{manifest.digest} has no image config")
        response = self._call("GET", f"{repository}/blobs/{config_digest}", missing_ok=True)
        if response is None or sha256_digest(response.content) != config_digest:
            raise NotInRegistry(f"the image config {config_digest} of {self.host}/{repository} is missing or corrupt")
        data = json.loads(response.content)
        return data if isinstance(data, dict) else {}

    def labels(self, repository: str, manifest: Manifest) -> dict[str, str]:
        config = self.image_config(repository, manifest).get("config") or {}
        labels = config.get("Labels") or {}
        return {str(k): str(v) for k, v in labels.items()}

    def tag(self, repository: str, manifest: Manifest, tag: str) -> None:
        """Point ``tag`` at the manifest's digest (the same bytes, so the same digest)."""
        response = self._call("PUT", f"{repository}/manifests/{tag}", data=manifest.body,
                              headers={"Content-Type": manifest.media_type})
        assert response is not None
        answered = response.headers.get("Docker-Content-Digest")
        if answered and answered != manifest.digest:
            raise DockerError(f"the registry stored {repository}:{tag} as {answered}, not {manifest.digest}")

    def _call(self, method: str, path: str, *, headers: Mapping[str, str] | None = None, data: bytes | None = None,
              missing_ok: bool = False) -> requests.Response | None:
        url = f"{self.base}/{path}"
        sent = dict(headers or {})
        for attempt in range(2):
            sent.update(self._auth)
            try:
                response = self.session.request(method, url, headers=sent, data=data, timeout=self.timeout)
            except requests.RequestException as exc:
                raise DockerError(f"cannot reach the registry {self.host}: {type(exc).__name__}",
                                  fix="start the registry, or check package.image and the network") from None
            # a token is scoped (pull, push): a new kind of call may need a new one
            if response.status_code == 401 and attempt == 0 and self._authenticate(response):
                continue
            break
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code >= 400:
            said = " ".join(response.text.split())[:300]
            fix = (f"log in first: `docker login {self.host}` (in a workflow, docker/login-action; for ghcr.io the "
                   "actor and GITHUB_TOKEN with `permissions: {packages: write}`)" if response.status_code in (401, 403)
                   else None)
            raise DockerError(f"{method} {self.host}/v2/{path}: the registry answered {response.status_code} {said}",
                              fix=fix)
        return response

    def _authenticate(self, response: requests.Response) -> bool:
        challenge = response.headers.get("WWW-Authenticate", "")
        scheme, _, params = challenge.partition(" ")
        if scheme.lower() == "basic" and self._credentials:
            import base64

            token = base64.b64encode(":".join(self._credentials).encode()).decode()
            self._auth = {"Authorization": f"Basic {token}"}
            return True
        if scheme.lower() != "bearer":
            return False
        fields = dict(re.findall(r'(\w+)="([^"]*)"', params))
        if "realm" not in fields:
            return False
        query = {k: v for k, v in fields.items() if k in ("service", "scope")}
        try:
            answer = self.session.get(fields["realm"], params=query, auth=self._credentials, timeout=self.timeout)
        except requests.RequestException:
            return False
        if answer.status_code != 200:
            return False
        body = answer.json()
        bearer = (body.get("token") or body.get("access_token")) if isinstance(body, dict) else None
        if not isinstance(bearer, str) or not bearer:
            return False
        self._auth = {"Authorization": f"Bearer {bearer}"}
        return True
