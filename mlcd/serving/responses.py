"""JSON answers, and errors in the shape of the protocol a path belongs to: MLflow's for ``/invocations``
(``{"error_code", "message"}``), the Open Inference Protocol's everywhere else (``{"error"}``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from starlette.responses import Response

from mlcd.serving.protocol import RequestError, mlflow_error

__all__ = ["MLFLOW_PATH", "error_body", "error_response", "json_response", "request_error_response"]

MLFLOW_PATH = "/invocations"


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY), status, headers,
                    media_type="application/json")


def error_body(path: str, status: int, message: str, details: Sequence[str] = ()) -> dict[str, Any]:
    if path == MLFLOW_PATH:
        return mlflow_error(status, message, details)
    body: dict[str, Any] = {"error": message}
    if len(details) > 1:
        body["details"] = list(details)
    return body


def error_response(path: str, status: int, message: str, details: Sequence[str] = (),
                   headers: Mapping[str, str] | None = None) -> Response:
    return json_response(error_body(path, status, message, details), status, headers)


def request_error_response(path: str, error: RequestError) -> Response:
    return error_response(path, error.status, error.message, error.details)
