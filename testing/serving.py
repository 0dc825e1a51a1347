"""A real `mlcd serve` in a subprocess on a free 127.0.0.1 port, for integration and fuzz tests."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from testing.repos import tool_env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RunningServer:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(self.url + path, timeout=30, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.post(self.url + path, timeout=30, **kwargs)

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextmanager
def serve(repo: Path, *args: str, wait_ready: bool = True, log: Path | None = None,
          **env: str) -> Iterator[RunningServer]:
    """`mlcd serve --port <free>` in ``repo``; waits until live (and ready, unless ``wait_ready`` is False)."""
    port = free_port()
    log = log or repo / f"serve-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "mlcd", "serve", "--port", str(port), *args], cwd=repo,
                                   stdout=sink, stderr=subprocess.STDOUT, env=tool_env(**env))
    server = RunningServer(process, f"http://127.0.0.1:{port}", log)
    try:
        _wait(server, "/v2/health/ready" if wait_ready else "/v2/health/live")
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait(server: RunningServer, path: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"mlcd serve exited with {server.process.returncode}:\n{server.log_text()}")
        try:
            if requests.get(server.url + path, timeout=5).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"mlcd serve did not answer 200 on {path} within {seconds} s:\n{server.log_text()}")
