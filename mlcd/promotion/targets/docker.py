"""The ``docker`` target: the environment's model runs as one container on a Docker host (the engine the
environment's DOCKER_HOST points at), serving on a fixed port of 127.0.0.1.

Containers run hardened, as ``mlcd smoke`` runs them: read-only root file system with a tmpfs /tmp,
non-root, every capability dropped, no privilege escalation, the port published on 127.0.0.1 only.

How traffic switches to a new version (the environment's port is the only thing clients know):

1. **Candidate.** The new image starts as ``<name>-candidate`` on a free loopback port. It must become
   ready (``/v2/health/ready``) and report the expected model version. If not, it is removed and the
   old container, never touched, keeps serving.
2. **Switch.** The old container is stopped and renamed ``<name>-previous``; the new image starts as
   ``<name>`` on the environment's port, and must become ready and report the right model there too.
   Clients see connection errors only between the old container stopping and the new one listening
   (the container start, a second or two; the model is already proven to load). Put a proxy in front
   for zero-downtime switches.
3. **Finish or undo.** Once the new container serves, the old one is removed. If it does not, it is
   removed, and the old container gets its name back and is started again.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from mlcd.config.model import EnvironmentConfig
from mlcd.errors import ConfigError, DeployFailed, DockerError
from mlcd.promotion.targets import Deployed, Release
from mlcd.promotion.verify import endpoint_problems, require_endpoint, wait_ready

LABEL = "dev.mlcd.deploy."
NON_ROOT = "10001:10001"
STOP_SECONDS = 10
LOG_TAIL = 30


def from_config(model: str, environment: EnvironmentConfig, env: Mapping[str, str]) -> DockerTarget:
    settings = environment.docker
    port = settings.port or _port_of(environment.url)
    if port is None:
        raise ConfigError(f"deploy.environments.{environment.name}: a docker target needs a port",
                          fix=f"set deploy.environments.{environment.name}.docker.port, or a url with a port")
    return DockerTarget(model, environment.name, port=port, url=environment.url,
                        container=settings.container, ready_timeout=settings.ready_timeout, memory=settings.memory)


def _port_of(url: str | None) -> int | None:
    return urlsplit(url).port if url else None


class DockerTarget:
    kind = "docker"

    def __init__(self, model: str, environment: str, *, port: int, url: str | None = None,
                 container: str | None = None, ready_timeout: float = 60.0, memory: str | None = None,
                 client: Any = None) -> None:
        self.model = model
        self.environment = environment
        self.port = port
        self.url = url or f"http://127.0.0.1:{port}"
        self.name = container or f"mlcd-{model}-{environment}"
        self.ready_timeout = ready_timeout
        self.memory = memory
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            from mlcd.packaging.engine import connect

            self._client = connect()
        return self._client

    # --- the contract -------------------------------------------------------------------------------

    def current(self) -> Deployed | None:
        container = self._get(self.name)
        if container is None or container.status != "running":
            return None
        labels = container.labels or {}
        digest = labels.get(LABEL + "digest")
        if not digest:
            return None
        return Deployed(self.kind, self.environment, digest, labels.get(LABEL + "image", ""),
                        labels.get(LABEL + "version") or None, self.url,
                        {"container": container.short_id, "model_sha256": labels.get(LABEL + "model-sha256", "")})

    def deploy(self, release: Release, evidence: Mapping[str, Any]) -> Deployed:
        image = self._pull(release.image)
        self._try_candidate(image, release)
        return self._switch(image, release)

    def verify(self, deployed: Deployed) -> None:
        running = self.current()
        if running is None or running.digest != deployed.digest:
            found = running.digest if running else "nothing"
            raise DeployFailed(f"{self.environment}: {self.name} runs {found}, not {deployed.digest}")
        require_endpoint(self.environment, self.url, self.model, deployed.details.get("model_sha256") or None)

    def restore(self, previous: Deployed | None, evidence: Mapping[str, Any]) -> None:
        if previous is None:
            container = self._get(self.name)
            if container is not None:
                self._remove(container)
            return
        release = Release(self.model, self.environment, previous.version or "", previous.image, previous.digest,
                          previous.details.get("model_sha256") or None)
        self._switch(self._pull(previous.image), release)

    # --- steps --------------------------------------------------------------------------------------

    def _try_candidate(self, image: Any, release: Release) -> None:
        stale = self._get(f"{self.name}-candidate")
        if stale is not None:
            self._remove(stale)
        candidate = self._run(image, release, f"{self.name}-candidate", None)
        try:
            url = f"http://127.0.0.1:{self._published_port(candidate, image)}"
            self._await(candidate, url, release)
        finally:
            self._remove(candidate)

    def _switch(self, image: Any, release: Release) -> Deployed:
        old = self._get(self.name)
        leftover = self._get(f"{self.name}-previous")
        if leftover is not None:
            self._remove(leftover)
        if old is not None:
            self._docker(lambda: old.stop(timeout=STOP_SECONDS), f"stop {self.name}")
            self._docker(lambda: old.rename(f"{self.name}-previous"), f"rename {self.name}")
        new = None
        try:
            new = self._run(image, release, self.name, self.port)
            self._await(new, self.url, release)
        except (DeployFailed, DockerError) as failure:
            if new is not None:
                self._remove(new)
            if old is not None:
                self._bring_back(old, failure)
            raise
        if old is not None:
            self._remove(old)
        return Deployed(self.kind, self.environment, release.digest, release.image, release.version, self.url,
                        {"container": new.short_id, "model_sha256": release.model_sha256 or ""})

    def _bring_back(self, old: Any, failure: Exception) -> None:
        try:
            self._docker(lambda: old.rename(self.name), f"rename back to {self.name}")
            self._docker(old.start, f"start {self.name} again")
            wait_ready(self.url, self.ready_timeout)
        except (DeployFailed, DockerError) as exc:
            raise DeployFailed(f"{self.environment}: the new version failed ({_text(failure)}) and the previous "
                               f"container could not be brought back: {_text(exc)}",
                               fix=f"nothing serves on port {self.port}: run `mlcd rollback {self.environment}`"
                               ) from None

    def _await(self, container: Any, url: str, release: Release) -> None:
        try:
            wait_ready(url, self.ready_timeout, gone=lambda: self._exited(container))
        except DeployFailed as exc:
            raise DeployFailed(f"{self.environment}: {release.image} did not become ready: {exc.message}"
                               f"{self._log_tail(container)}", fix=exc.fix) from None
        problems = endpoint_problems(url, self.model, release.model_sha256)
        if problems:
            raise DeployFailed(f"{self.environment}: {release.image}: " + "; ".join(problems))

    # --- the engine ---------------------------------------------------------------------------------

    def _run(self, image: Any, release: Release, name: str, host_port: int | None) -> Any:
        inner = self._inner_port(image)
        user = (image.attrs.get("Config") or {}).get("User") or ""
        if user.split(":", 1)[0] in ("", "0", "root"):
            user = NON_ROOT
        labels = {LABEL + "environment": self.environment, LABEL + "model": self.model,
                  LABEL + "digest": release.digest, LABEL + "image": release.image,
                  LABEL + "version": release.version, LABEL + "model-sha256": release.model_sha256 or ""}
        binding = ("127.0.0.1", host_port) if host_port is not None else ("127.0.0.1",)
        options: dict[str, Any] = {
            "detach": True, "name": name, "labels": labels, "user": user, "read_only": True,
            "tmpfs": {"/tmp": "rw,noexec,nosuid,size=64m"}, "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"], "ports": {f"{inner}/tcp": binding}, "pids_limit": 512,
            "use_config_proxy": False,
        }
        if host_port is not None:
            options["restart_policy"] = {"Name": "unless-stopped"}
        if self.memory:
            options["mem_limit"] = self.memory
        return self._docker(lambda: self.client.containers.run(image.id, **options), f"start {name}")

    def _pull(self, reference: str) -> Any:
        import docker

        with contextlib.suppress(docker.errors.ImageNotFound):
            return self.client.images.get(reference)
        repository, _, digest = reference.partition("@")
        return self._docker(lambda: self.client.images.pull(repository, tag=digest), f"pull {reference}")

    def _get(self, name: str) -> Any:
        import docker

        try:
            return self.client.containers.get(name)
        except docker.errors.NotFound:
            return None
        except docker.errors.DockerException as exc:
            from mlcd.packaging.engine import reason

            raise DockerError(f"cannot inspect container {name}: {reason(exc)}") from None

    def _remove(self, container: Any) -> None:
        import docker

        with contextlib.suppress(docker.errors.NotFound):
            self._docker(lambda: container.remove(force=True), f"remove {container.name}")

    def _docker(self, call: Callable[[], Any], what: str) -> Any:
        import docker

        try:
            return call()
        except docker.errors.NotFound:
            raise
        except docker.errors.DockerException as exc:
            from mlcd.packaging.engine import reason

            raise DockerError(f"{self.environment}: cannot {what}: {reason(exc)}") from None

    def _inner_port(self, image: Any) -> int:
        config = image.attrs.get("Config") or {}
        env = dict(item.split("=", 1) for item in config.get("Env") or [] if "=" in item)
        if env.get("MLCD_PORT", "").isdigit():
            return int(env["MLCD_PORT"])
        exposed = [int(p.split("/")[0]) for p in (config.get("ExposedPorts") or {}) if p.endswith("/tcp")]
        return exposed[0] if exposed else 8080

    def _published_port(self, container: Any, image: Any) -> int:
        deadline = time.monotonic() + 10
        while True:
            container.reload()
            bindings = (container.ports or {}).get(f"{self._inner_port(image)}/tcp") or []
            if bindings:
                return int(bindings[0]["HostPort"])
            reason = self._exited(container)
            if reason or time.monotonic() > deadline:
                raise DeployFailed(f"{self.environment}: {container.name} published no port"
                                   f"{': ' + reason if reason else ''}{self._log_tail(container)}")
            time.sleep(0.1)

    def _exited(self, container: Any) -> str | None:
        import docker

        try:
            container.reload()
        except docker.errors.NotFound:
            return "the container is gone"
        if container.status in ("exited", "dead"):
            code = (container.attrs.get("State") or {}).get("ExitCode")
            return f"the container exited with code {code}"
        return None

    def _log_tail(self, container: Any) -> str:
        import docker

        try:
            lines = container.logs(tail=LOG_TAIL).decode(errors="replace").strip().splitlines()
        except docker.errors.DockerException:
            return ""
        return f"\n  container log (last {len(lines)} lines):\n    " + "\n    ".join(lines) if lines else ""


def _text(exc: Exception) -> str:
    return str(getattr(exc, "message", exc))
