"""`mlcd serve` with a prediction log: one writer per worker, sampled, through an fsspec URL."""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
import requests

from mlcd.config import load_config
from mlcd.model import file_sha256
from mlcd.packaging import parity
from testing.serving import serve

pytestmark = pytest.mark.integration

NAME = "penguins-classifier"
FEATURES = ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"]
REQUESTS = 400
RATE = 0.5


def counters(text: str) -> dict[str, float]:
    found = re.findall(r'^mlcd_prediction_log_rows_total\{outcome="(\w+)"\} (\S+)$', text, re.MULTILINE)
    return {outcome: float(value) for outcome, value in found}


def test_two_workers_sample_their_rows_into_one_fsspec_location(trained_repo: Path, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    holdout = pd.read_csv(trained_repo / "data" / "prepared" / "test.csv")
    records = json.loads(holdout[FEATURES].to_json(orient="records"))
    with serve(trained_repo, "--workers", "2", "--prediction-log", f"file://{logs}", "--log-sample-rate",
               str(RATE)) as two:
        deadline, in_a_row = time.monotonic() + 60, 0
        while in_a_row < 20 and time.monotonic() < deadline:  # one worker was ready; wait for both
            in_a_row = in_a_row + 1 if two.get("/v2/health/ready").status_code == 200 else 0

        def post(i: int) -> int:
            body = {"dataframe_records": [records[i % len(records)]]}
            for _ in range(100):  # a worker still loading its model answers 503: a client retries
                status = requests.post(two.url + "/invocations", json=body, timeout=30).status_code
                if status != 503:
                    break
                time.sleep(0.1)
            return status

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(post, range(REQUESTS))) == {200}
        check = parity.infer_request(holdout[FEATURES].to_dict(orient="list"), parity.datatypes(
            load_config(str(trained_repo / "mlcd.yaml")).contract.features))  # a parity check: not logged
        assert requests.post(f"{two.url}/v2/models/{NAME}/infer", json=check, timeout=30).status_code == 200
        deadline = time.monotonic() + 15
        while True:  # each worker copies its writer's counts into the metrics every 2 s
            seen = counters(two.get("/metrics").text)
            if sum(seen.values()) >= REQUESTS or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        served_log = two.log_text()
    assert sum(seen.values()) == REQUESTS and seen["dropped"] == seen["failed"] == 0
    assert served_log.count(f"prediction log: file://{logs}") == 2  # one writer per worker

    rows = [json.loads(line) for path in sorted(logs.iterdir()) for line in path.read_text().splitlines()]
    assert len(rows) == seen["written"]  # everything counted as written is in the files after shutdown
    spread = 5 * (REQUESTS * RATE * (1 - RATE)) ** 0.5
    assert abs(len(rows) - REQUESTS * RATE) <= spread
    version = file_sha256(trained_repo / "models" / "model.skops")[:12]
    assert {(r["model"], r["model_version"]) for r in rows} == {(NAME, version)}
    writers = {r["request_id"].rsplit("-", 1)[0] for r in rows}
    assert len(writers) <= 2 and len({r["request_id"] for r in rows}) == len(rows)
    assert {r["island"] for r in rows} <= set(holdout["island"])
