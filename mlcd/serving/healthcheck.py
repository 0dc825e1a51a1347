"""The image's HEALTHCHECK: healthy when the model is ready; a server that stopped answering is killed.

``python -m mlcd.serving.healthcheck`` asks ``/v2/health/ready`` on ``$MLCD_PORT``. It exits 0 on 200 and 1
otherwise, which is what Docker shows as the container's health. Docker restarts a container only when its
process exits, never when it turns unhealthy, so the check also acts as a liveness probe: ``KILL_AFTER``
checks in a row without any answer (a hung or SIGSTOPped server) make it kill the server, once the server
has answered before or the container is ``START_GRACE`` seconds old (a slow start is not a hang). The
init (dumb-init, PID 1) then exits, and the container's restart policy starts it again. A server that
answers 503 — still loading, or a refused model that must stay visible — is never killed.

Only stdlib: the check runs every few seconds and must start fast. What it remembers between checks
lives in a small file under ``/tmp``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["KILL_AFTER", "START_GRACE", "Health", "check", "main", "next_state", "server_processes"]

KILL_AFTER = 3
START_GRACE = 60.0
STATE = Path("/tmp/mlcd-healthcheck")
INITS = (b"dumb-init", b"docker-init", b"tini")
TIMEOUT = 2.0


@dataclass(frozen=True)
class Health:
    unanswered: int = 0  # checks in a row without an answer
    answered: bool = False  # the server answered at least once since the container started

    def text(self) -> str:
        return f"{self.unanswered} {int(self.answered)}"

    @classmethod
    def parse(cls, text: str) -> Health:
        unanswered, answered = text.split()
        return cls(int(unanswered), answered == "1")


def next_state(previous: Health, answered: bool, age: float | None) -> tuple[Health, bool]:
    """The state after one check, and whether to kill the server now; ``age``: the container's, in seconds."""
    if answered:
        return Health(0, True), False
    state = Health(previous.unanswered + 1, previous.answered)
    started = previous.answered or (age is not None and age >= START_GRACE)
    return state, started and state.unanswered >= KILL_AFTER


def container_age(proc: Path = Path("/proc")) -> float | None:
    """Seconds since PID 1 started (the container's age), or None when /proc does not tell."""
    try:
        ticks = int((proc / "1" / "stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float((proc / "uptime").read_text().split()[0])
        return uptime - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def ask(url: str, timeout: float = TIMEOUT) -> int | None:
    """The status the server answers, or None when it does not answer in time."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (OSError, ValueError):  # refused, reset, timed out
        return None


def server_processes(proc: Path = Path("/proc")) -> list[int]:
    """The processes to kill: PID 1's children when PID 1 is an init (else none: never outside a container
    that runs one, e.g. with ``--pid=host``)."""
    try:
        if not any(name in (proc / "1" / "cmdline").read_bytes() for name in INITS):
            return []
    except OSError:
        return []
    children = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or entry.name == "1":
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == 1:
            children.append(int(entry.name))
    return children


def _read(state: Path) -> Health:
    try:
        return Health.parse(state.read_text())
    except (OSError, ValueError):
        return Health()


def check(url: str, state: Path, kill: Callable[[Iterable[int]], None], age: float | None = None) -> int:
    """One check: the exit status for Docker, after updating ``state`` and killing the server if it hung."""
    status = ask(url)
    after, hung = next_state(_read(state), status is not None, age)
    with contextlib.suppress(OSError):  # a read-only /tmp: health is still reported, a hang is not acted on
        state.write_text(after.text())
    if hung:
        kill(server_processes())
    return 0 if status == 200 else 1


def _kill(pids: Iterable[int]) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)  # works on a stopped process, where SIGTERM would wait


def main() -> int:
    url = f"http://127.0.0.1:{os.environ.get('MLCD_PORT', '8080')}/v2/health/ready"
    return check(url, STATE, _kill, container_age())


if __name__ == "__main__":
    sys.exit(main())
