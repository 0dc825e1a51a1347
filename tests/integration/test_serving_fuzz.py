"""Fuzz the real server: schemathesis from /openapi.json, then hypothesis-made requests of every kind.

Thousands of requests in all; none may get a 5xx, every 4xx must be JSON with an ``error`` string (MLflow's
``error_code`` and ``message`` on ``/invocations``), and no traceback may reach the server's log.
Schemathesis also holds responses to the document (status codes, content types, response schemas) and
checks that requests the document rules out are refused. Its check that every request the document
allows is accepted is left out: rules across fields (every feature column present, ``shape`` equal to
the length of ``data``, columns of equal length) cannot be written in JSON Schema.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import checks as st_checks
from schemathesis.generation import GenerationMode

from testing.serving import RunningServer, serve

pytestmark = pytest.mark.integration

NAME = "penguins-classifier"
ROW: dict[str, Any] = {"island": "Dream", "bill_length_mm": 45.1, "bill_depth_mm": 17.0, "flipper_length_mm": 190.0,
                       "body_mass_g": 3500.0, "sex": "male"}
SCHEMATHESIS_EXAMPLES = 150
HYPOTHESIS_EXAMPLES = 2500


# Invalid requests must be refused with one of these: schemathesis' list plus 413, the answer to a body over
# --max-body-bytes (the document declares it), which large generated bodies get before anything else.
REJECTIONS = schemathesis.Config.from_dict({"checks": {"negative_data_rejection": {"expected-statuses": [
    "400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]}}})


@pytest.fixture(scope="module")
def fuzz_server(trained_repo: Path) -> Iterator[RunningServer]:
    with serve(trained_repo, "--max-body-bytes", "20000") as running:
        yield running


def check_answer(status: int, content_type: str, text: str, path: str) -> None:
    assert status < 500, f"{status}: {text[:500]}"
    if 400 <= status < 500:
        assert content_type == "application/json", f"{status} with {content_type}"
        body = json.loads(text)
        message = body.get("message") if path == "/invocations" else body.get("error")
        assert isinstance(message, str) and message, text[:500]
        if path == "/invocations":
            assert body["error_code"] in ("BAD_REQUEST", "INVALID_PARAMETER_VALUE", "TEMPORARILY_UNAVAILABLE"), text
        assert "Traceback" not in text


@schemathesis.check
def errors_are_json_with_an_error_field(ctx: Any, response: Any, case: Any) -> bool:
    check_answer(response.status_code, response.headers.get("content-type", [""])[0], response.text,
                 case.formatted_path)
    return True


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_schemathesis_against_the_openapi_document(fuzz_server: RunningServer, mode: GenerationMode) -> None:
    # schemathesis' pytest loader (from_fixture) does not run under pytest 9, so each operation's
    # strategy is driven here with hypothesis directly
    document = schemathesis.openapi.from_url(fuzz_server.url + "/openapi.json", config=REJECTIONS)
    operations = [result.ok() for result in document.get_all_operations()]
    assert len(operations) >= 8
    session = requests.Session()
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and operation.method.upper() == "GET" and "{" not in operation.path:
            continue  # nothing in the request to make invalid
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=SCHEMATHESIS_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)
        def fuzz(case: Any) -> None:
            case.call_and_validate(session=session, excluded_checks=[st_checks.positive_data_acceptance],
                                   additional_checks=[errors_are_json_with_an_error_field])

        fuzz()


# --- hypothesis: raw requests, valid ones bent in one place -----------------------------------------------

_scalars = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats()
            | st.text(max_size=20) | st.sampled_from(["Biscoe", "Dream", "male", "", "NaN", "1e999"]))
_json = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
_paths = st.sampled_from([f"/v2/models/{NAME}/infer", "/invocations", f"/v2/models/{NAME}", "/v2/health/ready",
                          f"/v2/models/{NAME}/ready", "/v2/models/other/infer", "/metrics", "/openapi.json",
                          "/v2/models//infer", "/nope", f"/v2/models/{NAME}/infer/extra"])


def _oip(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"inputs": [{"name": n, "shape": [len(rows)], "datatype": "BYTES" if n in ("island", "sex") else "FP64",
                        "data": [r[n] for r in rows]} for n in ROW]}


def _valid_bodies() -> st.SearchStrategy[Any]:
    rows = st.lists(st.just(ROW), min_size=1, max_size=3)
    return st.one_of(
        rows.map(_oip),
        rows.map(lambda r: {"dataframe_records": r}),
        rows.map(lambda r: {"instances": r}),
        rows.map(lambda r: {"inputs": {n: [x[n] for x in r] for n in ROW}}),
        rows.map(lambda r: {"dataframe_split": {"columns": list(ROW), "data": [list(x.values()) for x in r]}}),
    )


def _bend(body: Any, path: list[int], value: Any) -> Any:
    """Replace one value somewhere inside the body, chosen by ``path``."""
    if not path or not isinstance(body, (dict, list)) or not body:
        return value
    if isinstance(body, dict):
        key = sorted(body)[path[0] % len(body)]
        return {**body, key: _bend(body[key], path[1:], value)}
    index = path[0] % len(body)
    return [*body[:index], _bend(body[index], path[1:], value), *body[index + 1:]]


@st.composite
def _requests(draw: st.DrawFn) -> tuple[str, str, dict[str, str], bytes]:
    method = draw(st.sampled_from(["POST"] * 6 + ["GET", "PUT", "DELETE", "PATCH"]))
    path = draw(_paths)
    kind = draw(st.sampled_from(["bent", "bent", "bent", "json", "bytes", "big"]))
    if kind == "bent":
        body = _bend(draw(_valid_bodies()), draw(st.lists(st.integers(0, 50), max_size=6)), draw(_json))
        raw = json.dumps(body).encode()  # NaN and Infinity come out as tokens JSON does not have
    elif kind == "json":
        raw = json.dumps(draw(_json)).encode()
    elif kind == "big":
        raw = json.dumps({"instances": [ROW] * draw(st.integers(100, 400))}).encode()
    else:
        raw = draw(st.binary(max_size=200))
    content_type = draw(st.sampled_from(["application/json"] * 6 + ["application/json; charset=utf-8", "text/csv",
                                                                     "application/x-www-form-urlencoded", ""]))
    return method, path, {"Content-Type": content_type} if content_type else {}, raw


def test_hypothesis_requests_never_get_a_server_error(fuzz_server: RunningServer) -> None:
    session = requests.Session()
    statuses: dict[int, int] = {}

    @given(_requests())
    @settings(max_examples=HYPOTHESIS_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
              database=None)
    def one(request: tuple[str, str, dict[str, str], bytes]) -> None:
        method, path, headers, raw = request
        response = session.request(method, fuzz_server.url + path, data=raw, headers=headers, timeout=30)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        check_answer(response.status_code, response.headers.get("content-type", ""), response.text, path)
        if response.status_code == 200 and path.endswith("/infer"):
            outputs = response.json()["outputs"]
            rows = outputs[0]["shape"][0]
            assert len(outputs[0]["data"]) == rows and len(outputs[1]["data"]) == 3 * rows

    one()
    assert sum(statuses.values()) >= HYPOTHESIS_EXAMPLES
    assert {200, 400, 413, 415, 422} <= set(statuses), statuses  # the fuzzing reached every kind of answer


def test_the_server_counted_thousands_of_requests_and_no_5xx(fuzz_server: RunningServer) -> None:
    text = fuzz_server.get("/metrics").text
    counts = re.findall(r'^mlcd_requests_total\{endpoint="([^"]*)",status="(\d+)"\} (\S+)$', text, re.MULTILINE)
    assert sum(float(value) for _, _, value in counts) >= 3000
    # (the fixture polled /v2/health/ready, answered 503 while the model loaded)
    assert not [(endpoint, status) for endpoint, status, _ in counts
                if status.startswith("5") and endpoint != "/v2/health/ready"]
    log = fuzz_server.log_text()
    assert "the server log has the details" not in log and "Traceback" not in log and " ERROR " not in log
