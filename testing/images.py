"""Helpers for tests and benchmarks that build, run and push real images.

``scripts/services`` starts what they need: a Docker engine, a registry on 127.0.0.1:5000, the
debootstrapped base image and the wheelhouse. It is idempotent and quick when all is up, so callers
run it first and fail (never skip) with its output when it cannot.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from testing.repos import ROOT, make_template_repo, mlcd

BASE_IMAGE = "mlcd-test-base:bookworm"
WHEELHOUSE = ROOT / ".cache" / "wheelhouse"
REGISTRY = "127.0.0.1:5000"
SERVICES = ROOT / "scripts" / "services"


def start_services(*, stream: bool = False) -> str | None:
    """Run scripts/services; None when everything is up, else the reason it is not. ``stream``: its
    progress goes to this process's output as it happens (the demo), instead of into the reason."""
    result = subprocess.run([str(SERVICES)], capture_output=not stream, text=True, timeout=1800)
    if result.returncode != 0:
        said = "" if stream else f":\n{result.stdout}\n{result.stderr}"
        return f"scripts/services failed (exit {result.returncode}){said}"
    return None


def docker_client() -> Any:
    import docker

    return docker.from_env(timeout=600)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def trained_project(target: Path) -> Path:
    """The template project, trained (model, lineage, metrics) in a fresh git repository."""
    repo = make_template_repo(target)
    result = mlcd(repo, "train")
    assert result.returncode == 0, result.stderr
    return repo


def snapshot_wheelhouse(target: Path) -> Path:
    """A fixed copy (hard links) of the wheelhouse: scripts/services may rebuild the mlcd wheel meanwhile."""
    target.mkdir(parents=True)
    for wheel in WHEELHOUSE.glob("*.whl"):
        os.link(wheel, target / wheel.name)
    return target


def hermetic_package(repo: Path, tag: str, *extra: str, wheelhouse: Path = WHEELHOUSE
                     ) -> subprocess.CompletedProcess[str]:
    """`mlcd package` from the test base image and a wheelhouse: no registry, no index."""
    return mlcd(repo, "package", "--tag", tag, "--base-image", BASE_IMAGE, "--wheelhouse", str(wheelhouse), *extra)


def host_port(container: Any, port: int = 8080) -> int:
    container.reload()
    return int(container.ports[f"{port}/tcp"][0]["HostPort"])


def wait_ready(port: int, timeout: float = 60.0) -> float:
    """Seconds until GET /v2/health/ready answers 200; raises TimeoutError."""
    import requests

    started = time.monotonic()
    with requests.Session() as session:  # closed on return: its kept-alive connection would stay open
        session.trust_env = False
        while time.monotonic() - started < timeout:
            try:
                if session.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=1).status_code == 200:
                    return time.monotonic() - started
            except requests.RequestException:
                pass
            time.sleep(0.02)
    raise TimeoutError(f"not ready on port {port} after {timeout}s")


def run_hardened(client: Any, image: str, **options: Any) -> Any:
    """Run an image as `mlcd smoke` does: read-only, unprivileged, published on 127.0.0.1 only."""
    return client.containers.run(image, detach=True, read_only=True, tmpfs={"/tmp": "rw,size=64m"},
                                 cap_drop=["ALL"], security_opt=["no-new-privileges"],
                                 ports={"8080/tcp": ("127.0.0.1", None)}, **options)


ONE_PENGUIN = {"inputs": [
    {"name": "island", "shape": [1], "datatype": "BYTES", "data": ["Biscoe"]},
    {"name": "bill_length_mm", "shape": [1], "datatype": "FP64", "data": [47.5]},
    {"name": "bill_depth_mm", "shape": [1], "datatype": "FP64", "data": [15.0]},
    {"name": "flipper_length_mm", "shape": [1], "datatype": "FP64", "data": [218.0]},
    {"name": "body_mass_g", "shape": [1], "datatype": "FP64", "data": [5200.0]},
    {"name": "sex", "shape": [1], "datatype": "BYTES", "data": [None]},
]}
