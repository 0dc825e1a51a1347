"""Helpers for promotion tests: a project repository with a bare remote, images in a real local registry
(synthetic ones written over the registry's HTTP API, or small serving stubs built with Docker), and an
in-process webhook receiver that checks signatures."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tarfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from mlcd.promotion.targets.webhook import SIGNATURE_HEADER, signature_matches
from testing.repos import git, tool_env

REGISTRY = "127.0.0.1:5000"
MODEL = "penguins-classifier"

CONFIG = """\
version: 1
data: {{path: data.csv}}
contract:
  label: species
  columns:
    species: {{dtype: category}}
    bill_length_mm: {{dtype: float}}
model: {{name: {model}, path: models/model.skops}}
metrics:
  accuracy:
  log_loss:
gates:
  metrics:
    accuracy: {{min: 0.9, max_regression_vs_production: 0.02}}
    log_loss: {{max: 0.5}}
  require_data_tests: false
package: {{image: "{image}", port: 8080}}
deploy:
  stages: [staging, production]
  environments:
{environments}
"""


def project_config(image: str, environments: str, model: str = MODEL) -> str:
    return CONFIG.format(model=model, image=image, environments=environments)


def make_project(root: Path, config: str) -> Path:
    """A git repository with mlcd.yaml and one commit, and a bare repository as its ``origin``."""
    remote = root / "origin.git"
    project = root / "project"
    project.mkdir(parents=True)
    git(root, "init", "-q", "--bare", "--initial-branch=main", str(remote))
    git(project, "init", "-q", "-b", "main")
    (project / "mlcd.yaml").write_text(config)
    git(project, "add", "mlcd.yaml")
    git(project, "commit", "-qm", "project")
    git(project, "remote", "add", "origin", str(remote))
    git(project, "push", "-q", "origin", "main")
    return project


def set_deploy(project: Path, deploy: Mapping[str, Any]) -> None:
    """Replace the ``deploy:`` section of the project's mlcd.yaml (the rest stays as it was, comments aside)."""
    import yaml

    path = project / "mlcd.yaml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["deploy"] = dict(deploy)
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


def commit(project: Path, message: str) -> str:
    git(project, "commit", "-q", "--allow-empty", "-m", message)
    git(project, "push", "-q", "origin", "main")
    return git(project, "rev-parse", "HEAD").strip()


def model_labels(model: str, sha256: str, metrics: Mapping[str, float], revision: str | None) -> dict[str, str]:
    labels = {"dev.mlcd.model.name": model, "dev.mlcd.model.sha256": sha256,
              "dev.mlcd.metrics": json.dumps(dict(metrics), separators=(",", ":"))}
    if revision:
        labels["org.opencontainers.image.revision"] = revision
    return labels


def fake_sha(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def push_synthetic_image(repository: str, labels: Mapping[str, str], *, registry: str = REGISTRY,
                         tag: str = "latest") -> str:
    """An image of one empty layer and a config holding ``labels``, written with the registry's HTTP API
    (no Docker engine needed); returns its digest."""
    base = f"http://{registry}/v2/{repository}"
    session = requests.Session()
    session.trust_env = False
    layer = _empty_layer()
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Labels": dict(labels), "Env": ["MLCD_PORT=8080"]},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}},
                        sort_keys=True).encode()
    for blob in (layer, config):
        digest = "sha256:" + hashlib.sha256(blob).hexdigest()
        started = session.post(f"{base}/blobs/uploads/", timeout=10)
        started.raise_for_status()
        location = started.headers["Location"]
        location = location if location.startswith("http") else f"http://{registry}{location}"
        separator = "&" if "?" in location else "?"
        session.put(f"{location}{separator}digest={digest}", data=blob,
                    headers={"Content-Type": "application/octet-stream"}, timeout=10).raise_for_status()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": len(config),
                   "digest": "sha256:" + hashlib.sha256(config).hexdigest()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "size": len(layer),
                    "digest": "sha256:" + hashlib.sha256(layer).hexdigest()}],
    }, sort_keys=True).encode()
    answer = session.put(f"{base}/manifests/{tag}", data=manifest,
                         headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, timeout=10)
    answer.raise_for_status()
    return "sha256:" + hashlib.sha256(manifest).hexdigest()


def _empty_layer() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w"):
        pass
    return buffer.getvalue()


def registry_tag_digest(repository: str, tag: str, registry: str = REGISTRY) -> str | None:
    session = requests.Session()
    session.trust_env = False
    answer = session.head(f"http://{registry}/v2/{repository}/manifests/{tag}", timeout=10, headers={
        "Accept": "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"})
    return answer.headers.get("Docker-Content-Digest") if answer.status_code == 200 else None


def record_promotion(repo: Path, model: str, version: str, commit: str, number: int,
                     metrics: Mapping[str, float] | None = None, at: datetime | None = None) -> None:
    """The promotion record `mlcd promote` writes (annotated tags, read as GTO reads them): ``version``
    registered at ``commit`` and assigned to production as the ``number``-th stage tag; the metrics evidence
    only when given (compare otherwise reads the metrics file at that commit). ``at`` dates the tags in the
    past (registration at ``at``, assignment a second later), as if promoted then."""
    from mlcd import record

    evidence: dict[str, Any] = {"version": version, **({"metrics": dict(metrics)} if metrics else {})}
    tags = [
        record.NewTag(record.registration_tag(model, version), commit,
                      record.tag_message(record.summary_line("register", model, version), evidence)),
        record.NewTag(record.assignment_tag(model, "production", number), commit,
                      record.tag_message(record.summary_line("assign", model, version, "production"),
                                         {"environment": "production", **evidence})),
    ]
    tagger = record.Identity("release-bot", "bot@localhost")
    if at is None:
        record.create_tags(repo, tags, tagger, not_before=record.History.read(repo, model).latest_time())
        return
    for offset, tag in enumerate(tags):
        when = int(at.timestamp()) + offset
        subprocess.run(["git", "tag", "--annotate", "--cleanup=verbatim", "--file=-", tag.name, tag.commit],
                       cwd=repo, input=tag.message, text=True, check=True, capture_output=True,
                       env={**tool_env(), "GIT_COMMITTER_NAME": tagger.name, "GIT_COMMITTER_EMAIL": tagger.email,
                            "GIT_COMMITTER_DATE": f"{when} +0000"})


def gto(project: Path, *args: str) -> Any:
    """The ``gto`` CLI's JSON answer, run in ``project``."""
    result = subprocess.run([str(Path(sys.executable).parent / "gto"), *args, "--json"], cwd=project,
                            capture_output=True, text=True, env=tool_env(), check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# --- a webhook receiver -------------------------------------------------------------------------------


@dataclass
class Receiver:
    """Plays the platform behind a webhook target: checks every signature, keeps what is deployed per
    environment, refuses digests in ``refuse`` (422), and answers 503 ``fail_times`` times first."""

    secret: bytes
    refuse: set[str] = field(default_factory=set)
    fail_times: int = 0
    deployed: dict[str, dict[str, Any]] = field(default_factory=dict)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, status: int, body: Any = None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if not signature_matches(receiver.secret, b"", self.headers.get(SIGNATURE_HEADER)):
                    receiver.bad_signatures += 1
                    self._reply(401, {"error": "bad signature"})
                    return
                environment = parse_qs(urlsplit(self.path).query).get("environment", [""])[0]
                current = receiver.deployed.get(environment)
                self._reply(200, current) if current else self._reply(404, {"error": "nothing deployed"})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if not signature_matches(receiver.secret, body, self.headers.get(SIGNATURE_HEADER)):
                    receiver.bad_signatures += 1
                    self._reply(401, {"error": "bad signature"})
                    return
                if receiver.fail_times > 0:
                    receiver.fail_times -= 1
                    self._reply(503, {"error": "busy"})
                    return
                payload = json.loads(body)
                receiver.deliveries.append(payload)
                if payload.get("digest") in receiver.refuse:
                    self._reply(422, {"error": "rollout failed: the new version never became ready"})
                    return
                if payload["event"] == "undeploy":
                    receiver.deployed.pop(payload["environment"], None)
                else:
                    receiver.deployed[payload["environment"]] = {
                        k: payload.get(k) for k in ("digest", "image", "version", "model_sha256")}
                self._reply(200, {"ok": True})

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


# --- serving stubs: tiny images that answer like `mlcd serve` ----------------------------------------

STUB_SERVER = '''\
import json, os, signal, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL, VERSION = os.environ["STUB_MODEL"], os.environ["STUB_VERSION"]
READY = os.environ.get("STUB_NEVER_READY") != "1"
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))


class Handler(BaseHTTPRequestHandler):
    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/v2/health/live":
            self.answer(200, {"live": True})
        elif self.path == "/v2/health/ready":
            self.answer(200 if READY else 503, {"ready": READY})
        elif self.path == "/v2/models/" + MODEL and READY:
            self.answer(200, {"name": MODEL, "versions": [VERSION], "platform": "stub"})
        else:
            self.answer(404 if READY else 503, {"error": "not here"})

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("MLCD_PORT", "8080"))), Handler).serve_forever()
'''

STUB_BASE_IMAGE = "mlcd-test-base:bookworm"


def build_stub_image(client: Any, repository: str, *, model: str, sha256: str, metrics: Mapping[str, float],
                     revision: str | None, never_ready: bool = False, registry: str = REGISTRY) -> str:
    """A stub serving image labelled like `mlcd package` labels, pushed to the registry; returns its digest."""
    labels = model_labels(model, sha256, metrics, revision)
    dockerfile = "\n".join([
        f"FROM {STUB_BASE_IMAGE}",
        "COPY stub.py /srv/stub.py",
        f"ENV STUB_MODEL={model} STUB_VERSION={sha256[:12]} MLCD_PORT=8080"
        + (" STUB_NEVER_READY=1" if never_ready else ""),
        "USER 10001:10001",
        "EXPOSE 8080",
        'ENTRYPOINT ["python3", "/srv/stub.py"]',
        *[f"LABEL {key}={json.dumps(value)}" for key, value in sorted(labels.items())],
    ]) + "\n"
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, text in (("Dockerfile", dockerfile), ("stub.py", STUB_SERVER)):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    tag = f"{registry}/{repository}:{sha256[:12]}{'-never-ready' if never_ready else ''}"
    client.images.build(fileobj=context, custom_context=True, tag=tag, rm=True, pull=False)
    for line in client.images.push(tag, stream=True, decode=True):
        if "error" in line:
            raise RuntimeError(f"push {tag}: {line['error']}")
    digest = registry_tag_digest(repository, tag.rsplit(":", 1)[1], registry)
    assert digest, f"{tag} is not in the registry after the push"
    return digest


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serving_version(url: str, model: str) -> str | None:
    """The model version the endpoint at ``url`` serves, or None when nothing answers."""
    session = requests.Session()
    session.trust_env = False
    try:
        answer = session.get(f"{url}/v2/models/{model}", timeout=3)
    except requests.RequestException:
        return None
    if answer.status_code != 200:
        return None
    versions = answer.json().get("versions") or [None]
    return str(versions[0])


def remove_containers(client: Any, prefix: str) -> None:
    for container in client.containers.list(all=True, filters={"name": prefix}):
        container.remove(force=True)


class RegistryProxy:
    """Stands between mlcd and the local registry; with ``refuse_writes`` set, every write (a retag) finds
    the registry gone: the connection closes without an answer."""

    def __init__(self, upstream: str = REGISTRY) -> None:
        self.upstream = upstream
        self.refuse_writes = False
        self.refused: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                if proxy.refuse_writes and self.command in ("PUT", "POST", "PATCH", "DELETE"):
                    proxy.refused.append(f"{self.command} {self.path}")
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                session = requests.Session()
                session.trust_env = False
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                answer = session.request(self.command, f"http://{proxy.upstream}{self.path}", data=body or None,
                                         headers=headers, allow_redirects=False, timeout=60)
                data = b"" if self.command == "HEAD" else answer.content
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower() in ("content-length", "connection", "transfer-encoding", "content-encoding"):
                        continue
                    if name.lower() == "location":
                        value = value.replace(proxy.upstream, proxy.address)
                    self.send_header(name, value)
                self.send_header("Content-Length", answer.headers.get("Content-Length", "0")
                                 if self.command == "HEAD" else str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _forward

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
