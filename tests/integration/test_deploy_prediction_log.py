"""The docker target passes environment variables to the serving container and mounts a prediction log
directory, on a real Docker engine: a promoted template image logs what it serves into the host directory,
where mlcd's log reader and `mlcd drift` read it. A container brought back after a failed switch, and
one restored, keep serving with the same settings. Every container started here is removed.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests

from mlcd.errors import DeployFailed
from mlcd.monitoring.log_reader import FieldKind, Window, read_window
from mlcd.promotion.targets import Release
from mlcd.promotion.targets.docker import LOG_MOUNT, DockerTarget
from testing.images import hermetic_package, trained_project, unique
from testing.promotion import MODEL, build_stub_image, fake_sha, free_port, remove_containers, set_deploy
from testing.repos import mlcd

pytestmark = [pytest.mark.integration, pytest.mark.docker]

FEATURES = ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"]
ROWS = 60
BATCH = 6
SERVER_UID = 10001


def _settings(container: Any) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """The container's environment, its bind mounts (container path → host path) and its extra groups."""
    container.reload()
    env = dict(item.split("=", 1) for item in container.attrs["Config"]["Env"] or [])
    mounts = {m["Destination"]: m["Source"] for m in container.attrs["Mounts"] if m["Type"] == "bind"}
    return env, mounts, list(container.attrs["HostConfig"].get("GroupAdd") or [])


# --- the switch, with serving stubs --------------------------------------------------------------------


@pytest.fixture(scope="module")
def stubs(client: Any) -> dict[str, Release]:
    repository = f"mlcd-tests/{unique('stub-log')}"
    releases = {}
    for version in ("v1.0.0", "v2.0.0"):
        sha = fake_sha(f"log-{version}")
        digest = build_stub_image(client, repository, model=MODEL, sha256=sha, metrics={"accuracy": 0.95},
                                  revision=None)
        releases[version] = Release(MODEL, "logged", version, f"127.0.0.1:5000/{repository}@{digest}", digest, sha)
    return releases


class FailsOnItsPort(DockerTarget):
    """v2.0.0 passes as the candidate but fails once it serves on the environment's port: the old container
    must come back as it was."""

    def _await(self, container: Any, url: str, release: Release) -> None:
        if container.name == self.name and release.version == "v2.0.0":
            raise DeployFailed(f"{self.environment}: stand-in: {release.image} failed on the environment's port")
        super()._await(container, url, release)


def test_a_container_brought_back_or_restored_keeps_its_env_and_log_mount(client: Any, stubs: dict[str, Release],
                                                                          tmp_path: Path) -> None:
    logs = tmp_path / "srv" / "logs"  # missing: the target makes it
    target = FailsOnItsPort(MODEL, unique("logged"), port=free_port(), ready_timeout=10, client=client,
                            env={"MLCD_LOG_SAMPLE_RATE": "0.5", "REGION": "eu-west-1"}, prediction_log=str(logs))
    first, second = (Release(r.model, target.environment, r.version, r.image, r.digest, r.model_sha256)
                     for r in (stubs["v1.0.0"], stubs["v2.0.0"]))
    expected_env = {"MLCD_LOG_SAMPLE_RATE": "0.5", "REGION": "eu-west-1", "MLCD_PREDICTION_LOG": LOG_MOUNT}
    try:
        previous = target.deploy(first, {})
        assert logs.is_dir()
        if os.geteuid() == 0:
            assert logs.stat().st_uid == SERVER_UID
        serving = client.containers.get(target.name)
        env, mounts, _ = _settings(serving)
        assert expected_env.items() <= env.items()
        assert mounts == {LOG_MOUNT: str(logs)}

        with pytest.raises(DeployFailed, match="failed on the environment's port"):
            target.deploy(second, {})
        back = client.containers.get(target.name)
        assert back.id == serving.id and back.status == "running"
        assert _settings(back) == _settings(serving)
        current = target.current()
        assert current is not None and current.digest == first.digest

        target.restore(previous, {"reason": "test"})  # as promote does when verification fails: a new container
        restored = client.containers.get(target.name)
        assert restored.id != serving.id
        env, mounts, _ = _settings(restored)
        assert expected_env.items() <= env.items() and mounts == {LOG_MOUNT: str(logs)}
        target.verify(previous)
    finally:
        remove_containers(client, target.name)


@pytest.mark.skipif(os.geteuid() != 0, reason="makes a directory owned by another user")
def test_a_directory_of_the_deploying_user_is_shared_with_the_server_through_its_group(
        client: Any, stubs: dict[str, Release], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """mlcd without root, as on a runner in the docker group: the directory it owns becomes group-writable
    and the container joins the group, so the server (uid 10001) writes there and the owner reads back."""
    logs = tmp_path / "logs"
    logs.mkdir(mode=0o755)
    os.chown(logs, 1000, 1000)
    monkeypatch.setattr("mlcd.promotion.targets.docker.os.geteuid", lambda: 1000)
    target = DockerTarget(MODEL, unique("logged"), port=free_port(), ready_timeout=10, client=client,
                          prediction_log=str(logs))
    release = stubs["v1.0.0"]
    try:
        target.deploy(Release(MODEL, target.environment, release.version, release.image, release.digest,
                              release.model_sha256), {})
        serving = client.containers.get(target.name)
        assert _settings(serving)[2] == ["1000"]
        written = serving.exec_run(["sh", "-c", "id -u && touch /logs/probe"])
        assert written.exit_code == 0 and written.output.decode().split()[0] == str(SERVER_UID), written.output
    finally:
        remove_containers(client, target.name)
    info = (logs / "probe").stat()
    assert (info.st_uid, info.st_gid) == (SERVER_UID, 1000)  # the directory's group, through setgid
    assert logs.stat().st_uid == 1000 and logs.stat().st_mode & 0o2070 == 0o2070


# --- the template image, promoted ----------------------------------------------------------------------


def _infer_body(frame: pd.DataFrame) -> dict[str, Any]:
    def values(name: str) -> list[Any]:
        return [None if isinstance(v, float) and math.isnan(v) else v for v in frame[name].tolist()]

    return {"inputs": [{"name": name, "shape": [len(frame)],
                        "datatype": "BYTES" if name in ("island", "sex") else "FP64", "data": values(name)}
                       for name in FEATURES]}


def _logged(logs: Path, rows: int) -> pd.DataFrame:
    """The rows in the log directory, read with mlcd's reader, once ``rows`` are there."""
    fields: dict[str, FieldKind] = {"island": "text", "bill_length_mm": "number", "sex": "text",
                                    "prediction": "text", "model_version": "text"}
    deadline = time.monotonic() + 30
    while True:
        frame = read_window(str(logs), fields, Window()).frame if any(logs.glob("predictions-*")) else None
        if frame is not None and len(frame) >= rows:
            return frame
        assert time.monotonic() < deadline, f"{0 if frame is None else len(frame)} of {rows} rows in {logs}"
        time.sleep(0.2)


def test_a_promoted_image_logs_what_it_serves_to_the_host_directory_and_drift_reads_it(client: Any,
                                                                                        tmp_path: Path) -> None:
    project = trained_project(tmp_path / "project")
    logs = tmp_path / "srv" / "penguins-logs"  # missing: the target makes it, writable for the server
    repository = f"127.0.0.1:5000/{unique('mlcd-tests/penguins-log')}"
    port = free_port()
    container = unique("mlcd-test-log")
    set_deploy(project, {"push": False, "environments": {"staging": {
        "target": "docker", "url": f"http://127.0.0.1:{port}",
        # a small rotation size: the variable reaches the server when the log spans several files
        "docker": {"container": container, "prediction_log": str(logs), "env": {"MLCD_LOG_ROTATE_MB": 0.004}}}}})
    tag = f"mlcd-tests/penguins:{unique('log')}"
    try:
        for step in (hermetic_package(project, tag), mlcd(project, "push", tag, "--to", repository)):
            assert step.returncode == 0, step.stdout + step.stderr
        digest = (project / "image-digest.txt").read_text().strip()
        promoted = mlcd(project, "promote", f"{repository}@{digest}", "--to", "staging", "--register-as", "v1.0.0")
        assert promoted.returncode == 0, promoted.stdout + promoted.stderr
        env, mounts, _ = _settings(client.containers.get(container))
        assert env["MLCD_PREDICTION_LOG"] == LOG_MOUNT and env["MLCD_LOG_ROTATE_MB"] == "0.004"
        assert mounts == {LOG_MOUNT: str(logs)}

        sent = pd.read_csv(project / "data" / "prepared" / "train.csv").head(ROWS)
        session = requests.Session()
        session.trust_env = False
        for start in range(0, ROWS, BATCH):
            answer = session.post(f"http://127.0.0.1:{port}/v2/models/{MODEL}/infer",
                                  json=_infer_body(sent.iloc[start:start + BATCH]), timeout=30)
            assert answer.status_code == 200, answer.text
            time.sleep(0.15)  # the writer appends what arrived each 0.1 s: one batch per request, then rotation
        # the promotion's parity check scored the holdout through the endpoint too, but a check is not
        # traffic: only what was sent is in the log
        expected = sent
        logged = _logged(logs, len(expected))
    finally:
        remove_containers(client, container)
        with contextlib.suppress(Exception):
            client.images.remove(tag, force=True, noprune=True)

    files = sorted(p.name for p in logs.iterdir())
    assert len(files) > 1 and all(re.fullmatch(r"predictions-\d{8}-\d{6}-\d+\.jsonl", f) for f in files), files
    assert len(logged) == len(expected)
    sha = json.loads((project / "models" / "model.lineage.json").read_text())["model"]["sha256"]
    assert set(logged["model_version"]) == {sha[:12]}
    assert sorted(logged["bill_length_mm"].dropna()) == sorted(expected["bill_length_mm"].dropna())
    assert sorted(logged["island"]) == sorted(expected["island"])
    assert logged["sex"].isna().sum() == expected["sex"].isna().sum()
    assert set(logged["prediction"]) <= {"Adelie", "Chinstrap", "Gentoo"}

    drift = mlcd(project, "drift", "--logs", str(logs), "--json", "drift.json", "--markdown", "drift.md")
    assert drift.returncode == 0, drift.stdout + drift.stderr  # fewer rows than min_rows: nothing decided
    report = json.loads((project / "drift.json").read_text())
    assert report["window"]["rows"] == len(expected) and report["window"]["files_read"] == len(files)
    assert report["verdict"] == "not enough data"
