"""`mlcd serve` and `mlcd predict` on a model trained from the template project, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import math
import re
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests

from mlcd.config import load_config
from mlcd.model import file_sha256, load_model
from testing.repos import mlcd
from testing.serving import RunningServer, serve

pytestmark = pytest.mark.integration

NAME = "penguins-classifier"
INFER = f"/v2/models/{NAME}/infer"
FEATURES = ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"]
DATATYPES = {"island": "BYTES", "sex": "BYTES"}
ROW = {"island": "Biscoe", "bill_length_mm": 47.5, "bill_depth_mm": 15.0, "flipper_length_mm": 218.0,
       "body_mass_g": 5200.0, "sex": "male"}


@pytest.fixture(scope="module")
def server(trained_repo: Path) -> Iterator[RunningServer]:
    with serve(trained_repo, "--max-body-bytes", "65536") as running:
        yield running


@pytest.fixture(scope="module")
def holdout(trained_repo: Path) -> pd.DataFrame:
    return pd.read_csv(trained_repo / "data" / "prepared" / "test.csv")


@pytest.fixture(scope="module")
def offline(trained_repo: Path, holdout: pd.DataFrame) -> tuple[list[Any], np.ndarray[Any, Any]]:
    model = load_model(trained_repo / "models" / "model.skops")
    return model.predict(holdout[FEATURES]).tolist(), model.predict_proba(holdout[FEATURES])


def values(series: pd.Series) -> list[Any]:
    return [None if isinstance(v, float) and math.isnan(v) else v for v in series.tolist()]


def infer_body(frame: pd.DataFrame, **extra: Any) -> dict[str, Any]:
    return {"inputs": [{"name": n, "shape": [len(frame)], "datatype": DATATYPES.get(n, "FP64"),
                        "data": values(frame[n])} for n in FEATURES], **extra}


def assert_error(response: requests.Response, status: int) -> str:
    """The error's message: ``error`` (Open Inference Protocol), or ``message`` beside MLflow's ``error_code``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    mlflow = response.url.endswith("/invocations")
    error = body["message"] if mlflow else body["error"]
    assert isinstance(error, str) and error
    assert not mlflow or isinstance(body["error_code"], str)
    assert "Traceback" not in response.text
    return str(error)


def metric(text: str, metric_name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(metric_name + (f"{{{wanted}}}" if labels else "")) + r" ([0-9.e+-]+)$"
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


# --- health and metadata ----------------------------------------------------------------------------------


def test_health_and_model_metadata(server: RunningServer, trained_repo: Path) -> None:
    assert server.get("/v2/health/live").json() == {"live": True}
    assert server.get("/v2/health/ready").json() == {"ready": True}
    assert server.get(f"/v2/models/{NAME}/ready").json() == {"name": NAME, "ready": True}
    assert server.get("/ping").status_code == 200
    metadata = server.get(f"/v2/models/{NAME}").json()
    sha256 = file_sha256(trained_repo / "models" / "model.skops")
    assert metadata["name"] == NAME and metadata["versions"] == [sha256[:12]] and metadata["platform"] == "sklearn"
    assert metadata["inputs"] == [{"name": n, "datatype": DATATYPES.get(n, "FP64"), "shape": [-1]} for n in FEATURES]
    assert metadata["outputs"] == [
        {"name": "predict", "datatype": "BYTES", "shape": [-1]},
        {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 3],
         "parameters": {"classes": ["Adelie", "Chinstrap", "Gentoo"]}},
    ]
    assert "sha256 matches its lineage" in server.log_text()


def test_openapi_document_describes_the_endpoints(server: RunningServer) -> None:
    from openapi_spec_validator import validate

    document = server.get("/openapi.json").json()
    validate(document)
    assert {"/v2/health/live", "/v2/health/ready", "/v2/models/{name}", "/v2/models/{name}/ready",
            "/v2/models/{name}/infer", "/invocations", "/metrics", "/openapi.json"} <= set(document["paths"])


# --- parity with offline predictions ----------------------------------------------------------------------


def test_infer_matches_offline_predict_and_predict_proba(server: RunningServer, holdout: pd.DataFrame,
                                                          offline: tuple[list[Any], Any]) -> None:
    labels, proba = offline
    response = server.post(INFER, json=infer_body(holdout, id="holdout"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_name"] == NAME and body["id"] == "holdout" and len(body["model_version"]) == 12
    predict, probabilities = body["outputs"]
    assert predict == {"name": "predict", "datatype": "BYTES", "shape": [len(holdout)], "data": labels}
    assert probabilities["shape"] == [len(holdout), 3]
    assert probabilities["parameters"] == {"classes": ["Adelie", "Chinstrap", "Gentoo"]}
    assert np.abs(np.array(probabilities["data"]).reshape(-1, 3) - proba).max() <= 1e-6


def test_concurrent_single_rows_are_batched_without_mixing_answers(server: RunningServer, holdout: pd.DataFrame,
                                                                    offline: tuple[list[Any], Any]) -> None:
    labels, proba = offline
    before = metric(server.get("/metrics").text, "mlcd_batch_rows_count")

    def one(index: int) -> tuple[int, dict[str, Any]]:
        response = server.post(INFER, json=infer_body(holdout.iloc[[index]], id=str(index)))
        assert response.status_code == 200, response.text
        return index, response.json()

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(one, list(range(len(holdout))) * 3))
    for index, body in answers:
        assert body["id"] == str(index)
        assert body["outputs"][0]["data"] == [labels[index]]
        assert np.abs(np.array(body["outputs"][1]["data"]) - proba[index]).max() <= 1e-6
    batches = metric(server.get("/metrics").text, "mlcd_batch_rows_count") - before
    assert batches < len(answers), "16 concurrent clients should share predict calls"


@pytest.mark.parametrize("form", ["dataframe_split", "dataframe_records", "instances", "inputs"])
def test_invocations_match_offline_predict(server: RunningServer, holdout: pd.DataFrame,
                                           offline: tuple[list[Any], Any], form: str) -> None:
    frame = holdout[[*FEATURES, "species", "year"]]  # the label and other contract columns are accepted
    columns = {n: values(frame[n]) for n in frame.columns}
    records = [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]
    payload = {
        "dataframe_split": {"columns": list(columns), "data": [list(r.values()) for r in records]},
        "dataframe_records": records, "instances": records, "inputs": columns,
    }[form]
    response = server.post("/invocations", json={form: payload})
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": offline[0]}


def test_requesting_only_predict(server: RunningServer, holdout: pd.DataFrame) -> None:
    body = server.post(INFER, json=infer_body(holdout.iloc[:2], outputs=[{"name": "predict"}])).json()
    assert [o["name"] for o in body["outputs"]] == ["predict"]


# --- errors ----------------------------------------------------------------------------------------------


def test_every_documented_error_status(server: RunningServer, holdout: pd.DataFrame) -> None:
    good = infer_body(holdout.iloc[:4])
    text = json.dumps(good)
    assert assert_error(server.post(INFER, data="{not json", headers={"Content-Type": "application/json"}),
                        400) == "the body is not valid JSON"
    assert "inputs" in assert_error(server.post(INFER, json={"rows": []}), 400)
    assert assert_error(server.post(INFER, data=text, headers={"Content-Type": "text/plain"}), 415).startswith(
        "Content-Type must be application/json (or none), or application/octet-stream")
    assert server.post(INFER, data=text).status_code == 200  # no Content-Type: JSON, as Triton's clients send it
    assert "Content-Type must be application/json or text/csv" in assert_error(
        server.post("/invocations", data=json.dumps({"instances": [ROW]})), 415)  # as MLflow's own checks
    big = json.dumps({"inputs": [{"name": "island", "shape": [1], "datatype": "BYTES", "data": ["x" * 70_000]}]})
    assert "limit of 65536 bytes" in assert_error(
        server.post(INFER, data=big, headers={"Content-Type": "application/json"}), 413)
    chunked = server.post(INFER, data=iter([big[:40_000].encode(), big[40_000:].encode()]),
                          headers={"Content-Type": "application/json"})
    assert "limit of 65536 bytes" in assert_error(chunked, 413)  # no Content-Length: counted while reading
    bad = infer_body(holdout.iloc[:4])
    bad["inputs"][1]["data"][3] = 900.0
    assert assert_error(server.post(INFER, json=bad), 422) == \
        "column 'bill_length_mm' row 3: 900.0 is above the contract's max 70"
    extra = infer_body(holdout.iloc[:1])
    extra["inputs"].append({"name": "colour", "shape": [1], "datatype": "BYTES", "data": ["red"]})
    assert "unknown column(s) 'colour'" in assert_error(server.post(INFER, json=extra), 422)
    assert "unknown model" in assert_error(server.post("/v2/models/other/infer", json=good), 404)
    assert assert_error(server.get("/v2/models/other"), 404)
    assert assert_error(server.get("/no/such/endpoint"), 404)
    assert assert_error(server.get(INFER), 405)
    assert assert_error(server.post("/v2/health/ready", json={}), 405)
    assert "exactly one of" in assert_error(server.post("/invocations", json={"data": [1]}), 400)


def test_errors_never_echo_the_request(server: RunningServer, holdout: pd.DataFrame) -> None:
    secret = "do-not-echo-" + "z" * 200
    body = infer_body(holdout.iloc[:1])
    body["inputs"][0]["data"] = [secret]
    error = assert_error(server.post(INFER, json=body), 422)
    assert secret not in error and len(error) < 300
    response = server.post("/invocations", data=secret, headers={"Content-Type": "application/json"})
    assert secret not in assert_error(response, 400)


# --- metrics ---------------------------------------------------------------------------------------------


def test_metrics_count_requests_statuses_and_classes(server: RunningServer, holdout: pd.DataFrame,
                                                     trained_repo: Path, offline: tuple[list[Any], Any]) -> None:
    before = server.get("/metrics").text
    for _ in range(3):
        assert server.post(INFER, json=infer_body(holdout)).status_code == 200
    assert server.post(INFER, json={"inputs": []}).status_code == 400
    response = server.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    after = response.text
    ok = {"endpoint": "/v2/models/{name}/infer", "status": "200"}
    assert metric(after, "mlcd_requests_total", **ok) - metric(before, "mlcd_requests_total", **ok) == 3
    bad = {"endpoint": "/v2/models/{name}/infer", "status": "400"}
    assert metric(after, "mlcd_requests_total", **bad) - metric(before, "mlcd_requests_total", **bad) == 1
    for cls in ("Adelie", "Chinstrap", "Gentoo"):
        grown = metric(after, "mlcd_predictions_total", **{"class": cls}) - metric(
            before, "mlcd_predictions_total", **{"class": cls})
        assert grown == 3 * offline[0].count(cls)
    sha256 = file_sha256(trained_repo / "models" / "model.skops")
    assert metric(after, "mlcd_model_info", name=NAME, sha256=sha256, version=sha256[:12]) == 1
    assert metric(after, "mlcd_model_ready") == 1
    assert 'mlcd_request_duration_seconds_bucket{endpoint="/v2/models/{name}/infer",le="+Inf"}' in after


# --- a model that must not be served ---------------------------------------------------------------------


def test_a_tampered_model_never_becomes_ready(trained_repo: Path, tmp_path: Path, holdout: pd.DataFrame) -> None:
    models = tmp_path / "models"
    shutil.copytree(trained_repo / "models", models)
    with (models / "model.skops").open("ab") as handle:
        handle.write(b"\0")  # still a readable zip file, but not the one recorded at training
    with serve(trained_repo, "--model", str(models / "model.skops"), wait_ready=False,
               log=tmp_path / "serve.log") as tampered:
        deadline = time.monotonic() + 60
        while "refused" not in tampered.log_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        for _ in range(3):
            error = assert_error(tampered.get("/v2/health/ready"), 503)
            assert "refused" in error and "sha256" in error
            assert_error(tampered.get(f"/v2/models/{NAME}/ready"), 503)
            assert_error(tampered.post(INFER, json=infer_body(holdout.iloc[:1])), 503)
            assert_error(tampered.post("/invocations", json={"instances": [{"island": "Dream"}]}), 503)
            assert tampered.get("/v2/health/live").status_code == 200
            time.sleep(0.5)
        assert tampered.process.poll() is None, "the process stays up so the failure is visible"
        assert metric(tampered.get("/metrics").text, "mlcd_model_ready") == 0
        log = tampered.log_text()
    assert "changed after training" in log and "stays up and answers 503" in log
    assert "Traceback" not in log


def test_two_workers_serve_and_add_up_their_metrics(trained_repo: Path, holdout: pd.DataFrame) -> None:
    with serve(trained_repo, "--workers", "2") as two:
        deadline = time.monotonic() + 60
        while True:  # one worker was ready; wait for both: each writes its metric files once started, and
            # mlcd_model_ready is the workers' minimum
            idle = two.get("/metrics").text
            both = metric(idle, "mlcd_worker_processes") == 2 and metric(idle, "mlcd_model_ready") == 1
            assert both or time.monotonic() < deadline, idle
            if both:
                break
            time.sleep(0.1)
        for _ in range(10):
            assert two.post(INFER, json=infer_body(holdout.iloc[:5])).status_code == 200
        deadline = time.monotonic() + 10
        while True:  # a worker counts a request just after sending its answer
            text = two.get("/metrics").text
            done = metric(text, "mlcd_requests_total", endpoint="/v2/models/{name}/infer", status="200") >= 10
            if done or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    assert metric(text, "mlcd_requests_total", endpoint="/v2/models/{name}/infer", status="200") == 10
    assert metric(text, "mlcd_predicted_rows_total") == 50
    # CPU and memory of both workers, added up (prometheus_client's own collector sees one process)
    assert metric(text, "mlcd_worker_processes") == 2
    assert 2 * 10 * 2**20 < metric(text, "process_resident_memory_bytes") < 2 * 4 * 2**30
    assert metric(text, "process_cpu_seconds_total") > metric(idle, "process_cpu_seconds_total") > 0
    assert metric(text, "process_open_fds") > 0


# --- mlcd predict ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_predict_scores_a_file_like_the_model(trained_repo: Path, tmp_path: Path, holdout: pd.DataFrame,
                                              offline: tuple[list[Any], Any], suffix: str) -> None:
    output = tmp_path / f"predictions.{suffix}"
    result = mlcd(trained_repo, "predict", "models/model.skops", "data/prepared/test.csv", str(output),
                  "--chunk-rows", "16")
    assert result.returncode == 0, result.stderr
    written = pd.read_csv(output) if suffix == "csv" else pd.read_parquet(output)
    assert written["row"].tolist() == list(range(len(holdout)))
    assert written["prediction"].tolist() == offline[0]
    proba = written[["proba_Adelie", "proba_Chinstrap", "proba_Gentoo"]].to_numpy()
    assert np.abs(proba - offline[1]).max() <= 1e-12


def test_predict_refuses_invalid_rows_with_their_numbers(trained_repo: Path, tmp_path: Path,
                                                         holdout: pd.DataFrame) -> None:
    broken = holdout.copy()
    broken["bill_length_mm"] = broken["bill_length_mm"].astype(object)
    broken.loc[5, "bill_length_mm"] = 900.0
    broken.loc[40, "bill_length_mm"] = "long"
    broken.loc[41, "island"] = "Atlantis"
    source = tmp_path / "broken.csv"
    broken.to_csv(source, index=False)
    output = tmp_path / "out.csv"
    result = mlcd(trained_repo, "predict", "models/model.skops", str(source), str(output), "--chunk-rows", "20")
    assert result.returncode == 3, result.stderr
    assert "3 of 69 row(s) break the data contract (rows 5, 40, 41)" in result.stderr.replace(
        f"of {len(holdout)} ", "of 69 ")
    assert "column 'bill_length_mm' row 5: 900.0 is above the contract's max 70" in result.stderr
    assert "column 'bill_length_mm' row 40: 'long' is not a number (float)" in result.stderr
    assert "column 'island' row 41: 'Atlantis' is not one of" in result.stderr
    assert not output.exists() and "Traceback" not in result.stderr


def test_predict_refuses_a_tampered_model(trained_repo: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(trained_repo / "models", models)
    with (models / "model.skops").open("ab") as handle:
        handle.write(b"\0")
    result = mlcd(trained_repo, "predict", str(models / "model.skops"), "data/prepared/test.csv",
                  str(tmp_path / "out.csv"))
    assert result.returncode == 6
    assert "changed after training" in result.stderr


def test_serve_config_is_the_template_contract(trained_repo: Path) -> None:
    config = load_config(str(trained_repo / "mlcd.yaml"))
    assert config.contract.feature_names == FEATURES and config.model.name == NAME


def test_an_encoded_slash_does_not_reach_another_route(server: RunningServer) -> None:
    assert "encoded slash" in assert_error(server.get(f"/v2/models/{NAME}%2Fready"), 404)
    assert "encoded slash" in assert_error(server.post(f"/v2/models/{NAME}%2finfer", json={}), 404)
