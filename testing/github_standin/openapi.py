"""GitHub's official OpenAPI description, and openapi-core validating calls and answers against it."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from jsonschema.exceptions import ValidationError as SchemaValidationError
from openapi_core import Config, OpenAPI
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.testing import MockRequest, MockResponse
from openapi_schema_validator import OAS30Validator

# Statuses GitHub may answer on any endpoint without its description listing them there; their body is
# then checked against the description's generic `basic-error` schema.
GENERIC_ERROR_STATUSES = frozenset({400, 401, 403, 404, 422, 429, 500, 502, 503, 504})


class GitHubOpenAPI:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.server_url: str = document["servers"][0]["url"]
        # GitHub's description is trusted as published: validating the 13 MB description itself is skipped.
        # (openapi-core documents None as "skip", though its annotation leaves None out.)
        self.app = OpenAPI.from_dict(document, config=Config(spec_validator_cls=None))  # type: ignore[arg-type]
        self._basic_error = OAS30Validator(document["components"]["schemas"]["basic-error"])

    def operation_id(self, method: str, template: str) -> str | None:
        operation = self.document["paths"].get(template, {}).get(method.lower())
        return operation.get("operationId") if isinstance(operation, dict) else None

    def request_errors(self, call: Call) -> list[str]:
        return [_describe(error) for error in self.app.iter_request_errors(call.mock_request(self.server_url))]

    def response_errors(self, call: Call, status: int, headers: Mapping[str, str], body: bytes) -> list[str]:
        request = call.mock_request(self.server_url)
        content_type = headers.get("Content-Type", "application/json")
        response = MockResponse(body, status, dict(headers), content_type=content_type)
        errors = list(self.app.iter_response_errors(request, response))
        if errors and all(isinstance(error, ResponseNotFound) for error in errors):
            if status not in GENERIC_ERROR_STATUSES:
                return [f"status {status} is not an answer GitHub documents for {call}"]
            data = json.loads(body) if body else None
            return [f"{status} body: {error.message}" for error in self._basic_error.iter_errors(data)]
        return [_describe(error) for error in errors]


class Call:
    """One HTTP request as the stand-in received it: path relative to the API root, headers Title-Cased."""

    def __init__(self, method: str, path: str, query: Mapping[str, list[str]], headers: Mapping[str, str],
                 body: bytes) -> None:
        self.method = method.upper()
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body

    def mock_request(self, server_url: str) -> MockRequest:
        content_type = self.headers.get("Content-Type", "application/json" if self.body else "")
        return MockRequest(server_url, self.method.lower(), self.path, args=dict(self.query),
                           headers=dict(self.headers), data=self.body or None, content_type=content_type)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


@functools.cache
def load(path: Path) -> GitHubOpenAPI:
    """Parsed once per process: every stand-in in a test session shares it."""
    return GitHubOpenAPI(json.loads(path.read_text(encoding="utf-8")))


def _describe(error: BaseException) -> str:
    """One line: what kind of error, then each JSON-schema failure as ``where: why``."""
    text = str(error)
    head = text if len(text) <= 100 and "\n" not in text else type(error).__name__
    leaves = [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in _schema_errors(error)]
    return f"{head}: {'; '.join(dict.fromkeys(leaves))}" if leaves else head


def _schema_errors(error: BaseException) -> Iterator[SchemaValidationError]:
    if isinstance(error, SchemaValidationError):
        yield error
        return
    nested = getattr(error, "errors", None) or getattr(error, "schema_errors", None) or []
    for inner in [*nested, error.__cause__]:
        if isinstance(inner, BaseException):
            yield from _schema_errors(inner)
