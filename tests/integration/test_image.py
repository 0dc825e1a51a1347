"""`mlcd package`, `mlcd smoke` and `mlcd push` on a real Docker engine and a real local registry.

scripts/services starts both (and builds the base image and wheelhouse) before these run; when it
cannot, every test here fails with its output: an image test is never skipped silently.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml

from mlcd.model import file_sha256
from testing.images import (
    BASE_IMAGE,
    ONE_PENGUIN,
    REGISTRY,
    hermetic_package,
    host_port,
    run_hardened,
    snapshot_wheelhouse,
    trained_project,
    unique,
    wait_ready,
)
from testing.repos import git, mlcd, tool_env

pytestmark = [pytest.mark.integration, pytest.mark.docker]


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory, client: Any) -> Path:
    return snapshot_wheelhouse(tmp_path_factory.mktemp("wheelhouse") / "wheels")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, client: Any) -> Path:
    return trained_project(tmp_path_factory.mktemp("image") / "project")


@pytest.fixture(scope="module")
def image(project: Path, wheels: Path, client: Any) -> Iterator[str]:
    """The template model packaged hermetically; its tags are removed afterwards (the build cache stays)."""
    tag = f"mlcd-tests/penguins:{unique('t')}"
    result = hermetic_package(project, tag, wheelhouse=wheels)
    assert result.returncode == 0, result.stderr
    yield tag
    _remove(client, tag)


def _remove(client: Any, reference: str) -> None:
    with contextlib.suppress(docker.errors.ImageNotFound):
        client.images.remove(reference, force=True, noprune=True)


def _smoke_containers(client: Any, image: str) -> list[Any]:
    """Containers `mlcd smoke` started from this image (other smoke runs may share the engine)."""
    return list(client.containers.list(all=True, filters={"label": "dev.mlcd.smoke", "ancestor": image}))


def test_package_writes_a_readable_dockerfile_labels_and_sbom(project: Path, image: str, client: Any) -> None:
    dockerfile = (project / ".mlcd" / "image" / "Dockerfile").read_text()
    assert "--no-index" in dockerfile and "ARG" not in dockerfile
    attrs = client.images.get(image).attrs
    labels = attrs["Config"]["Labels"]
    model = project / "models" / "model.skops"
    lineage = json.loads((project / "models" / "model.lineage.json").read_text())
    metrics = json.loads((project / "metrics.json").read_text())
    assert labels["dev.mlcd.model.sha256"] == file_sha256(model)
    assert labels["dev.mlcd.model.name"] == "penguins-classifier"
    assert labels["org.opencontainers.image.revision"] == git(project, "rev-parse", "HEAD").strip()
    assert labels["org.opencontainers.image.version"] == file_sha256(model)[:12]
    assert labels["dev.mlcd.data.version"] == lineage["data"]["data/prepared/train.csv"]
    assert json.loads(labels["dev.mlcd.metrics"]) == {k: metrics[k] for k in ("accuracy", "f1_macro", "log_loss")}
    assert json.loads(labels["dev.mlcd.lineage"])["git_commit"] == lineage["git"]["commit"]
    assert attrs["Config"]["User"] == "10001:10001"
    assert attrs["Config"]["Healthcheck"]["Test"][0] == "CMD"
    assert not any("SECRET" in e or "TOKEN" in e for e in attrs["Config"]["Env"])
    sbom = json.loads((project / "sbom.cdx.json").read_text())
    names = {c["name"] for c in sbom["components"]}
    assert {"mlcd", "scikit-learn", "numpy", "skops", "uvicorn"} <= names
    assert not {"dvc", "pyarrow", "gto", "pip", "setuptools"} & names  # CI-only packages and installers stay out
    added = (attrs["Size"] - client.images.get(BASE_IMAGE).attrs["Size"]) / 1e6
    assert added <= 300, f"the image adds {added:.0f} MB: did a CI-only dependency enter the serve extra?"
    versions = {c["name"]: c["version"] for c in sbom["components"]}
    assert versions["scikit-learn"] == lineage["libraries"]["scikit-learn"]  # trained and served alike
    assert all("hashes" in c for c in sbom["components"] if c["name"] != "mlcd")


def test_predict_through_the_image_equals_predict_with_the_model_file(project: Path, image: str,
                                                                        client: Any) -> None:
    served = mlcd(project, "predict", image, "data/prepared/test.csv", "served.csv")
    assert served.returncode == 0, served.stderr
    offline = mlcd(project, "predict", "models/model.skops", "data/prepared/test.csv", "offline.csv")
    assert offline.returncode == 0, offline.stderr
    assert (project / "served.csv").read_bytes() == (project / "offline.csv").read_bytes()
    assert (project / "served.csv").read_text().splitlines()[0].startswith("row,prediction,proba_")
    assert _smoke_containers(client, image) == []  # the scoring container is gone


def test_predict_through_a_missing_image_is_one_clear_line(project: Path) -> None:
    result = mlcd(project, "predict", "mlcd-tests/no-such-image:1", "data/prepared/test.csv", "x.csv")
    assert result.returncode == 8
    [error] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "no image mlcd-tests/no-such-image:1" in error and "Traceback" not in result.stderr


def test_smoke_passes_parity_and_error_checks_and_leaves_no_container(project: Path, image: str,
                                                                       client: Any) -> None:
    result = mlcd(project, "smoke", image, "--report", "smoke.json")
    assert result.returncode == 0, result.stderr
    report = json.loads((project / "smoke.json").read_text())
    assert report["passed"] is True
    assert report["parity"]["rows"] == 69 and report["parity"]["mismatches"] == []
    assert report["parity"]["largest_proba_gap"] <= 1e-6
    assert {c["name"]: c["status"] for c in report["error_checks"]} == {
        "body is not JSON": 400, "Content-Type text/plain": 415, "column outside the contract": 422,
        "body over the size limit": 413}
    assert 0 < report["latency_ms"]["p50"] <= report["latency_ms"]["p99"]
    assert report["user"] == "10001:10001"
    assert _smoke_containers(client, image) == []


def test_push_pull_by_digest_and_predict(project: Path, image: str, client: Any, tmp_path: Path) -> None:
    repository = f"{REGISTRY}/mlcd-tests/{unique('penguins')}"
    github_output = tmp_path / "github-output"
    result = mlcd(project, "push", image, "--to", repository, GITHUB_OUTPUT=str(github_output))
    assert result.returncode == 0, result.stderr
    digest = (project / "image-digest.txt").read_text().strip()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest)
    assert f"digest={digest}" in github_output.read_text()
    model_sha = file_sha256(project / "models" / "model.skops")
    commit = git(project, "rev-parse", "HEAD").strip()
    built = client.images.get(image)
    assert {f"{repository}:sha-{commit[:12]}", f"{repository}:model-{model_sha[:12]}"} <= set(built.tags)
    assert f"{repository}@{digest}" in built.attrs["RepoDigests"]

    for reference in built.tags:
        if reference.startswith(repository):
            _remove(client, reference)
    client.images.remove(built.id, force=True, noprune=True)
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(built.id)
    pulled = client.images.pull(f"{repository}@{digest}")
    assert pulled.id == built.id  # the same image, content-addressed
    pulled.tag(*image.rsplit(":", 1))  # the module's tag again, for the tests after this one
    container = run_hardened(client, f"{repository}@{digest}", user="10001:10001")
    try:
        port = host_port(container)
        wait_ready(port)
        import requests

        answer = requests.post(f"http://127.0.0.1:{port}/v2/models/penguins-classifier/infer", json=ONE_PENGUIN,
                               timeout=10)
        assert answer.status_code == 200, answer.text
        outputs = {o["name"]: o for o in answer.json()["outputs"]}
        assert outputs["predict"]["data"] == ["Gentoo"]
        assert outputs["predict_proba"]["shape"] == [1, 3]
    finally:
        container.remove(force=True)
        _remove(client, f"{repository}@{digest}")


def test_push_to_a_missing_registry_fails_in_one_line(project: Path, image: str, client: Any) -> None:
    result = mlcd(project, "push", image, "--to", "127.0.0.1:5999/mlcd-tests/nowhere")
    assert result.returncode == 8, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert "127.0.0.1:5999" in errors[0] and "connection refused" in errors[0] and "(fix:" in errors[0]
    assert not [t for t in client.images.get(image).tags if t.startswith("127.0.0.1:5999/")]


def test_a_tampered_model_never_becomes_ready_and_smoke_shows_the_log(project: Path, image: str, client: Any,
                                                                       tmp_path: Path) -> None:
    model = (project / "models" / "model.skops").read_bytes()
    middle = len(model) // 2
    (tmp_path / "model.skops").write_bytes(model[:middle] + bytes([model[middle] ^ 0xFF]) + model[middle + 1:])
    (tmp_path / "Dockerfile").write_text(f"FROM {image}\nCOPY model.skops /srv/mlcd/models/model.skops\n")
    tampered = f"mlcd-tests/tampered:{unique('t')}"
    client.images.build(path=str(tmp_path), tag=tampered, rm=True)
    try:
        started = time.monotonic()
        result = mlcd(project, "smoke", tampered, "--timeout", "60")
        assert result.returncode == 3, result.stderr
        assert time.monotonic() - started < 45  # the refusal is final: smoke does not wait out the timeout
        assert "never became ready" in result.stderr
        assert "Container log" in result.stderr and "the file changed after training" in result.stderr
        assert _smoke_containers(client, tampered) == []
    finally:
        _remove(client, tampered)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_smoke_removes_its_container_when_interrupted(project: Path, image: str, client: Any,
                                                      sig: signal.Signals) -> None:
    process = subprocess.Popen([sys.executable, "-m", "mlcd", "smoke", image], cwd=project, env=tool_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not _smoke_containers(client, image):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "smoke started no container"
            time.sleep(0.05)
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr
    assert _smoke_containers(client, image) == []


def test_package_refuses_a_model_that_differs_from_its_lineage(project: Path, wheels: Path, tmp_path: Path) -> None:
    lineage_file = project / "models" / "model.lineage.json"
    original = lineage_file.read_text()
    lineage = json.loads(original)
    lineage["model"]["sha256"] = "0" * 64
    lineage_file.write_text(json.dumps(lineage))
    try:
        result = hermetic_package(project, "mlcd-tests/refused:x", "--context-dir", str(tmp_path / "context"),
                                  wheelhouse=wheels)
    finally:
        lineage_file.write_text(original)
    assert result.returncode == 6, result.stderr
    assert "changed after training" in result.stderr


def test_a_failing_build_shows_the_step_log_and_a_fix(project: Path, wheels: Path, tmp_path: Path,
                                                      client: Any) -> None:
    wheelhouse = tmp_path / "wheels"
    wheelhouse.mkdir()
    for wheel in wheels.glob("*.whl"):
        if not wheel.name.startswith("scikit_learn-"):
            os.link(wheel, wheelhouse / wheel.name)
    result = mlcd(project, "package", "--tag", "mlcd-tests/broken:x", "--base-image", "mlcd-test-base:bookworm",
                  "--wheelhouse", str(wheelhouse), "--context-dir", str(tmp_path / "context"))
    assert result.returncode == 8, result.stderr
    assert "Log of step" in result.stderr and "No matching distribution found for scikit-learn" in result.stderr
    assert "the wheelhouse has no wheel for scikit-learn" in result.stderr


def test_a_model_only_change_rebuilds_from_the_dependency_cache(tmp_path: Path, wheels: Path, image: str,
                                                                client: Any) -> None:
    repo = trained_project(tmp_path / "project")
    first = f"mlcd-tests/rebuild:{unique('a')}"
    second = f"mlcd-tests/rebuild:{unique('b')}"
    try:
        assert hermetic_package(repo, first, wheelhouse=wheels).returncode == 0
        params = yaml.safe_load((repo / "params.yaml").read_text())
        params["train"]["classifier"]["C"] = 0.5
        (repo / "params.yaml").write_text(yaml.safe_dump(params))
        assert mlcd(repo, "train").returncode == 0
        started = time.monotonic()
        result = hermetic_package(repo, second, wheelhouse=wheels)
        seconds = time.monotonic() - started
        assert result.returncode == 0, result.stderr
        before, after = (client.images.get(t).attrs["RootFS"]["Layers"] for t in (first, second))
        assert before[:-1] == after[:-1]  # base image, dependencies, mlcd: reused
        assert before[-1] != after[-1]  # mlcd.yaml, the model and its lineage: one new layer
        cached, steps = map(int, re.search(r"(\d+) of (\d+) steps from the build cache", result.stderr).groups())
        assert steps - cached == 2, result.stderr  # the model's layer and the labels
        assert seconds < 20, f"a model-only rebuild took {seconds:.1f}s"
    finally:
        _remove(client, first)
        _remove(client, second)


def test_the_model_file_copied_out_of_the_image_is_the_one_it_serves(project: Path, image: str,
                                                                     tmp_path: Path) -> None:
    """What a rollback's parity scores offline when this checkout has another model: the image's own."""
    from mlcd.errors import ModelError
    from mlcd.model.io import file_sha256
    from mlcd.packaging.image_model import copy_model_out

    model = project / "models" / "model.skops"
    copied = copy_model_out(image, file_sha256(model), tmp_path / "from-image")
    assert copied.read_bytes() == model.read_bytes()
    with pytest.raises(ModelError, match="but its labels name"):
        copy_model_out(image, "0" * 64, tmp_path / "again")


def test_shadow_replays_logged_traffic_through_the_image_itself(project: Path, image: str, client: Any,
                                                                tmp_path: Path) -> None:
    """`mlcd shadow --image`: the rows go through the image's endpoint, which answers as the model file it
    was built with, so the churn is exactly the rows whose logged answer was changed; no container is left."""
    from testing.shadow import log_penguin_traffic

    rows, changed = log_penguin_traffic(project, tmp_path / "logs", flip_every=4)
    out = tmp_path / "shadow.json"
    result = mlcd(project, "shadow", "--image", image, "--logs", str(tmp_path / "logs"), "--json", str(out),
                  "--markdown", str(tmp_path / "shadow.md"))
    assert result.returncode == 0, result.stderr
    found = json.loads(out.read_text())
    assert (found["candidate"], found["model_sha256"]) == (image, file_sha256(project / "models" / "model.skops"))
    assert (found["churn"]["rows"], found["churn"]["changed"]) == (rows, changed)
    assert sum(n for row in found["churn"]["confusion"].values() for n in row.values()) == rows
    assert _smoke_containers(client, image) == []
