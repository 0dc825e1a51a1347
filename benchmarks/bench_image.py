"""Model images: rebuild after a model-only change (mlcd's Dockerfile next to a naive one), image size, start-up.

All in one run, on the same base image and wheelhouse (scripts/services provides both, offline):

- rebuild: retrain with another C, then time `mlcd package` and a naive `COPY . .` + `pip install`
  Dockerfile. Target: mlcd ≤ 2 s (the naive build reinstalls every dependency, ≈ 20 s).
- size of the layers mlcd adds on top of the base image. Target: ≤ 300 MB for a scikit-learn model.
- start-to-ready: `docker run` (hardened, as `mlcd smoke` runs it) until /v2/health/ready answers 200.
  Target: ≤ 2 s.

Run: python benchmarks/bench_image.py [--rounds N]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import docker
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from testing.images import (
    BASE_IMAGE,
    docker_client,
    hermetic_package,
    host_port,
    run_hardened,
    snapshot_wheelhouse,
    start_services,
    trained_project,
    unique,
    wait_ready,
)
from testing.repos import mlcd

REBUILD_TARGET_S = 2.0
SIZE_TARGET_MB = 300.0
READY_TARGET_S = 2.0

NAIVE_DOCKERFILE = f"""\
FROM {BASE_IMAGE}
WORKDIR /app
COPY . .
RUN python3 -m venv /opt/venv \\
 && /opt/venv/bin/pip install --no-cache-dir --no-index --find-links wheels -r requirements.txt \\
 && /opt/venv/bin/pip install --no-cache-dir --no-index --find-links wheels --no-deps mlcd
USER 10001:10001
ENTRYPOINT ["/opt/venv/bin/mlcd", "serve", "--host", "0.0.0.0", "--config", "/app/mlcd.yaml"]
"""


def naive_context(repo: Path, wheels: Path, target: Path) -> None:
    """A build context as a naive Dockerfile sees it: the project, the wheels and the requirements."""
    shutil.copytree(repo, target, ignore=shutil.ignore_patterns(".git", ".dvc", ".mlcd", "data"))
    (target / "wheels").mkdir()
    for wheel in wheels.glob("*.whl"):
        os.link(wheel, target / "wheels" / wheel.name)
    shutil.copy(repo / ".mlcd" / "image" / "requirements.txt", target / "requirements.txt")
    (target / "Dockerfile").write_text(NAIVE_DOCKERFILE)


def build_naive(client: Any, context: Path, tag: str) -> float:
    started = time.perf_counter()
    for chunk in client.api.build(path=str(context), tag=tag, rm=True, forcerm=True, decode=True,
                                  use_config_proxy=False):
        if "error" in chunk:
            raise RuntimeError(chunk["error"])
    return time.perf_counter() - started


def retrain(repo: Path, c: float) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["train"]["classifier"]["C"] = c
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    result = mlcd(repo, "train")
    if result.returncode != 0:
        raise RuntimeError(result.stderr)


def start_to_ready(client: Any, image: str, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        container = run_hardened(client, image, user="10001:10001")
        try:
            wait_ready(host_port(container))
            times.append(time.perf_counter() - started)
        finally:
            container.remove(force=True)
    return times


def verdict(value: float, target: float) -> str:
    return "meets" if value <= target else "MISSES"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="model-only changes to time")
    args = parser.parse_args()
    problem = start_services()
    if problem is not None:
        print(problem, file=sys.stderr)
        return 2
    client = docker_client()
    tags: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mlcd-bench-image-") as tmp:
        repo = trained_project(Path(tmp) / "project")
        wheels = snapshot_wheelhouse(Path(tmp) / "wheels")  # fixed for the whole run
        naive = Path(tmp) / "naive"
        mlcd_tag, naive_tag = f"mlcd-bench/mlcd:{unique('b')}", f"mlcd-bench/naive:{unique('b')}"
        tags += [mlcd_tag, naive_tag]
        try:
            # fills the build cache, as an earlier pipeline run would
            warm = hermetic_package(repo, mlcd_tag, wheelhouse=wheels)
            if warm.returncode != 0:
                raise RuntimeError(warm.stderr)
            naive_context(repo, wheels, naive)
            build_naive(client, naive, naive_tag)
            mlcd_times, build_times, naive_times = [], [], []
            for round_ in range(args.rounds):
                retrain(repo, [0.5, 0.25, 2.0, 4.0][round_ % 4])
                started = time.perf_counter()
                result = hermetic_package(repo, mlcd_tag, wheelhouse=wheels)
                mlcd_times.append(time.perf_counter() - started)
                if result.returncode != 0:
                    raise RuntimeError(result.stderr)
                build_times.append(float(re.search(r"\) in ([\d.]+)s;", result.stderr).group(1)))  # type: ignore[union-attr]
                shutil.copy(repo / "models" / "model.skops", naive / "models" / "model.skops")
                shutil.copy(repo / "models" / "model.lineage.json", naive / "models" / "model.lineage.json")
                naive_times.append(build_naive(client, naive, naive_tag))
            base_size = client.images.get(BASE_IMAGE).attrs["Size"]
            added_mb = (client.images.get(mlcd_tag).attrs["Size"] - base_size) / 1e6
            naive_mb = (client.images.get(naive_tag).attrs["Size"] - base_size) / 1e6
            ready = start_to_ready(client, mlcd_tag, runs=5)
        finally:
            for tag in tags:
                with contextlib.suppress(docker.errors.ImageNotFound):
                    client.images.remove(tag, force=True, noprune=True)

    rebuild = statistics.median(mlcd_times)
    print(f"model-only change, rebuild (median of {args.rounds}, same base image and wheelhouse)")
    print(f"  mlcd package (whole command: context, build, SBOM) {rebuild:6.2f} s")
    print(f"  of which the image build                           {statistics.median(build_times):6.2f} s")
    print(f"  naive COPY . . && pip install                      {statistics.median(naive_times):6.2f} s  "
          f"({statistics.median(naive_times) / rebuild:.0f}x slower)")
    print(f"layers added on top of {BASE_IMAGE}: mlcd {added_mb:.0f} MB, naive {naive_mb:.0f} MB")
    print(f"start-to-ready (median of {len(ready)}, hardened run): {statistics.median(ready):.2f} s "
          f"(min {min(ready):.2f}, max {max(ready):.2f})")
    checks = [
        (f"rebuild ≤ {REBUILD_TARGET_S:.0f} s", rebuild, REBUILD_TARGET_S, f"{rebuild:.2f} s"),
        (f"added layers ≤ {SIZE_TARGET_MB:.0f} MB", added_mb, SIZE_TARGET_MB, f"{added_mb:.0f} MB"),
        (f"start-to-ready ≤ {READY_TARGET_S:.0f} s", statistics.median(ready), READY_TARGET_S,
         f"{statistics.median(ready):.2f} s"),
    ]
    for name, value, target, shown in checks:
        print(f"target {name}: {verdict(value, target)} ({shown})")
    return 0 if all(value <= target for _, value, target, _ in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
