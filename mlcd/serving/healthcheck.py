"""The image's HEALTHCHECK: healthy when the model is ready; a server that stopped answering is killed.

``python -m mlcd.serving.healthcheck`` asks ``/v2/health/ready`` on ``$MLCD_PORT``. It exits 0 on 200 and 1
otherwise, which is what Docker shows as the container's health. Docker restarts a container only when its
process exits, never when it turns unhealthy, so the check also acts as a liveness probe: once the server
has answered, ``KILL_AFTER`` checks in a row without any answer (a hung or SIGSTOPped server) make it kill
the server. The init (dumb-init, PID 1) then exits, and the container's restart policy starts it again.
A server that answers 503 — still loading, or a refused model that must stay visible — is never killed.

Only stdlib: the check runs every few seconds and must start fast. State (unanswered checks in a row)
lives in a file under ``/tmp``; it is written only after the server first answered, so a slow start never
counts.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path

__all__ = ["KILL_AFTER", "check", "main", "next_state", "server_processes"]

KILL_AFTER = 3
STATE = Path("/tmp/mlcd-healthcheck")
INITS = (b"dumb-init", b"docker-init", b"tini")
TIMEOUT = 2.0


def next_state(previous: int | None, answered: bool) -> tuple[int | None, bool]:
    """(unanswered checks in a row, or None before the first answer; whether to kill the server now)."""
    if answered:
        return 0, False
    if previous is None:
        return None, False
    unanswered = previous + 1
    return unanswered, unanswered >= KILL_AFTER


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


def _read(state: Path) -> int | None:
    try:
        return int(state.read_text())
    except (OSError, ValueError):
        return None


def check(url: str, state: Path, kill: Callable[[Iterable[int]], None]) -> int:
    """One check: the exit status for Docker, after updating ``state`` and killing the server if it hung."""
    status = ask(url)
    unanswered, hung = next_state(_read(state), status is not None)
    if unanswered is not None:
        with contextlib.suppress(OSError):  # a read-only /tmp: health is still reported, a hang not acted on
            state.write_text(str(unanswered))
    if hung:
        kill(server_processes())
    return 0 if status == 200 else 1


def _kill(pids: Iterable[int]) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)  # works on a stopped process, where SIGTERM would wait


def main() -> int:
    url = f"http://127.0.0.1:{os.environ.get('MLCD_PORT', '8080')}/v2/health/ready"
    return check(url, STATE, _kill)


if __name__ == "__main__":
    sys.exit(main())
