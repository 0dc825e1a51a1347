"""Request bodies of the Open Inference Protocol v2, parsed into columns; responses built from predictions.
Pure functions; MLflow's ``/invocations`` is in :mod:`mlcd.serving.invocations`.

Open Inference Protocol v2 (KServe, Triton): one input tensor per feature column, ``shape [n]`` or
``[n, 1]``, ``data`` a list of values (flat, or one list of one value per row for ``[n, 1]``), or the
tensor's bytes after the JSON header (the binary tensor data extension, :mod:`mlcd.serving.tensors`).

A body that does not follow the protocol's shape is a :class:`RequestError` with status 400; one that
follows it but breaks the data contract gets 422 (see :mod:`mlcd.serving.validation`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mlcd.serving.tensors import FLOAT_MAX, INT_RANGES, OIP_DATATYPES, datatype_problem, decode_binary
from mlcd.serving.validation import (
    MAX_PROBLEMS,
    Datatype,
    InputSchema,
    check_columns,
    datatype_of,
    describe,
    name_list,
)

__all__ = ["MLFLOW_ERROR_CODES", "NO_LOG_PARAMETER", "OIP_DATATYPES", "OUTPUTS", "Batch", "ContractError",
           "RequestError", "infer_response", "mlflow_error", "parse_infer", "validated"]

_NUMERIC = frozenset({*INT_RANGES, *FLOAT_MAX})
OUTPUTS = ("predict", "predict_proba")
# MLflow's error_code for an HTTP status, as its scoring server names them (422: what MLflow gives a failed
# schema check; the other client errors, which MLflow answers without a code, are BAD_REQUEST)
MLFLOW_ERROR_CODES = {400: "BAD_REQUEST", 404: "ENDPOINT_NOT_FOUND", 422: "INVALID_PARAMETER_VALUE",
                      500: "INTERNAL_ERROR", 503: "TEMPORARILY_UNAVAILABLE"}


def mlflow_error(status: int, message: str, details: Sequence[str] = ()) -> dict[str, Any]:
    """An error body as MLflow's scoring server writes it: ``{"error_code": ..., "message": ...}``."""
    body: dict[str, Any] = {"error_code": MLFLOW_ERROR_CODES.get(status, "BAD_REQUEST"), "message": message}
    if len(details) > 1:
        body["details"] = list(details)
    return body


class RequestError(Exception):
    """A request mlcd refuses: ``status`` is the HTTP status, ``message`` is safe to send back."""

    def __init__(self, status: int, message: str, details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = list(details)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.message}
        if len(self.details) > 1:
            body["details"] = self.details
        return body

    def mlflow_body(self) -> dict[str, Any]:
        return mlflow_error(self.status, self.message, self.details)


class ContractError(RequestError):
    """422: rows that follow the protocol but break the contract; keeps them so the server can count what broke."""

    def __init__(self, message: str, details: Sequence[str], columns: dict[str, list[Any]], rows: int) -> None:
        super().__init__(422, message, details)
        self.columns = columns
        self.rows = rows


@dataclass(frozen=True)
class Batch:
    """Validated rows, column by column (feature name → values, ``None`` for missing)."""

    columns: dict[str, list[Any]]
    rows: int
    id: str | None = None
    outputs: tuple[str, ...] = OUTPUTS
    logged: bool = True  # False: a check, not traffic (OIP request parameter mlcd_log: false)
    binary_outputs: frozenset[str] = frozenset()  # outputs to answer as binary tensor data


# A request parameter that keeps rows out of the prediction log: mlcd's own parity checks send it false
# (they are checks, not traffic, and must not count as production data in drift).
NO_LOG_PARAMETER = "mlcd_log"


def _bad(message: str) -> RequestError:
    return RequestError(400, message)


def validated(schema: InputSchema, columns: dict[str, list[Any]], rows: int, *, id: str | None = None,
              outputs: tuple[str, ...] = OUTPUTS, logged: bool = True,
              binary_outputs: frozenset[str] = frozenset()) -> Batch:
    if rows == 0:
        raise RequestError(422, "the request has no rows to score")
    problems = check_columns(schema, columns, limit=MAX_PROBLEMS)
    if problems:
        extra = " (and more)" if len(problems) >= MAX_PROBLEMS else ""
        raise ContractError(problems[0] + extra, problems, columns, rows)
    return Batch({spec.name: columns[spec.name] for spec in schema.features}, rows, id, outputs, logged,
                 binary_outputs)


# --- Open Inference Protocol v2 --------------------------------------------------------------------------


def _compatible(sent: str, expected: Datatype) -> bool:
    if expected in ("FP64", "INT64"):
        return sent in _NUMERIC
    return sent == expected


def _rows_of(shape: Any, where: str) -> int:
    if (isinstance(shape, list) and 1 <= len(shape) <= 2 and all(type(d) is int for d in shape) and shape[0] >= 0
            and (len(shape) == 1 or shape[1] == 1)):
        return int(shape[0])
    raise _bad(f"{where}: shape must be [n] or [n, 1], one value per row")


def _json_data(data: Any, shape: Any, where: str) -> list[Any]:
    if not isinstance(data, list):
        raise _bad(f"{where}: data must be a flat list of values")
    if len(shape) == 2 and data and isinstance(data[0], list):  # [n, 1] written as nested rows
        if not all(isinstance(row, list) and len(row) == 1 for row in data):
            raise _bad(f"{where}: data for shape [n, 1] must be a flat list, or a list of one-value lists")
        data = [row[0] for row in data]
    if len(data) != shape[0]:
        raise _bad(f"{where}: shape says {shape[0]} value(s) but data holds {len(data)}")
    values: list[Any] = data  # a nested value is refused by the datatype check
    return values


class _Binary:
    """The binary part of a request, handed out to the inputs in order."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.offset = 0

    def take(self, size: Any, where: str) -> bytes:
        if type(size) is not int or size < 0:
            raise _bad(f"{where}: parameters.binary_data_size must be a whole number of bytes")
        if self.offset + size > len(self.raw):
            raise _bad(f"{where}: binary_data_size {size} reaches past the end of the body's binary part "
                       f"({len(self.raw)} bytes; is the Inference-Header-Content-Length header right?)")
        part = self.raw[self.offset:self.offset + size]
        self.offset += size
        return part


def _tensor(index: int, tensor: Any, schema: InputSchema, binary: _Binary) -> tuple[str, list[Any], int]:
    where = f"inputs[{index}]"
    if not isinstance(tensor, dict):
        raise _bad(f"{where} must be an object with name, shape, datatype and data")
    name, shape, datatype = tensor.get("name"), tensor.get("shape"), tensor.get("datatype")
    if not isinstance(name, str):
        raise _bad(f"{where}.name must be a string")
    where = f"input {describe(name)}"
    rows = _rows_of(shape, where)
    if not isinstance(datatype, str) or datatype not in OIP_DATATYPES:
        raise _bad(f"{where}: datatype must be one of {', '.join(sorted(OIP_DATATYPES))}")
    parameters = tensor.get("parameters", {})
    if not isinstance(parameters, dict):
        raise _bad(f"{where}: parameters must be an object")
    if "binary_data_size" in parameters:
        if "data" in tensor:
            raise _bad(f"{where}: has both data and parameters.binary_data_size: send its values one way")
        try:
            data = decode_binary(binary.take(parameters["binary_data_size"], where), datatype, rows)
        except ValueError as exc:
            raise _bad(f"{where}: {exc}") from None
    else:
        data = _json_data(tensor.get("data"), shape, where)  # shape: checked by _rows_of
    problem = datatype_problem(data, datatype)
    if problem is not None:
        raise _bad(f"{where}: {problem}")
    spec = next((s for s in schema.features if s.name == name), None)
    if spec is not None and not _compatible(datatype, datatype_of(spec)):
        raise RequestError(422, f"{where}: datatype {datatype} does not fit the contract's {spec.dtype} column "
                                f"(send {datatype_of(spec)})")
    return name, data, rows


def _flag(parameters: dict[str, Any], key: str, where: str) -> bool | None:
    value = parameters.get(key)
    if value is not None and not isinstance(value, bool):
        raise _bad(f"{where}.{key} must be true or false")
    return value


def parse_infer(body: Any, schema: InputSchema, binary: bytes = b"") -> Batch:
    """An OIP v2 inference request → the rows it carries; ``binary`` is the body after its JSON header
    (binary tensor data). Raises :class:`RequestError`."""
    if not isinstance(body, dict):
        raise _bad("the body must be a JSON object with an `inputs` list")
    request_id = body.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise _bad("id must be a string")
    parameters = body.get("parameters", {})
    if not isinstance(parameters, dict):
        raise _bad("parameters must be an object")
    logged = _flag(parameters, NO_LOG_PARAMETER, "parameters")
    binary_default = bool(_flag(parameters, "binary_data_output", "parameters"))
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise _bad("inputs must be a non-empty list of tensors, one per feature column")
    columns: dict[str, list[Any]] = {}
    rows: int | None = None
    part = _Binary(binary)
    for index, tensor in enumerate(inputs):
        name, data, count = _tensor(index, tensor, schema, part)
        if name in columns:
            raise _bad(f"input {describe(name)} appears more than once")
        if rows is not None and count != rows:
            raise _bad(f"input {describe(name)} has {count} row(s), the first input has {rows}: "
                       "every input needs one value per row")
        rows = count
        columns[name] = data
    if part.offset != len(binary):
        raise _bad(f"the body holds {len(binary)} byte(s) of binary data, but the inputs' binary_data_size "
                   f"add up to {part.offset}")
    outputs, binary_outputs = _requested_outputs(body.get("outputs"), binary_default)
    return validated(schema, columns, rows or 0, id=request_id, outputs=outputs,
                     logged=True if logged is None else logged, binary_outputs=binary_outputs)


def _requested_outputs(outputs: Any, binary_default: bool) -> tuple[tuple[str, ...], frozenset[str]]:
    if outputs is None:
        return OUTPUTS, frozenset(OUTPUTS) if binary_default else frozenset()
    if not isinstance(outputs, list) or not all(isinstance(o, dict) and isinstance(o.get("name"), str)
                                                and isinstance(o.get("parameters", {}), dict) for o in outputs):
        raise _bad("outputs must be a list of objects with a name (and optionally parameters, an object)")
    names = [o["name"] for o in outputs]
    unknown = [n for n in names if n not in OUTPUTS]
    if unknown:
        raise _bad(f"unknown output(s) {name_list(unknown)}: this server has {', '.join(OUTPUTS)}")
    binary = set()
    for output in outputs:
        where = f"output {describe(output['name'])}: parameters"
        parameters = output.get("parameters", {})
        if parameters.get("classification"):
            raise _bad(f"{where}.classification: the classification extension is not served; "
                       "ask for predict_proba, which holds every class's probability")
        wanted = _flag(parameters, "binary_data", where)
        if wanted or (wanted is None and binary_default):
            binary.add(output["name"])
    return tuple(n for n in OUTPUTS if n in names), frozenset(binary)


def infer_response(*, model_name: str, model_version: str, request_id: str | None, outputs: tuple[str, ...],
                   labels: list[Any], label_datatype: str, proba: Any | None,
                   classes: list[Any] | None) -> dict[str, Any]:
    """The OIP response: ``predict`` and, for a classifier with probabilities, ``predict_proba``.

    ``proba`` is an (n, k) array; its ``data`` is flattened row-major, as the protocol wants.
    """
    rows = len(labels)
    tensors: list[dict[str, Any]] = []
    if "predict" in outputs:
        tensors.append({"name": "predict", "datatype": label_datatype, "shape": [rows], "data": labels})
    if "predict_proba" in outputs and proba is not None and classes is not None:
        tensors.append({"name": "predict_proba", "datatype": "FP64", "shape": [rows, len(classes)],
                        "data": proba.ravel(), "parameters": {"classes": classes}})
    response: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if request_id is not None:
        response["id"] = request_id
    response["outputs"] = tensors
    return response
