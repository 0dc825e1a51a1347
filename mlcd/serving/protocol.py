"""Request bodies of the two protocols, parsed into columns; responses built from predictions. Pure functions.

- Open Inference Protocol v2 (KServe, Triton): one input tensor per feature column, ``shape [n]``,
  ``data`` a flat list.
- MLflow's scoring protocol (``/invocations``): ``dataframe_split``, ``dataframe_records``, ``instances``
  or ``inputs``, answered with ``{"predictions": [...]}`` as MLflow's pyfunc server does.

A body that does not follow the protocol's shape is a :class:`RequestError` with status 400; one that
follows it but breaks the data contract gets 422 (see :mod:`mlcd.serving.validation`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mlcd.serving.validation import (
    MAX_PROBLEMS,
    Datatype,
    InputSchema,
    check_columns,
    datatype_of,
    describe,
    name_list,
)

__all__ = ["MLFLOW_FORMATS", "OIP_DATATYPES", "OUTPUTS", "Batch", "ContractError", "RequestError", "infer_response",
           "parse_infer", "parse_invocations"]

OIP_DATATYPES = frozenset({"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
                           "FP16", "FP32", "FP64", "BYTES"})
_NUMERIC = OIP_DATATYPES - {"BOOL", "BYTES"}
MLFLOW_FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
OUTPUTS = ("predict", "predict_proba")


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


# A request parameter that keeps rows out of the prediction log: mlcd's own parity checks send it false
# (they are checks, not traffic, and must not count as production data in drift).
NO_LOG_PARAMETER = "mlcd_log"


def _bad(message: str) -> RequestError:
    return RequestError(400, message)


def validated(schema: InputSchema, columns: dict[str, list[Any]], rows: int, *, id: str | None = None,
              outputs: tuple[str, ...] = OUTPUTS, logged: bool = True) -> Batch:
    if rows == 0:
        raise RequestError(422, "the request has no rows to score")
    problems = check_columns(schema, columns, limit=MAX_PROBLEMS)
    if problems:
        extra = " (and more)" if len(problems) >= MAX_PROBLEMS else ""
        raise ContractError(problems[0] + extra, problems, columns, rows)
    return Batch({spec.name: columns[spec.name] for spec in schema.features}, rows, id, outputs, logged)


# --- Open Inference Protocol v2 --------------------------------------------------------------------------


def _compatible(sent: str, expected: Datatype) -> bool:
    if expected in ("FP64", "INT64"):
        return sent in _NUMERIC
    return sent == expected


def _tensor(index: int, tensor: Any, schema: InputSchema) -> tuple[str, list[Any], int]:
    where = f"inputs[{index}]"
    if not isinstance(tensor, dict):
        raise _bad(f"{where} must be an object with name, shape, datatype and data")
    name, shape, datatype, data = (tensor.get(k) for k in ("name", "shape", "datatype", "data"))
    if not isinstance(name, str):
        raise _bad(f"{where}.name must be a string")
    where = f"input {describe(name)}"
    if not isinstance(shape, list) or len(shape) != 1 or type(shape[0]) is not int or shape[0] < 0:
        raise _bad(f"{where}: shape must be [n], one value per row")
    if not isinstance(datatype, str) or datatype not in OIP_DATATYPES:
        raise _bad(f"{where}: datatype must be one of {', '.join(sorted(OIP_DATATYPES))}")
    if not isinstance(data, list):
        raise _bad(f"{where}: data must be a flat list of values")
    if not isinstance(tensor.get("parameters", {}), dict):
        raise _bad(f"{where}: parameters must be an object")
    if len(data) != shape[0]:
        raise _bad(f"{where}: shape says {shape[0]} value(s) but data holds {len(data)}")
    spec = next((s for s in schema.features if s.name == name), None)
    if spec is not None and not _compatible(datatype, datatype_of(spec)):
        raise RequestError(422, f"{where}: datatype {datatype} does not fit the contract's {spec.dtype} column "
                                f"(send {datatype_of(spec)})")
    return name, data, shape[0]


def parse_infer(body: Any, schema: InputSchema) -> Batch:
    """An OIP v2 inference request → the rows it carries. Raises :class:`RequestError`."""
    if not isinstance(body, dict):
        raise _bad("the body must be a JSON object with an `inputs` list")
    request_id = body.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise _bad("id must be a string")
    parameters = body.get("parameters", {})
    if not isinstance(parameters, dict):
        raise _bad("parameters must be an object")
    logged = parameters.get(NO_LOG_PARAMETER, True)
    if not isinstance(logged, bool):
        raise _bad(f"parameters.{NO_LOG_PARAMETER} must be true or false")
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise _bad("inputs must be a non-empty list of tensors, one per feature column")
    columns: dict[str, list[Any]] = {}
    rows: int | None = None
    for index, tensor in enumerate(inputs):
        name, data, count = _tensor(index, tensor, schema)
        if name in columns:
            raise _bad(f"input {describe(name)} appears more than once")
        if rows is not None and count != rows:
            raise _bad(f"input {describe(name)} has {count} row(s), the first input has {rows}: "
                       "every input needs one value per row")
        rows = count
        columns[name] = data
    return validated(schema, columns, rows or 0, id=request_id, outputs=_requested_outputs(body.get("outputs")),
                     logged=logged)


def _requested_outputs(outputs: Any) -> tuple[str, ...]:
    if outputs is None:
        return OUTPUTS
    if not isinstance(outputs, list) or not all(isinstance(o, dict) and isinstance(o.get("name"), str)
                                                and isinstance(o.get("parameters", {}), dict) for o in outputs):
        raise _bad("outputs must be a list of objects with a name (and optionally parameters, an object)")
    names = [o["name"] for o in outputs]
    unknown = [n for n in names if n not in OUTPUTS]
    if unknown:
        raise _bad(f"unknown output(s) {name_list(unknown)}: this server has {', '.join(OUTPUTS)}")
    return tuple(n for n in OUTPUTS if n in names)


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


# --- MLflow scoring protocol -----------------------------------------------------------------------------


def _records(records: Any, where: str) -> tuple[dict[str, list[Any]], int]:
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise _bad(f"{where} must be a list of objects, one per row, mapping column names to values")
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record))
    # a key missing from a record is a missing value, as in pandas.DataFrame.from_records
    return {name: [r.get(name) for r in records] for name in names}, len(records)


def _split(frame: Any) -> tuple[dict[str, list[Any]], int]:
    if not isinstance(frame, dict):
        raise _bad("dataframe_split must be an object with `columns` and `data`")
    names, data = frame.get("columns"), frame.get("data")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise _bad("dataframe_split.columns must be a list of column names")
    if len(set(names)) != len(names):
        raise _bad("dataframe_split.columns names a column more than once")
    if not isinstance(data, list) or not all(isinstance(row, list) and len(row) == len(names) for row in data):
        raise _bad(f"dataframe_split.data must be a list of rows, each a list of {len(names)} value(s)")
    if not isinstance(frame.get("index", []), list):
        raise _bad("dataframe_split.index must be a list")
    return {name: [row[i] for row in data] for i, name in enumerate(names)}, len(data)


def _columnar(inputs: Any) -> tuple[dict[str, list[Any]], int]:
    if isinstance(inputs, list):
        return _records(inputs, "inputs")
    if not isinstance(inputs, dict) or not all(isinstance(v, list) for v in inputs.values()):
        raise _bad("inputs must map each column name to a list of values (or be a list of rows)")
    lengths = {len(v) for v in inputs.values()}
    if len(lengths) > 1:
        raise _bad("the columns in inputs have different lengths: each needs one value per row")
    return {name: list(values) for name, values in inputs.items()}, lengths.pop() if lengths else 0


def parse_invocations(body: Any, schema: InputSchema) -> Batch:
    """An MLflow ``/invocations`` body → the rows it carries. Raises :class:`RequestError`."""
    formats = [key for key in MLFLOW_FORMATS if isinstance(body, dict) and key in body]
    if len(formats) != 1:
        raise _bad(f"the body must be a JSON object with exactly one of {', '.join(MLFLOW_FORMATS)}")
    extra = [key for key in body if key not in (formats[0], "params")]
    if extra:
        raise _bad(f"unexpected key(s) {name_list(extra)}: the body holds one of "
                   f"{', '.join(MLFLOW_FORMATS)}, and optionally params")
    if "params" in body and not isinstance(body["params"], dict):
        raise _bad("params must be an object")
    if body.get("params"):
        raise RequestError(422, "this model takes no params: leave params out or empty")
    kind = formats[0]
    payload = body[kind]
    if kind == "dataframe_split":
        columns, rows = _split(payload)
    elif kind == "inputs":
        columns, rows = _columnar(payload)
    else:
        columns, rows = _records(payload, kind)
    if kind != "dataframe_split" and isinstance(payload, list):
        # a key left out of every record is a missing value too
        for spec in schema.features:
            if spec.nullable and spec.name not in columns:
                columns[spec.name] = [None] * rows
    return validated(schema, columns, rows)
