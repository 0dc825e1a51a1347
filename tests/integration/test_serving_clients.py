"""Clients mlcd did not write, used unchanged, against `mlcd serve` and against the packaged image.

- NVIDIA's ``tritonclient[http]``: health, server and model metadata, and ``infer()`` with JSON and with
  binary tensor data (its default), 1 and 100 rows, shapes ``[n]`` and ``[n, 1]``.
- MLflow's scoring client (``ScoringServerClient``) for the JSON formats and CSV as MLflow's docs send it;
  and MLflow's own scoring server on the same model, to hold mlcd's refusals to MLflow's, where the
  differences are the ones docs/serving.md lists.
- Connections: a body shorter than its Content-Length, headers that never end, clients that leave
  mid-body and more connections than the cap; each is closed, counted and logged in one line, the
  server keeps serving, and no traceback reaches the log (a fuzz burst included).
- The docker target restarts a container whose server stopped answering (SIGSTOP).
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests
from hypothesis import HealthCheck, given, settings

from mlcd.model import file_sha256, load_model
from testing.fuzz import check_answer, raw_requests
from testing.images import hermetic_package, host_port, run_hardened, unique, wait_ready
from testing.serving import free_port, serve

pytestmark = pytest.mark.integration

NAME = "penguins-classifier"
FEATURES = ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"]
TEXT = ("island", "sex")
BODY_TIMEOUT = HEADER_TIMEOUT = 2.0
MAX_CONNECTIONS = 24
FLAGS = ["--body-timeout", str(BODY_TIMEOUT), "--header-timeout", str(HEADER_TIMEOUT),
         "--max-connections", str(MAX_CONNECTIONS)]
FUZZ_EXAMPLES = 300


@dataclass
class Served:
    kind: str
    port: int
    log: Callable[[], str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def metric(self, name: str) -> float:
        """A figure from /metrics; asked again while the server refuses it for being at its connection cap
        (a container's published port goes through Docker's proxy, which closes its side of a connection a
        moment after the client did)."""
        deadline = time.monotonic() + 30
        while True:
            answer = requests.get(self.url + "/metrics", timeout=10)
            if answer.status_code != 503 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert answer.status_code == 200, answer.text
        found = re.search(rf"^{re.escape(name)} (\S+)$", answer.text, re.MULTILINE)
        return float(found.group(1)) if found else 0.0


@pytest.fixture(scope="module")
def image(request: pytest.FixtureRequest, trained_repo: Path) -> Iterator[str]:
    client = request.getfixturevalue("client")
    tag = f"mlcd-tests/clients:{unique('t')}"
    result = hermetic_package(trained_repo, tag)
    assert result.returncode == 0, result.stderr
    yield tag
    with contextlib.suppress(Exception):
        client.images.remove(tag, force=True, noprune=True)


@pytest.fixture(scope="module", params=["process", pytest.param("image", marks=pytest.mark.docker)])
def served(request: pytest.FixtureRequest, trained_repo: Path) -> Iterator[Served]:
    if request.param == "process":
        with serve(trained_repo, *FLAGS) as running:
            yield Served("process", int(running.url.rsplit(":", 1)[1]), running.log_text)
        return
    client = request.getfixturevalue("client")
    container = run_hardened(client, request.getfixturevalue("image"), command=FLAGS)
    try:
        port = host_port(container)
        wait_ready(port)
        yield Served("image", port, lambda: container.logs().decode(errors="replace"))
    finally:
        container.remove(force=True)


@pytest.fixture(scope="module")
def rows(trained_repo: Path) -> pd.DataFrame:
    """100 rows with every value present: Triton's protocol has no null for BYTES."""
    frame = pd.read_csv(trained_repo / "data" / "prepared" / "train.csv")[FEATURES].dropna()
    return frame.head(100).reset_index(drop=True)


@pytest.fixture(scope="module")
def model(trained_repo: Path) -> Any:
    return load_model(trained_repo / "models" / "model.skops")


# --- tritonclient ---------------------------------------------------------------------------------------------


def _triton(served: Served) -> Any:
    import tritonclient.http as triton

    return triton.InferenceServerClient(f"127.0.0.1:{served.port}")


def _inputs(frame: pd.DataFrame, binary: bool, column_shape: bool = False,
            datatypes: dict[str, str] | None = None) -> list[Any]:
    from tritonclient.http import InferInput
    from tritonclient.utils import triton_to_np_dtype

    inputs = []
    for name in FEATURES:
        datatype = (datatypes or {}).get(name, "BYTES" if name in TEXT else "FP64")
        array = frame[name].to_numpy().astype(triton_to_np_dtype(datatype))
        if column_shape:
            array = array.reshape(-1, 1)
        tensor = InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array, binary_data=binary)
        inputs.append(tensor)
    return inputs


def test_tritonclient_health_and_metadata(served: Served, trained_repo: Path) -> None:
    triton = _triton(served)
    assert triton.is_server_live() and triton.is_server_ready() and triton.is_model_ready(NAME)
    assert triton.get_server_metadata() == {"name": "mlcd", "version": triton.get_server_metadata()["version"],
                                            "extensions": ["binary_tensor_data"]}
    metadata = triton.get_model_metadata(NAME)
    assert metadata["versions"] == [file_sha256(trained_repo / "models" / "model.skops")[:12]]
    assert [i["name"] for i in metadata["inputs"]] == FEATURES
    assert [o["name"] for o in metadata["outputs"]] == ["predict", "predict_proba"]


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@pytest.mark.parametrize("count", [1, 100])
def test_tritonclient_infer_matches_the_model(served: Served, rows: pd.DataFrame, model: Any, binary: bool,
                                              count: int) -> None:
    from tritonclient.http import InferRequestedOutput

    frame = rows.head(count)
    triton = _triton(served)
    result = triton.infer(NAME, _inputs(frame, binary), request_id=f"rows-{count}")
    assert result.get_response()["id"] == f"rows-{count}"
    assert [label.decode() for label in result.as_numpy("predict")] == model.predict(frame).tolist()
    assert np.abs(result.as_numpy("predict_proba") - model.predict_proba(frame)).max() <= 1e-9
    if binary:  # tritonclient asks for binary outputs unless told otherwise
        assert "binary_data_size" in result.get_output("predict")["parameters"]
    as_json = triton.infer(NAME, _inputs(frame, binary, column_shape=True),
                           outputs=[InferRequestedOutput("predict", binary_data=False)])
    assert as_json.get_output("predict")["data"] == model.predict(frame).tolist()
    assert as_json.as_numpy("predict_proba") is None


def test_a_tensor_whose_datatype_cannot_hold_its_values_or_shape_is_wrong_gets_400(served: Served,
                                                                                   rows: pd.DataFrame) -> None:
    from tritonclient.http import InferInput
    from tritonclient.utils import InferenceServerException

    body = {"inputs": [{"name": n, "shape": [1], "datatype": "BYTES" if n in TEXT else "FP64",
                        "data": [rows[n][0].item() if n not in TEXT else rows[n][0]]} for n in FEATURES]}
    body["inputs"][4].update(datatype="INT8", data=[5200.0])
    answer = requests.post(f"{served.url}/v2/models/{NAME}/infer", data=json.dumps(body), timeout=10)  # no type
    assert answer.status_code == 400
    assert answer.json() == {"error": "input 'body_mass_g': datatype INT8 cannot hold 5200.0 (row 0)"}
    inputs = _inputs(rows.head(2), True)
    wide = InferInput("bill_depth_mm", [1, 2], "FP64")  # one row of two values: not one value per row
    wide.set_data_from_numpy(rows["bill_depth_mm"].to_numpy()[:2].reshape(1, 2))
    inputs[2] = wide
    with pytest.raises(InferenceServerException) as raised:
        _triton(served).infer(NAME, inputs)
    assert raised.value.status() == "400"
    assert raised.value.message() == "input 'bill_depth_mm': shape must be [n] or [n, 1], one value per row"


# --- MLflow's client, and MLflow's own server -----------------------------------------------------------------


def test_mlflows_scoring_client_in_every_format(served: Served, trained_repo: Path, model: Any) -> None:
    from mlflow.pyfunc.scoring_server import CONTENT_TYPE_CSV
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    holdout = pd.read_csv(trained_repo / "data" / "prepared" / "test.csv")
    holdout.loc[::5, "sex"] = np.nan  # missing values, which MLflow's client sends as NaN
    holdout.loc[::7, "bill_length_mm"] = np.nan
    expected = model.predict(holdout[FEATURES]).tolist()
    scoring = ScoringServerClient("127.0.0.1", served.port)
    scoring.wait_server_ready(timeout=30)
    records = json.loads(holdout.to_json(orient="records"))
    columns = {name: records_column(records, name) for name in holdout.columns}
    for data in (holdout,  # dataframe_split, missing values as NaN
                 records,  # inputs, as rows
                 json.dumps({"dataframe_records": records}), json.dumps({"instances": records}),
                 json.dumps({"inputs": columns})):
        assert scoring.invoke(data).get_predictions().iloc[:, 0].tolist() == expected
    csv = requests.post(served.url + "/invocations", data=holdout.to_csv(index=False),
                        headers={"Content-Type": CONTENT_TYPE_CSV}, timeout=30)
    assert csv.status_code == 200 and csv.json() == {"predictions": expected}


def records_column(records: list[dict[str, Any]], name: str) -> list[Any]:
    return [record.get(name) for record in records]


@pytest.fixture(scope="module")
def mlflow_server(trained_repo: Path, model: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """MLflow's scoring server (the app `mlflow models serve` runs) on the same model, in a thread."""
    import mlflow.pyfunc
    import mlflow.sklearn
    import uvicorn
    from mlflow.pyfunc import scoring_server

    path = tmp_path_factory.mktemp("mlflow") / "model"
    mlflow.sklearn.save_model(model, str(path), serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(scoring_server.init(mlflow.pyfunc.load_model(str(path))),
                                           host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "MLflow's scoring server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def _parquet(frame: pd.DataFrame) -> bytes:
    sink = __import__("io").BytesIO()
    frame.to_parquet(sink)
    return sink.getvalue()


def test_refusals_are_mlflows_except_where_docs_say_why(served: Served, mlflow_server: str, rows: pd.DataFrame,
                                                        trained_repo: Path) -> None:
    two = rows.head(2)
    records = json.loads(two.to_json(orient="records"))
    json_type = {"Content-Type": "application/json"}
    cases: dict[str, tuple[dict[str, str], bytes]] = {
        "dataframe_split": (json_type, two.to_json(orient="split", index=False).join(
            ['{"dataframe_split": ', "}"]).encode()),
        "dataframe_records": (json_type, json.dumps({"dataframe_records": records}).encode()),
        "csv": ({"Content-Type": "text/csv"}, two.to_csv(index=False).encode()),
        "csv, utf-8": ({"Content-Type": "text/csv; charset=utf-8"}, two.to_csv(index=False).encode()),
        "text/plain": ({"Content-Type": "text/plain"}, b"{}"),
        "charset latin-1": ({"Content-Type": "application/json; charset=latin-1"}, b"{}"),
        "a parameter other than charset": ({"Content-Type": "application/json; format=pandas-split"}, b"{}"),
        "not JSON": (json_type, b"{nope"),
        "a list": (json_type, json.dumps(records).encode()),
        "two formats": (json_type, json.dumps({"instances": records, "inputs": records}).encode()),
        "no format": (json_type, json.dumps({"rows": records}).encode()),
        "CSV that is not UTF-8": ({"Content-Type": "text/csv"}, b"island\n\xff\xfe\n"),
        "a feature column missing": (json_type, json.dumps({"dataframe_records": [
            {k: v for k, v in r.items() if k != "island"} for r in records]}).encode()),
        # where mlcd is stricter (docs/serving.md, "Where mlcd differs from MLflow")
        "no Content-Type": ({}, json.dumps({"dataframe_records": records}).encode()),
        "a value outside the contract": (json_type, json.dumps({"dataframe_records": [
            {**records[0], "bill_length_mm": 900.0}]}).encode()),
        "a column outside the contract": (json_type, json.dumps({"dataframe_records": [
            {**records[0], "colour": "red"}]}).encode()),
        "a key besides the format": (json_type, json.dumps({"dataframe_records": records, "extra": 1}).encode()),
        "params": (json_type, json.dumps({"dataframe_records": records, "params": {"k": 1}}).encode()),
        "parquet": ({"Content-Type": "application/vnd.apache.parquet"}, _parquet(two)),
    }
    differences = {  # MLflow's status → mlcd's
        "no Content-Type": (500, 415),  # MLflow's server fails on the missing header
        "a value outside the contract": (200, 422),
        "a column outside the contract": (200, 422),
        "a feature column missing": (400, 422),
        "a key besides the format": (200, 400),
        "params": (200, 422),
        "parquet": (200, 415),
    }
    seen = {}
    for case, (headers, body) in cases.items():
        theirs = requests.post(mlflow_server + "/invocations", data=body, headers=headers, timeout=30)
        ours = requests.post(served.url + "/invocations", data=body, headers=headers, timeout=30)
        seen[case] = (theirs.status_code, ours.status_code)
        if ours.status_code == 200:
            assert ours.json() == theirs.json(), case
        else:
            error = ours.json()
            assert set(error) >= {"error_code", "message"} and "error" not in error, case
            if theirs.status_code == ours.status_code == 400:  # MLflow's 415s are plain text, without a code
                assert theirs.json()["error_code"] == error["error_code"] == "BAD_REQUEST", case
    assert {case: pair for case, pair in seen.items() if pair[0] != pair[1]} == differences, seen


# --- connections ----------------------------------------------------------------------------------------------


def _connect(served: Served) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", served.port), timeout=BODY_TIMEOUT + 10)
    return connection


def _read_all(connection: socket.socket) -> bytes:
    chunks = []
    while chunk := connection.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _ok(served: Served) -> None:
    answer = requests.post(f"{served.url}/invocations", json={"instances": [{
        "island": "Biscoe", "bill_length_mm": 47.5, "bill_depth_mm": 15.0, "flipper_length_mm": 218.0,
        "body_mass_g": 5200.0, "sex": "male"}]}, timeout=10)
    assert answer.status_code == 200, answer.text


def test_a_body_shorter_than_its_length_gets_408_and_the_connection_closes(served: Served) -> None:
    before = served.metric('mlcd_timeouts_total{phase="body"}')
    slow = [_connect(served) for _ in range(10)]
    started = time.monotonic()
    for index, connection in enumerate(slow):
        path = "/invocations" if index % 2 else f"/v2/models/{NAME}/infer"
        connection.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           "Content-Length: 1000\r\n\r\n".encode() + b'{"inputs": [')
    _ok(served)  # the server answers others meanwhile
    answers = [_read_all(connection) for connection in slow]  # each ends: the server closed the connection
    waited = time.monotonic() - started
    assert BODY_TIMEOUT <= waited < BODY_TIMEOUT + 5, waited
    for index, answer in enumerate(answers):
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 ") and b"connection: close" in head.lower(), answer
        message = json.loads(body)["message" if index % 2 else "error"]
        assert message == f"the request body did not arrive within {BODY_TIMEOUT:g} s (--body-timeout)"
    for connection in slow:
        connection.close()
    _ok(served)
    assert served.metric('mlcd_timeouts_total{phase="body"}') - before == 10


def test_headers_that_never_end_get_408_and_idle_connections_are_closed(served: Served) -> None:
    before = served.metric('mlcd_timeouts_total{phase="headers"}')
    started = time.monotonic()  # the server times the headers from the connection's start
    partial, idle = _connect(served), _connect(served)
    partial.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Ty")
    head = _read_all(partial)
    assert head.startswith(b"HTTP/1.1 408 ") and b"--header-timeout" in head
    assert _read_all(idle) == b""
    assert HEADER_TIMEOUT <= time.monotonic() - started < HEADER_TIMEOUT + 5
    partial.close()
    idle.close()
    _ok(served)
    assert served.metric('mlcd_timeouts_total{phase="headers"}') - before == 2


def test_clients_that_leave_mid_body_are_counted_in_one_info_line_each(served: Served) -> None:
    before = served.metric("mlcd_client_disconnects_total")
    lines_before = served.log().count("client went away")
    for index in range(20):
        connection = _connect(served)
        path = "/invocations" if index % 2 else f"/v2/models/{NAME}/infer"
        connection.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           "Content-Length: 5000\r\n\r\n".encode() + b'{"inputs": [' * 20)
        time.sleep(0.05)
        connection.close()
    deadline = time.monotonic() + 10
    while served.metric("mlcd_client_disconnects_total") - before < 20 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert served.metric("mlcd_client_disconnects_total") - before == 20
    log = served.log()
    assert log.count("client went away") - lines_before == 20
    assert "INFO mlcd.serve: client went away while sending its request: POST /invocations after 240 body bytes" in log
    _ok(served)


def _burst(served: Served, count: int) -> list[bytes]:
    """``count`` connections opened in order, then a request on each; the status line's code of each."""
    connections = []
    for _ in range(count):
        connections.append(_connect(served))
        time.sleep(0.01)  # accepted in this order
    for connection in connections:
        connection.sendall(b"GET /v2 HTTP/1.1\r\nHost: x\r\n\r\n")
    statuses = [connection.recv(65536).split(b" ", 2)[1] for connection in connections]
    for connection in connections:
        connection.close()
    return statuses


def test_connections_over_the_cap_get_503_and_the_rest_are_served(served: Served) -> None:
    extra = 6
    expected = [b"200"] * MAX_CONNECTIONS + [b"503"] * extra
    for _ in range(3):
        before = served.metric("mlcd_connections_refused_total")
        time.sleep(1)  # Docker's proxy closes its side of the /metrics connection a moment after the client
        statuses = _burst(served, MAX_CONNECTIONS + extra)
        if statuses == expected:
            break
        time.sleep(6)  # a connection still open took a place under the cap: uvicorn closes idle ones after 5 s
    assert statuses == expected
    assert served.metric("mlcd_connections_refused_total") - before == extra
    _ok(served)


def test_a_fuzz_burst_and_everything_before_it_leave_no_traceback_in_the_log(served: Served) -> None:
    session = requests.Session()

    @given(raw_requests())
    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def one(request: tuple[str, str, dict[str, str], bytes]) -> None:
        method, path, headers, raw = request
        response = session.request(method, served.url + path, data=raw, headers=headers, timeout=30)
        check_answer(response.status_code, response.headers.get("content-type", ""), response.text, path)

    one()
    log = served.log()
    assert "Traceback" not in log and " ERROR " not in log and "Exception in ASGI application" not in log, log[-3000:]


# --- the docker target restarts a server that stopped answering -----------------------------------------------


@pytest.mark.docker
def test_the_docker_target_restarts_a_container_whose_server_stopped_answering(client: Any, image: str,
                                                                                trained_repo: Path) -> None:
    from mlcd.promotion.targets import Release
    from mlcd.promotion.targets.docker import DockerTarget

    sha = file_sha256(trained_repo / "models" / "model.skops")
    target = DockerTarget(NAME, unique("restart"), port=free_port(), ready_timeout=60, client=client)
    built = client.images.get(image)
    release = Release(NAME, target.environment, "v1", image, built.id, sha)
    try:
        target.deploy(release, {})
        container = client.containers.get(target.name)
        assert container.attrs["Config"]["Entrypoint"][0].endswith("/dumb-init")
        deadline = time.monotonic() + 60
        while container.attrs["State"].get("Health", {}).get("Status") != "healthy":  # a check saw it answer
            assert time.monotonic() < deadline, container.attrs["State"]
            time.sleep(1)
            container.reload()
        stop = ("import os, signal; from mlcd.serving.healthcheck import server_processes; "
                "[os.kill(pid, signal.SIGSTOP) for pid in server_processes()]")
        assert container.exec_run(["python", "-c", stop]).exit_code == 0
        with pytest.raises(requests.RequestException):
            requests.get(f"{target.url}/v2/health/live", timeout=2)
        deadline = time.monotonic() + 120  # 3 health checks 10 s apart, the restart, the model loading
        while time.monotonic() < deadline:
            container.reload()
            if container.attrs["RestartCount"] >= 1 and container.status == "running":
                break
            time.sleep(1)
        assert container.attrs["RestartCount"] >= 1, container.logs().decode(errors="replace")[-2000:]
        wait_ready(target.port, timeout=60)
        assert target.current() is not None
        _ok(Served("image", target.port, lambda: ""))
        started = time.monotonic()
        container.stop(timeout=10)  # SIGINT, which dumb-init passes on: a clean stop, not a kill after 10 s
        assert time.monotonic() - started < 5
        container.reload()
        assert container.attrs["State"]["ExitCode"] == 0, container.logs().decode(errors="replace")[-2000:]
    finally:
        with contextlib.suppress(Exception):
            client.containers.get(target.name).remove(force=True)
