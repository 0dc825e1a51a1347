"""The packaged image logs its predictions to a mounted host directory, and `mlcd drift` reads them.

Traffic like the training data, then traffic with one feature shifted: drift over the first window passes,
over the second it fails and names that feature alone. `/metrics` shows the per-feature rates, the
inference time and the log writer's counts. Every container started here is removed.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests
import yaml

from mlcd.packaging.dockerfile import APP_DIR
from testing.images import (
    hermetic_package,
    host_port,
    run_hardened,
    snapshot_wheelhouse,
    trained_project,
    unique,
    wait_ready,
)
from testing.repos import mlcd

pytestmark = [pytest.mark.integration, pytest.mark.docker]

NAME = "penguins-classifier"
FEATURES = ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"]
SHIFTED = "bill_length_mm"
SHIFT_MM = 8.0  # about 1.5 standard deviations; the largest shifted value stays under the contract's max of 70
ROWS = 600
BATCH = 20
MIN_ROWS = 200


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, client: Any) -> Path:
    repo = trained_project(tmp_path_factory.mktemp("monitoring") / "project")
    # the training split has 273 rows: below the default drift.min_rows (500) no column is tested
    config_path = repo / "mlcd.yaml"
    config = yaml.safe_load(config_path.read_text())
    config.setdefault("drift", {})["min_rows"] = MIN_ROWS
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    return repo


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory, project: Path, client: Any) -> Iterator[str]:
    wheels = snapshot_wheelhouse(tmp_path_factory.mktemp("wheelhouse") / "wheels")
    tag = f"mlcd-tests/penguins:{unique('monitoring')}"
    result = hermetic_package(project, tag, wheelhouse=wheels)
    assert result.returncode == 0, result.stderr
    yield tag
    with contextlib.suppress(Exception):
        client.images.remove(tag, force=True, noprune=True)


@contextlib.contextmanager
def container(client: Any, image: str, **options: Any) -> Iterator[Any]:
    started = run_hardened(client, image, **options)
    try:
        yield started
    finally:
        started.remove(force=True)


def infer_body(frame: pd.DataFrame) -> dict[str, Any]:
    def values(name: str) -> list[Any]:
        return [None if isinstance(v, float) and math.isnan(v) else v for v in frame[name].tolist()]

    return {"inputs": [{"name": name, "shape": [len(frame)],
                        "datatype": "BYTES" if name in ("island", "sex") else "FP64", "data": values(name)}
                       for name in FEATURES]}


def send(session: requests.Session, port: int, frame: pd.DataFrame) -> None:
    for start in range(0, len(frame), BATCH):
        response = session.post(f"http://127.0.0.1:{port}/v2/models/{NAME}/infer",
                                json=infer_body(frame.iloc[start:start + BATCH]), timeout=30)
        assert response.status_code == 200, response.text


def metrics(session: requests.Session, port: int) -> dict[str, float]:
    """Every sample of /metrics as ``name{labels}`` → value."""
    text = session.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    samples = {}
    for line in text.splitlines():
        match = re.fullmatch(r"([a-z_]+(?:\{[^}]*\})?) (\S+)", line)
        if match:
            samples[match.group(1)] = float(match.group(2))
    return samples


def wait_written(session: requests.Session, port: int, rows: int) -> dict[str, float]:
    deadline = time.monotonic() + 30
    while True:
        seen = metrics(session, port)
        if seen.get('mlcd_prediction_log_rows_total{outcome="written"}', 0) >= rows:
            return seen
        assert time.monotonic() < deadline, f"the log has not written {rows} rows: {seen}"
        time.sleep(0.2)


def drift(project: Path, logs: Path, name: str, *window: str) -> tuple[int, dict[str, Any]]:
    result = mlcd(project, "drift", "--logs", str(logs), *window, "--json", f"{name}.json",
                  "--markdown", f"{name}.md")
    report = json.loads((project / f"{name}.json").read_text())
    assert result.returncode in (0, 3), result.stderr
    return result.returncode, report


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_the_image_logs_predictions_that_drift_reads_and_reports_per_feature_metrics(
        project: Path, image: str, client: Any, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    logs.chmod(0o777)  # the image runs as uid 10001
    train = pd.read_csv(project / "data" / "prepared" / "train.csv")
    like_training = train.sample(ROWS, replace=True, random_state=1).reset_index(drop=True)
    shifted = train.sample(ROWS, replace=True, random_state=2).reset_index(drop=True)
    shifted[SHIFTED] = shifted[SHIFTED] + SHIFT_MM
    session = requests.Session()
    session.trust_env = False
    with container(client, image, environment={"MLCD_PREDICTION_LOG": "/logs", "MLCD_LOG_SAMPLE_RATE": "1"},
                   volumes={str(logs): {"bind": "/logs", "mode": "rw"}}) as served:
        port = host_port(served)
        wait_ready(port)
        started = datetime.now(timezone.utc) - timedelta(seconds=1)
        send(session, port, like_training)
        wait_written(session, port, ROWS)
        boundary = datetime.now(timezone.utc)
        time.sleep(0.05)
        send(session, port, shifted)
        refused = session.post(f"http://127.0.0.1:{port}/invocations", timeout=30, json={
            "dataframe_records": [{**like_training.iloc[0][FEATURES].to_dict(), SHIFTED: 900.0}]})
        assert refused.status_code == 422, refused.text
        seen = wait_written(session, port, 2 * ROWS)
        logs_of_container = served.logs().decode(errors="replace")

    # /metrics, as Prometheus scrapes it
    rows = 2 * ROWS + 1
    assert seen["mlcd_input_rows_total"] == rows
    nulls = int(like_training["sex"].isna().sum() + shifted["sex"].isna().sum())
    assert nulls > 0, "the training split has no missing sex: pick another random_state"
    assert seen['mlcd_feature_nulls_total{feature="sex"}'] == nulls
    assert seen['mlcd_feature_null_rate{feature="sex"}'] == pytest.approx(nulls / rows)
    assert seen[f'mlcd_feature_out_of_contract_total{{feature="{SHIFTED}"}}'] == 1
    assert seen[f'mlcd_feature_out_of_contract_rate{{feature="{SHIFTED}"}}'] == pytest.approx(1 / rows)
    assert seen['mlcd_feature_out_of_contract_rate{feature="island"}'] == 0
    assert seen["mlcd_inference_duration_seconds_count"] >= 2 * ROWS / BATCH
    assert 0 < seen["mlcd_inference_duration_seconds_sum"] < 60
    assert seen['mlcd_prediction_log_rows_total{outcome="written"}'] == 2 * ROWS
    assert seen['mlcd_prediction_log_rows_total{outcome="dropped"}'] == 0
    assert seen["mlcd_prediction_log_files_total"] >= 1
    assert "prediction log: /logs" in logs_of_container

    # the files, as the container wrote them
    files = sorted(logs.iterdir())
    assert files and all(re.fullmatch(r"predictions-\d{8}-\d{6}-\d+\.jsonl", f.name) for f in files)
    first = json.loads(files[0].read_text().splitlines()[0])
    assert first["model"] == NAME and len(first["model_version"]) == 12
    assert set(FEATURES) | {"ts", "request_id", "prediction"} <= set(first)

    code, quiet = drift(project, logs, "quiet", "--since", iso(started), "--until", iso(boundary))
    assert quiet["window"]["rows"] == ROWS
    assert all(column["pvalue"] is not None for column in quiet["columns"])  # every feature was tested
    assert code == 0, json.dumps(quiet["columns"], indent=1)
    assert quiet["drifted"] == []

    code, alarm = drift(project, logs, "alarm", "--since", iso(boundary))
    assert alarm["window"]["rows"] == ROWS
    assert code == 3, json.dumps(alarm["columns"], indent=1)
    drifted_features = [name for name in alarm["drifted"] if name in FEATURES]
    assert drifted_features == [SHIFTED]
    assert SHIFTED in (project / "alarm.md").read_text()


def test_a_log_directory_the_image_cannot_write_is_a_one_line_error(image: str, client: Any, tmp_path: Path) -> None:
    logs = tmp_path / "readonly-logs"
    logs.mkdir()
    logs.chmod(0o755)  # owned by the test's user, not by the image's uid 10001
    with container(client, image, environment={"MLCD_PREDICTION_LOG": "/logs"},
                   volumes={str(logs): {"bind": "/logs", "mode": "rw"}}) as served:
        status = served.wait(timeout=60)
        output = served.logs().decode(errors="replace")
    assert status["StatusCode"] == 2, output
    assert "/logs is not writable by uid 10001" in output and "chown 10001" in output
    assert "Traceback" not in output


def test_smoke_passes_when_mlcd_yaml_configures_a_log_the_container_cannot_write(project: Path, client: Any,
                                                                                 image: str, tmp_path: Path) -> None:
    config_path = project / "mlcd.yaml"
    original = config_path.read_text()
    config = yaml.safe_load(original)
    config["monitoring"]["prediction_log"] = {"path": "logs"}  # next to mlcd.yaml: read-only in a hardened container
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    tag = f"mlcd-tests/penguins:{unique('configured-log')}"
    try:
        wheels = snapshot_wheelhouse(tmp_path / "wheels")
        packaged = hermetic_package(project, tag, wheelhouse=wheels)
        assert packaged.returncode == 0, packaged.stderr
        smoke = mlcd(project, "smoke", tag)
        assert smoke.returncode == 0, smoke.stdout + smoke.stderr  # checks run with the log off
        with container(client, tag) as served:  # as configured: refused at start, in one line
            status = served.wait(timeout=60)
            output = served.logs().decode(errors="replace")
        assert status["StatusCode"] == 2, output
        assert f"{APP_DIR}/logs is not writable" in output and "Traceback" not in output
    finally:
        config_path.write_text(original)
        with contextlib.suppress(Exception):
            client.images.remove(tag, force=True, noprune=True)
