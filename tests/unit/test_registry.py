"""The registry client against an in-process registry that asks for tokens (as ghcr.io does): reading a
manifest and its labels by digest, refusing content that does not match the digest, and retagging."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from mlcd.errors import DockerError, UsageError
from mlcd.registry import Registry, docker_login, parse_reference

CONFIG = json.dumps({"config": {"Labels": {"dev.mlcd.model.name": "penguins"}, "Env": ["MLCD_PORT=9000"]}}).encode()
CONFIG_DIGEST = "sha256:" + hashlib.sha256(CONFIG).hexdigest()
MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"digest": CONFIG_DIGEST, "size": len(CONFIG)}, "layers": []}).encode()
DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()
TOKENS = {"pull": "token-pull", "push": "token-push"}


class FakeRegistry:
    def __init__(self, *, corrupt: bool = False) -> None:
        self.tags: dict[str, bytes] = {}
        self.token_requests: list[str] = []
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _authorized(self, action: str) -> bool:
                wanted = f"Bearer {TOKENS[action]}"
                if self.headers.get("Authorization") in (wanted, f"Bearer {TOKENS['push']}"):
                    return True
                realm = f"http://127.0.0.1:{registry.port}/token"
                self._send(401, b'{"errors": [{"code": "UNAUTHORIZED"}]}', {
                    "WWW-Authenticate": f'Bearer realm="{realm}",service="fake",scope="repository:penguins:{action}"'})
                return False

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path == "/token":
                    user = base64.b64decode(self.headers["Authorization"].split()[1]).decode()
                    scope = parse_qs(parts.query)["scope"][0]
                    registry.token_requests.append(f"{user} {scope}")
                    action = scope.rsplit(":", 1)[1]
                    self._send(200, json.dumps({"token": TOKENS[action]}).encode())
                    return
                if not self._authorized("pull"):
                    return
                if parts.path == f"/v2/penguins/manifests/{DIGEST}":
                    body = MANIFEST.replace(b"[]", b"[ ]") if corrupt else MANIFEST
                    self._send(200, body, {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
                elif parts.path == f"/v2/penguins/blobs/{CONFIG_DIGEST}":
                    self._send(200, CONFIG)
                else:
                    self._send(404, b'{"errors": [{"code": "MANIFEST_UNKNOWN"}]}')

            def do_PUT(self) -> None:
                if not self._authorized("push"):
                    return
                body = self.rfile.read(int(self.headers["Content-Length"]))
                registry.tags[self.path.rsplit("/", 1)[1]] = body
                self._send(201, b"", {"Docker-Content-Digest": "sha256:" + hashlib.sha256(body).hexdigest()})

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def fake() -> Iterator[FakeRegistry]:
    registry = FakeRegistry()
    yield registry
    registry.server.shutdown()


def docker_config(tmp_path: Path, host: str, user: str, password: str) -> dict[str, str]:
    """What `docker login HOST` leaves behind: a config.json in $DOCKER_CONFIG."""
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    (tmp_path / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return {"DOCKER_CONFIG": str(tmp_path)}


@pytest.fixture
def logged_in(tmp_path: Path, fake: FakeRegistry) -> dict[str, str]:
    return docker_config(tmp_path, f"127.0.0.1:{fake.port}", "ci", "pw")


def _client(fake: FakeRegistry, env: dict[str, str]) -> Registry:
    return Registry(f"127.0.0.1:{fake.port}", env=env)


def test_reads_a_manifest_and_its_labels_with_a_pull_token(fake: FakeRegistry, logged_in: dict[str, str]) -> None:
    registry = _client(fake, logged_in)
    manifest = registry.manifest("penguins", DIGEST)
    assert manifest.digest == DIGEST
    assert registry.labels("penguins", manifest) == {"dev.mlcd.model.name": "penguins"}
    assert fake.token_requests == ["ci:pw repository:penguins:pull"]


def test_retags_by_digest_with_a_push_token(fake: FakeRegistry, logged_in: dict[str, str]) -> None:
    registry = _client(fake, logged_in)
    manifest = registry.manifest("penguins", DIGEST)
    registry.tag("penguins", manifest, "production")
    assert fake.tags["production"] == MANIFEST
    assert fake.token_requests[-1] == "ci:pw repository:penguins:push"


def test_content_that_does_not_match_its_digest_is_refused(tmp_path: Path) -> None:
    fake = FakeRegistry(corrupt=True)
    try:
        with pytest.raises(DockerError, match="whose sha256 is"):
            _client(fake, docker_config(tmp_path, f"127.0.0.1:{fake.port}", "ci", "pw")).manifest("penguins", DIGEST)
    finally:
        fake.server.shutdown()


def test_a_missing_image_says_how_to_get_it_there(fake: FakeRegistry, logged_in: dict[str, str]) -> None:
    with pytest.raises(DockerError, match="no image") as raised:
        _client(fake, logged_in).manifest("penguins", "sha256:" + "0" * 64)
    assert raised.value.fix and "mlcd push" in raised.value.fix


def test_without_a_login_the_refusal_says_how_to_log_in(fake: FakeRegistry, tmp_path: Path) -> None:
    elsewhere = docker_config(tmp_path, "ghcr.io", "someone", "else")  # a login, but for another host
    with pytest.raises(DockerError, match="401") as raised:
        Registry(f"127.0.0.1:{fake.port}", env=elsewhere).manifest("penguins", DIGEST)
    assert raised.value.fix and f"docker login 127.0.0.1:{fake.port}" in raised.value.fix


def test_the_login_is_the_one_docker_stored_for_the_host(tmp_path: Path) -> None:
    env = docker_config(tmp_path, "ghcr.io", "octocat", "t0ken")
    assert docker_login("ghcr.io", env) == ("octocat", "t0ken")
    assert docker_login("127.0.0.1:5000", env) is None


def test_references_are_read_as_docker_reads_them() -> None:
    ref = parse_reference(f"ghcr.io/acme/penguins@{DIGEST}")
    assert (ref.registry, ref.repository, ref.digest) == ("ghcr.io", "acme/penguins", DIGEST)
    assert parse_reference("127.0.0.1:5000/penguins:v1").tag == "v1"
    assert Registry("ghcr.io").base == "https://ghcr.io/v2"
    hub = parse_reference("penguins:latest")
    assert (hub.registry, hub.repository, hub.tag) == ("docker.io", "library/penguins", "latest")
    assert Registry(hub.registry).base == "https://registry-1.docker.io/v2"
    with pytest.raises(UsageError, match="is not an image reference"):
        parse_reference("ghcr.io/Acme/Penguins")
