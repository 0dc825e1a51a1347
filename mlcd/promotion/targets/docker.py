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
   removed, and the old container gets its name back and is started again (with its own settings).

The serving container runs with the restart policy ``unless-stopped``; the image's health check kills a
server that stopped answering (its init, PID 1, then exits), so Docker restarts a hung server too, which it
never does for an unhealthy container alone (docs/packaging.md).

Settings reach the server through its environment (``docker.env``). ``docker.prediction_log`` is a
directory on the Docker host, mounted at ``/logs`` with ``MLCD_PREDICTION_LOG=/logs``; when the engine is
local, it is created if missing and an empty one made writable for the image's user first.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
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
LOG_MOUNT = "/logs"  # where the prediction log directory appears in the container


def from_config(model: str, environment: EnvironmentConfig, env: Mapping[str, str]) -> DockerTarget:
    settings = environment.docker
    port = settings.port or _port_of(environment.url)
    if port is None:
        raise ConfigError(f"deploy.environments.{environment.name}: a docker target needs a port",
                          fix=f"set deploy.environments.{environment.name}.docker.port, or a url with a port")
    return DockerTarget(model, environment.name, port=port, url=environment.url,
                        container=settings.container, ready_timeout=settings.ready_timeout, memory=settings.memory,
                        env=settings.env, prediction_log=settings.prediction_log,
                        local_engine=local_engine(env.get("DOCKER_HOST")))


def _port_of(url: str | None) -> int | None:
    return urlsplit(url).port if url else None


def local_engine(docker_host: str | None) -> bool:
    """Whether the Docker engine shares this machine's file system (a host directory is one mlcd can see)."""
    return not docker_host or docker_host.startswith("unix://")


def container_env(env: Mapping[str, str], prediction_log: str | None) -> dict[str, str]:
    """The serving container's environment: ``docker.env``, and the prediction log where it is mounted."""
    return {**env, "MLCD_PREDICTION_LOG": LOG_MOUNT} if prediction_log else dict(env)


@dataclass(frozen=True)
class LogDirAccess:
    """What makes a host directory writable for the container's user: nothing (all None), a new owner
    (mlcd runs as root), or group write with setgid plus the directory's group for the container."""

    owner: int | None = None
    mode: int | None = None
    group: int | None = None


def log_dir_access(owner: int, group: int, mode: int, *, uid: int, gid: int | None, euid: int,
                   empty: bool) -> LogDirAccess | None:
    """How the directory (``owner``, ``group``, ``mode`` as stat gives them) becomes writable for the
    container's ``uid``/``gid`` when mlcd runs as ``euid``; None when mlcd cannot make it so. mlcd changes
    only an empty directory (one it made, or an unused one), never one that already holds files."""
    mode &= 0o7777
    group_writable = 0o2070
    if (owner == uid and mode & 0o300 == 0o300) or (group == gid and mode & 0o030 == 0o030) or mode & 0o003 == 0o003:
        return LogDirAccess()
    if owner == euid and euid != 0 and mode & group_writable == group_writable:
        return LogDirAccess(group=group)  # prepared so by an earlier deployment
    if not empty:
        return None
    if euid == 0:
        return LogDirAccess(owner=uid, mode=mode | 0o700)
    if owner == euid:
        return LogDirAccess(mode=mode | group_writable, group=group)
    return None


def prepare_log_dir(path: Path, uid: int, gid: int | None, *, field: str, euid: int | None = None) -> int | None:
    """Create ``path`` if needed and make it writable for ``uid`` (mlcd running as ``euid``, by default this
    process's); returns a group the container must join, or None. ConfigError (naming ``field`` and the
    command that fixes it) when it cannot."""
    euid = os.geteuid() if euid is None else euid
    fix = f"on the Docker host: `sudo mkdir -p {path} && sudo chown {uid} {path}`, or choose another directory"
    try:
        path.mkdir(parents=True, exist_ok=True)
        info = path.stat()
        empty = not any(path.iterdir())
    except OSError as exc:
        raise ConfigError(f"{field}: cannot create or read {path}: {exc.strerror or exc}", fix=fix) from None
    access = log_dir_access(info.st_uid, info.st_gid, info.st_mode, uid=uid, gid=gid, euid=euid, empty=empty)
    if access is None:
        why = "does not own it" if empty else "changes only an empty directory"
        raise ConfigError(f"{field}: {path} is not writable by uid {uid} (the server's user), and mlcd (uid "
                          f"{euid}) {why}", fix=fix)
    try:
        if access.owner is not None:
            os.chown(path, access.owner, -1)
        if access.mode is not None:
            path.chmod(access.mode)
    except OSError as exc:
        raise ConfigError(f"{field}: cannot make {path} writable by uid {uid}: {exc.strerror or exc}",
                          fix=fix) from None
    return access.group


def _ids(user: str) -> tuple[int | None, int | None]:
    """The numeric uid and gid of an image's ``USER`` (``10001:10001``, ``10001``); None for names."""
    uid, _, gid = user.partition(":")
    return (int(uid) if uid.isdigit() else None), (int(gid) if gid.isdigit() else None)


class DockerTarget:
    kind = "docker"

    def __init__(self, model: str, environment: str, *, port: int, url: str | None = None,
                 container: str | None = None, ready_timeout: float = 60.0, memory: str | None = None,
                 env: Mapping[str, str] | None = None, prediction_log: str | None = None, local_engine: bool = True,
                 client: Any = None) -> None:
        self.model = model
        self.environment = environment
        self.port = port
        self.url = url or f"http://127.0.0.1:{port}"
        self.name = container or f"mlcd-{model}-{environment}"
        self.ready_timeout = ready_timeout
        self.memory = memory
        self.env = container_env(env or {}, prediction_log)
        self.prediction_log = prediction_log
        self.local_engine = local_engine
        self._log_group: int | None = None
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
        self._prepare_log(image)
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
        image = self._pull(previous.image)
        self._prepare_log(image)
        self._switch(image, release)

    # --- steps --------------------------------------------------------------------------------------

    def _prepare_log(self, image: Any) -> None:
        """The prediction log directory, ready for the image's user (on a remote engine: as it is; the
        server refuses to start, in one line, if it cannot write there)."""
        self._log_group = None
        if self.prediction_log is None or not self.local_engine:
            return
        uid, gid = _ids(_user(image))
        if uid is not None:
            self._log_group = prepare_log_dir(Path(self.prediction_log), uid, gid,
                                              field=f"deploy.environments.{self.environment}.docker.prediction_log")

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
        labels = {LABEL + "environment": self.environment, LABEL + "model": self.model,
                  LABEL + "digest": release.digest, LABEL + "image": release.image,
                  LABEL + "version": release.version, LABEL + "model-sha256": release.model_sha256 or ""}
        binding = ("127.0.0.1", host_port) if host_port is not None else ("127.0.0.1",)
        options: dict[str, Any] = {
            "detach": True, "name": name, "labels": labels, "user": _user(image), "read_only": True,
            "tmpfs": {"/tmp": "rw,noexec,nosuid,size=64m"}, "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"], "ports": {f"{inner}/tcp": binding}, "pids_limit": 512,
            "use_config_proxy": False,
        }
        if host_port is not None:
            options["restart_policy"] = {"Name": "unless-stopped"}
        if self.memory:
            options["mem_limit"] = self.memory
        if self.env:
            options["environment"] = dict(self.env)
        if self.prediction_log is not None:
            options["volumes"] = {self.prediction_log: {"bind": LOG_MOUNT, "mode": "rw"}}
            if self._log_group is not None:
                options["group_add"] = [str(self._log_group)]
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


def _user(image: Any) -> str:
    """The user the container runs as: the image's, unless that is root."""
    user = str((image.attrs.get("Config") or {}).get("User") or "")
    return NON_ROOT if user.split(":", 1)[0] in ("", "0", "root") else user


def _text(exc: Exception) -> str:
    return str(getattr(exc, "message", exc))
