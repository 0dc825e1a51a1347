"""Fuzz the real server: schemathesis from /openapi.json, then hypothesis-made requests of every kind.

Thousands of requests in all; none may get a 5xx, every 4xx must be JSON with an ``error`` string (MLflow's
``error_code`` and ``message`` on ``/invocations``), and no traceback may reach the server's log.
Schemathesis also holds responses to the document (status codes, content types, response schemas) and
checks that requests the document rules out are refused. Its check that every request the document
allows is accepted is left out: rules across fields (every feature column present, ``shape`` equal to
the length of ``data``, columns of equal length) cannot be written in JSON Schema.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks as st_checks
from schemathesis.generation import GenerationMode

from testing.fuzz import check_answer, raw_requests
from testing.serving import RunningServer, serve

pytestmark = pytest.mark.integration

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


def test_hypothesis_requests_never_get_a_server_error(fuzz_server: RunningServer) -> None:
    session = requests.Session()
    statuses: dict[int, int] = {}

    @given(raw_requests())
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
