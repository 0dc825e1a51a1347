"""What standard clients put on the wire, without a server: Triton's binary tensor data (encoded and decoded
by tritonclient itself), datatypes against values, shapes, MLflow's Content-Type rules, CSV and error shape,
and the image's health check."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlcd.serving import healthcheck
from mlcd.serving.invocations import decode_json, media_type, parse_csv, parse_invocations
from mlcd.serving.protocol import RequestError, infer_response, parse_infer
from mlcd.serving.tensors import (
    FLOAT_MAX,
    INT_RANGES,
    datatype_problem,
    decode_binary,
    encode_binary,
    encode_outputs,
    split_body,
)
from mlcd.serving.validation import InputSchema

ROW: dict[str, Any] = {"island": "Biscoe", "bill_length_mm": 45.1, "bill_depth_mm": 14.5,
                       "flipper_length_mm": 215.0, "body_mass_g": 5000.0, "sex": "female"}
TEXT = ("island", "sex")


def refused(call: Any, *args: Any) -> RequestError:
    with pytest.raises(RequestError) as caught:
        call(*args)
    return caught.value


def triton_request(rows: list[dict[str, Any]], *, binary: bool, shape_n1: bool = False,
                   **infer: Any) -> tuple[dict[str, Any], bytes]:
    """The request tritonclient.http.InferenceServerClient.infer() sends: (JSON header, binary part)."""
    from tritonclient.http import InferInput
    from tritonclient.http._utils import _get_inference_request

    inputs = []
    for name in ROW:
        values = [r[name] for r in rows]
        array = np.array(values, dtype=object) if name in TEXT else np.array(values, dtype=np.float64)
        shape = [len(rows), 1] if shape_n1 else [len(rows)]
        tensor = InferInput(name, shape, "BYTES" if name in TEXT else "FP64")
        tensor.set_data_from_numpy(array.reshape(shape), binary_data=binary)
        inputs.append(tensor)
    arguments = {"request_id": "", "outputs": None, "sequence_id": 0, "sequence_start": False,
                 "sequence_end": False, "priority": 0, "timeout": None, "custom_parameters": None, **infer}
    body, header_length = _get_inference_request(inputs=inputs, **arguments)
    header, rest = split_body(body, None if header_length is None else str(header_length))
    return json.loads(header), rest


# --- Open Inference Protocol: what tritonclient sends -------------------------------------------------------


@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("shape_n1", [False, True])
def test_tritonclient_requests_parse_to_the_same_columns(schema: InputSchema, binary: bool, shape_n1: bool) -> None:
    rows = [ROW, {**ROW, "island": "Dream", "bill_length_mm": 39.25}]
    header, rest = triton_request(rows, binary=binary, shape_n1=shape_n1)
    assert bool(rest) == binary
    batch = parse_infer(header, schema, rest)
    assert batch.columns == {name: [r[name] for r in rows] for name in ROW}
    assert batch.binary_outputs == {"predict", "predict_proba"}  # tritonclient asks for binary outputs by default


def test_json_for_shape_n_1_may_be_nested_rows(schema: InputSchema) -> None:
    body = {"inputs": [{"name": n, "shape": [2, 1], "datatype": "BYTES" if n in TEXT else "FP64",
                        "data": [[ROW[n]], [ROW[n]]]} for n in ROW]}
    assert parse_infer(body, schema).rows == 2
    body["inputs"][1]["data"] = [[45.1, 1.0], [45.1]]
    assert "list of one-value lists" in refused(parse_infer, body, schema).message


def test_binary_missing_values_are_nan(schema: InputSchema) -> None:
    header, rest = triton_request([{**ROW, "bill_length_mm": float("nan")}], binary=True)
    assert parse_infer(header, schema, rest).columns["bill_length_mm"] == [None]


@pytest.mark.parametrize(("mutate", "fragment"), [
    (lambda h, r: (h, r + b"\0"), "holds 53 byte(s) of binary data, but the inputs' binary_data_size add up to 52"),
    (lambda h, r: (h, r[:-1]), "reaches past the end of the body's binary part"),
    (lambda h, r: (h["inputs"][0]["parameters"].update(binary_data_size=5) or h, r),
     "do not hold exactly 1 BYTES element"),
    (lambda h, r: (h["inputs"][1]["parameters"].update(binary_data_size=4) or h, r),
     "binary_data_size is 4 bytes, but 1 FP64 value(s) take 8"),
    (lambda h, r: (h["inputs"][1].update(data=[1.0]) or h, r), "has both data and parameters.binary_data_size"),
    (lambda h, r: (h["inputs"][0]["parameters"].update(binary_data_size=-1) or h, r), "whole number of bytes"),
])
def test_binary_requests_that_do_not_add_up_are_400(schema: InputSchema, mutate: Any, fragment: str) -> None:
    header, rest = mutate(*triton_request([ROW], binary=True))
    error = refused(parse_infer, header, schema, rest)
    assert error.status == 400 and fragment in error.message, error.message


def test_bytes_that_are_not_utf8_are_named() -> None:
    with pytest.raises(ValueError, match="BYTES element 1 is not UTF-8 text"):
        decode_binary(encode_binary([b"ok", b"\xff\xfe"], "BYTES"), "BYTES", 2)
    with pytest.raises(ValueError, match="BOOL values must be bytes 0 or 1"):
        decode_binary(b"\x01\x02", "BOOL", 2)


@pytest.mark.parametrize(("datatype", "value", "fits"), [
    ("INT8", 5200.0, False), ("INT8", 127, True), ("INT8", 128, False), ("INT8", -128, True), ("INT8", 1.0, False),
    ("UINT8", -1, False), ("UINT64", 2**64 - 1, True), ("INT64", 2**63, False), ("INT32", True, False),
    ("FP16", 65504.0, True), ("FP16", 70000.0, False), ("FP32", 1e39, False), ("FP32", 3, True),
    ("FP64", 1e308, True), ("FP64", "1.5", False), ("BOOL", 1, False), ("BOOL", False, True),
    ("BYTES", 3, False), ("BYTES", "x", True), ("FP64", None, True), ("BYTES", ["x"], False),
])
def test_a_datatype_holds_only_its_values(datatype: str, value: Any, fits: bool) -> None:
    problem = datatype_problem([{"BOOL": True, "BYTES": "a"}.get(datatype, 1), value], datatype)
    assert (problem is None) == fits
    if not fits:
        assert problem is not None and problem.startswith(f"datatype {datatype} cannot hold") and "(row 1)" in problem


def test_an_input_whose_datatype_cannot_hold_its_values_is_a_400_naming_it(schema: InputSchema) -> None:
    body = {"inputs": [{"name": n, "shape": [1], "datatype": "BYTES" if n in TEXT else "FP64", "data": [v]}
                       for n, v in ROW.items()]}
    body["inputs"][4].update(datatype="INT8", data=[5200.0])
    error = refused(parse_infer, body, schema)
    assert (error.status, error.message) == (400, "input 'body_mass_g': datatype INT8 cannot hold 5200.0 (row 0)")


@given(st.sampled_from(sorted([*INT_RANGES, *FLOAT_MAX, "BOOL", "BYTES"])), st.data())
@settings(max_examples=300, deadline=None)
def test_binary_values_round_trip_through_numpy(datatype: str, data: st.DataObject) -> None:
    if datatype == "BYTES":
        values: list[Any] = data.draw(st.lists(st.text(max_size=8), max_size=5))
    elif datatype == "BOOL":
        values = data.draw(st.lists(st.booleans(), max_size=5))
    elif datatype in INT_RANGES:
        low, high = INT_RANGES[datatype]
        values = data.draw(st.lists(st.integers(low, high), max_size=5))
    else:
        width = {"FP16": 16, "FP32": 32, "FP64": 64}[datatype]
        values = data.draw(st.lists(st.floats(width=width, allow_nan=False), max_size=5))  # type: ignore[arg-type]
    raw = encode_binary(values, datatype)
    assert decode_binary(raw, datatype, len(values)) == values
    assert datatype_problem(values, datatype) is None or datatype in FLOAT_MAX  # ±inf: the contract refuses those


def test_binary_outputs_decode_with_tritonclient() -> None:
    from tritonclient.http import InferResult

    proba = np.array([[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]])
    answer = infer_response(model_name="m", model_version="v", request_id=None, outputs=("predict", "predict_proba"),
                            labels=["Gentoo", "Adelie"], label_datatype="BYTES", proba=proba,
                            classes=["Adelie", "Chinstrap", "Gentoo"])
    body, header_length = encode_outputs(answer, frozenset({"predict_proba", "predict"}))
    assert header_length is not None
    result = InferResult.from_response_body(body, header_length=header_length)
    assert result.as_numpy("predict").tolist() == [b"Gentoo", b"Adelie"]
    assert np.array_equal(result.as_numpy("predict_proba"), proba)
    assert result.get_output("predict_proba")["parameters"]["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    again = infer_response(model_name="m", model_version="v", request_id=None, outputs=("predict",),
                           labels=["Gentoo", "Adelie"], label_datatype="BYTES", proba=proba, classes=None)
    only_json, none = encode_outputs(again, frozenset())
    assert none is None and json.loads(only_json)["outputs"][0]["data"] == ["Gentoo", "Adelie"]


def test_outputs_may_each_choose_binary_or_json(schema: InputSchema) -> None:
    header, rest = triton_request([ROW], binary=False)
    header["outputs"] = [{"name": "predict", "parameters": {"binary_data": False}}, {"name": "predict_proba"}]
    header["parameters"] = {"binary_data_output": True}
    assert parse_infer(header, schema, rest).binary_outputs == {"predict_proba"}
    header["outputs"] = [{"name": "predict", "parameters": {"classification": 2}}]
    assert "classification extension is not served" in refused(parse_infer, header, schema, rest).message
    header["outputs"] = [{"name": "predict", "parameters": {"binary_data": "yes"}}]
    assert "binary_data must be true or false" in refused(parse_infer, header, schema, rest).message


def test_the_inference_header_length_must_fit_the_body() -> None:
    assert split_body(b'{"a": 1}xyz', "8") == (b'{"a": 1}', b"xyz")
    for bad in ("12", "-1", "x", ""):
        with pytest.raises(ValueError, match="Inference-Header-Content-Length"):
            split_body(b'{"a": 1}', bad)


# --- MLflow /invocations ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("content_type", "expected"), [
    ("application/json", "application/json"), ("text/csv", "text/csv"), ("Application/JSON", "application/json"),
    ("application/json; charset=utf-8", "application/json"), ("text/csv; charset=UTF-8", "text/csv"),
    (None, 415), ("text/plain", 415), ("application/json; charset=latin-1", 415),
    ("application/json; format=pandas-split", 415), ("application/vnd.apache.parquet", 415),
    ("application/merge-patch+json", 415),
])
def test_content_types_are_taken_and_refused_as_mlflow_does(content_type: str | None, expected: Any) -> None:
    if isinstance(expected, int):
        assert refused(media_type, content_type).status == expected
    else:
        assert media_type(content_type) == expected


def test_csv_is_read_as_pandas_writes_it(schema: InputSchema) -> None:
    frame = pd.DataFrame([ROW, {**ROW, "sex": None, "bill_length_mm": None}])
    batch = parse_csv(frame.to_csv(index=False).encode(), schema)
    assert batch.columns == parse_invocations({"dataframe_records": [ROW, {**ROW, "sex": None,
                                                                           "bill_length_mm": None}]}, schema).columns
    with_index = refused(parse_csv, frame.to_csv().encode(), schema)  # the index is a column MLflow drops too
    assert with_index.status == 422 and "unknown column(s) 'Unnamed: 0'" in with_index.message
    text = frame.to_csv(index=False).replace("Biscoe", "Mars").encode()
    assert "'Mars' is not one of" in refused(parse_csv, text, schema).message
    assert refused(parse_csv, b"", schema).status == 400
    assert refused(parse_csv, b"island\n\xff\xfe\n", schema).message == "the body is not UTF-8 text"


@given(st.binary(max_size=300) | st.text(alphabet=',"\n\r ab1.', max_size=200).map(str.encode))
@settings(max_examples=300, deadline=None)
def test_any_csv_body_is_read_or_refused_never_an_exception(schema: InputSchema, body: bytes) -> None:
    try:
        parse_csv(body, schema)
    except RequestError as error:
        assert error.status in (400, 422)


def test_nan_from_mlflows_client_is_a_missing_value(schema: InputSchema) -> None:
    from mlflow.utils.proto_json_utils import dump_input_data

    frame = pd.DataFrame([ROW, {**ROW, "sex": float("nan"), "bill_length_mm": float("nan")}])
    sent = dump_input_data(frame)
    assert "NaN" in sent  # not JSON, but what MLflow's client writes and its server reads
    batch = parse_invocations(decode_json(sent.encode()), schema)
    assert batch.columns["sex"] == ["female", None] and batch.columns["bill_length_mm"] == [45.1, None]
    infinite = decode_json(b'{"instances": [{"bill_length_mm": Infinity}]}')
    assert infinite == {"instances": [{"bill_length_mm": float("inf")}]}
    assert refused(decode_json, b"{nope").message == "the body is not valid JSON"


def test_errors_on_invocations_have_mlflows_shape() -> None:
    error = RequestError(422, "column 'island' row 0: 'Mars' is not one of …", ["a", "b"])
    assert error.mlflow_body() == {"error_code": "INVALID_PARAMETER_VALUE",
                                   "message": "column 'island' row 0: 'Mars' is not one of …", "details": ["a", "b"]}
    assert RequestError(400, "x").mlflow_body() == {"error_code": "BAD_REQUEST", "message": "x"}
    assert RequestError(503, "x").mlflow_body()["error_code"] == "TEMPORARILY_UNAVAILABLE"
    assert RequestError(415, "x").mlflow_body()["error_code"] == "BAD_REQUEST"


# --- the image's health check -------------------------------------------------------------------------------


def test_a_server_is_killed_after_three_silent_checks_once_it_answered_or_the_start_grace_passed() -> None:
    def kills(answers: list[bool], age: float) -> list[bool]:
        state, decided = healthcheck.Health(), []
        for answered in answers:
            state, kill = healthcheck.next_state(state, answered, age)
            decided.append(kill)
        return decided

    young, old = 5.0, healthcheck.START_GRACE
    # silent while starting: never killed; after an answer, the third silence in a row kills (and each after)
    assert kills([False] * 4 + [True, False, False, True, False, False, False, False], young) == [False] * 10 + [
        True, True]
    assert kills([False] * 4, old) == [False, False, True, True]  # hung before it ever answered: after the grace
    assert kills([False, False, False], None) == [False] * 3  # age unknown: only after an answer
    assert healthcheck.Health.parse(healthcheck.Health(2, True).text()) == healthcheck.Health(2, True)


def test_the_container_age_comes_from_pid_1(tmp_path: Path) -> None:
    import os

    (tmp_path / "1").mkdir()
    ticks = os.sysconf("SC_CLK_TCK")
    fields = ["S", *["0"] * 18, str(100 * ticks)]  # field 22, starttime: 100 s after boot
    (tmp_path / "1" / "stat").write_text(f"1 (dumb init) {' '.join(fields)} 0 0")
    (tmp_path / "uptime").write_text("130.5 200.0\n")
    assert healthcheck.container_age(tmp_path) == pytest.approx(30.5)
    assert healthcheck.container_age(tmp_path / "missing") is None


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[http.server.HTTPServer]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_the_check_reports_readiness_and_kills_a_silent_server(health_server: http.server.HTTPServer,
                                                               tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{health_server.server_address[1]}/v2/health/ready"
    state = tmp_path / "state"
    killed: list[list[int]] = []

    def kill(pids: Any) -> None:
        killed.append(list(pids))

    silent = "http://127.0.0.1:1/v2/health/ready"  # nothing listens on port 1
    assert [healthcheck.check(silent, state, kill, age=5.0) for _ in range(4)] == [1] * 4  # starting
    assert healthcheck.check(url, state, kill, age=5.0) == 0 and state.read_text() == "0 1"
    _Health.status = 503  # loading, or a refused model: an answer, never killed
    try:
        assert [healthcheck.check(url, state, kill, age=5.0) for _ in range(4)] == [1] * 4
    finally:
        _Health.status = 200
    assert killed == [] and state.read_text() == "0 1"
    assert [healthcheck.check(silent, state, kill, age=5.0) for _ in range(3)] == [1, 1, 1]
    assert len(killed) == 1 and state.read_text() == "3 1"


def test_only_the_children_of_an_init_are_killed(tmp_path: Path) -> None:
    def process(pid: int, parent: int, cmdline: bytes = b"python\0-m\0mlcd\0serve\0") -> None:
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(f"{pid} (py thon) S {parent} {pid} {pid} 0")
        (tmp_path / str(pid) / "cmdline").write_bytes(cmdline)

    process(1, 0, b"/opt/mlcd/bin/dumb-init\0--\0python\0")
    process(7, 1)
    process(8, 7)  # a worker of the server
    process(30, 0)  # the health check itself, started from outside the container
    (tmp_path / "self").mkdir()
    assert healthcheck.server_processes(tmp_path) == [7]
    (tmp_path / "1" / "cmdline").write_bytes(b"/sbin/init\0")  # --pid=host, or no init: kill nothing
    assert healthcheck.server_processes(tmp_path) == []
