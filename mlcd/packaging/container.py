"""Run an image built by `mlcd package` as production would, for a check: hardened (read-only root, tmpfs
/tmp, non-root, no capabilities, no privilege escalation), its port published on 127.0.0.1 only, until it
is ready; removed however the check ends (success, failure, Ctrl-C or SIGTERM)."""

from __future__ import annotations

import contextlib
import http.client
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any

from mlcd.config import Config
from mlcd.errors import CheckFailed, DockerError
from mlcd.output import Output
from mlcd.packaging import labels
from mlcd.packaging.engine import get_image, reason

LOG_LINES_SHOWN = 80
SMOKE_LABEL = "dev.mlcd.smoke"
NEVER_READY = "will not become ready"
OVERSIZED_BYTES = 1 << 34


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """Turn SIGINT, SIGTERM and SIGHUP into KeyboardInterrupt, so ``finally`` blocks run on each."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Ignore interrupts while cleaning up, so a second Ctrl-C cannot leave a container behind."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class Client:
    def __init__(self, port: int, model_name: str) -> None:
        import requests

        self.session = requests.Session()
        self.session.trust_env = False  # 127.0.0.1 only: never through a proxy
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.infer_url = f"{self.base}/v2/models/{model_name}/infer"

    def ready(self) -> tuple[int | None, str]:
        import requests

        try:
            answer = self.session.get(f"{self.base}/v2/health/ready", timeout=2)
        except requests.RequestException:
            return None, "not answering yet"
        return answer.status_code, answer.text[:300]

    def post(self, url: str, body: bytes, content_type: str = "application/json") -> tuple[int, Any]:
        answer = self.session.post(url, data=body, headers={"Content-Type": content_type}, timeout=30)
        try:
            return answer.status_code, answer.json()
        except ValueError:
            return answer.status_code, answer.text[:300]

    def declared_oversize(self) -> tuple[int | None, str]:
        """Declare a body far above any limit, send a byte of it, and read the answer."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.putrequest("POST", self.infer_url.removeprefix(self.base))
            connection.putheader("Content-Type", "application/json")
            connection.putheader("Content-Length", str(OVERSIZED_BYTES))
            connection.endheaders(b"{")
            answer = connection.getresponse()
            return answer.status, answer.read(300).decode(errors="replace")
        except (OSError, http.client.HTTPException) as exc:
            return None, str(exc)
        finally:
            connection.close()


def _wait_ready(container: Any, client: Client, timeout: float) -> tuple[bool, str]:
    deadline = time.monotonic() + timeout
    last = "not answering yet"
    while time.monotonic() < deadline:
        container.reload()
        if container.status in ("exited", "dead"):
            code = container.attrs.get("State", {}).get("ExitCode")
            return False, f"the container exited with code {code}"
        status, text = client.ready()
        if status == 200:
            return True, ""
        if status is not None:
            last = f"{status} {' '.join(text.split())}"
            if NEVER_READY in text:
                return False, last
        time.sleep(0.05)
    return False, f"not ready after {timeout:g}s (last answer: {last})"


def _show_log(container: Any, out: Output) -> None:
    try:
        text = container.logs(stdout=True, stderr=True, tail=LOG_LINES_SHOWN).decode(errors="replace")
    except Exception as exc:  # the log is a courtesy; the failure is reported either way
        text = f"(no log: {reason(exc)})"
    with out.group("Container log"):
        for line in text.rstrip().splitlines() or ["(empty)"]:
            out.info(f"    {line}")


@dataclass(frozen=True)
class ServedImage:
    """An image built by `mlcd package`, with what running it needs."""

    ref: str
    image: Any
    sha256: str
    model_name: str
    port: int
    user: str


def inspect_served_image(client: Any, image_ref: str, config: Config) -> ServedImage:
    image = get_image(client, image_ref)
    image_labels = image.labels or {}
    sha256 = labels.model_sha256(image_ref, image_labels)
    env = dict(item.split("=", 1) for item in image.attrs.get("Config", {}).get("Env") or [] if "=" in item)
    user = image.attrs.get("Config", {}).get("User") or ""
    if user.split(":", 1)[0] in ("", "0", "root"):
        raise CheckFailed(f"{image_ref} runs as root", fix="build it with `mlcd package`, which sets a non-root USER")
    return ServedImage(image_ref, image, sha256, image_labels.get(labels.MODEL_NAME) or config.model.name,
                       int(env.get("MLCD_PORT") or config.package.port), user)


@contextlib.contextmanager
def hardened_container(client: Any, served: ServedImage, out: Output, *, timeout: float,
                       purpose: str = "smoke") -> Iterator[tuple[Client, float]]:
    """Run the image hardened, its port on 127.0.0.1 only, until ready: (HTTP client, seconds to ready).

    The container is removed however the block ends: success, failure, Ctrl-C or SIGTERM.
    """
    import docker

    name = f"mlcd-{purpose}-{uuid.uuid4().hex[:12]}"
    port = served.port
    container = None
    with signals_interrupt():
        try:
            started = time.monotonic()
            container = client.containers.run(
                served.image.id, detach=True, name=name, labels={SMOKE_LABEL: "1"}, user=served.user,
                read_only=True, tmpfs={"/tmp": "rw,noexec,nosuid,size=64m"}, cap_drop=["ALL"],
                security_opt=["no-new-privileges"], ports={f"{port}/tcp": ("127.0.0.1", None)},
                environment={"MLCD_PREDICTION_LOG": "off"},  # checks are not traffic, and have nowhere to log
                use_config_proxy=False)
            container.reload()
            bindings = (container.ports or {}).get(f"{port}/tcp") or []
            if not bindings:
                raise DockerError(f"the engine published no host port for {port}/tcp",
                                  fix="check the image's EXPOSE and MLCD_PORT")
            http = Client(int(bindings[0]["HostPort"]), served.model_name)
            with out.group(f"Start {served.ref} hardened ({name}, 127.0.0.1:{http.port} → {port})"):
                ready, why = _wait_ready(container, http, timeout)
                if not ready:
                    _show_log(container, out)
                    raise CheckFailed(f"{served.ref} never became ready: {why}", fix="read the container log above")
                ready_seconds = time.monotonic() - started
                out.info(f"  ready in {ready_seconds:.2f}s")
            yield http, ready_seconds
        except docker.errors.DockerException as exc:
            raise DockerError(f"cannot run {served.ref}: {reason(exc)}") from None
        finally:
            with signals_deferred():
                _remove(client, container, name)


def _remove(client: Any, container: Any, name: str) -> None:
    """Remove the container; if an interrupt came while it was being created, find it by name (the
    engine may still be finishing the create a moment after the request was cut short)."""
    import docker

    for attempt in range(3):
        try:
            (container or client.containers.get(name)).remove(force=True)
            return
        except docker.errors.NotFound:
            if container is not None:
                return
            time.sleep(0.2 * (attempt + 1))
        except docker.errors.DockerException:
            return
