"""MLflow's scoring protocol (``POST /invocations``), as ``mlflow models serve`` takes it. Pure functions.

The body is JSON holding exactly one of ``dataframe_split``, ``dataframe_records``, ``instances`` or
``inputs`` (and optionally ``params``), or CSV as ``pandas.DataFrame.to_csv`` writes it; the answer is
``{"predictions": [...]}`` and an error is ``{"error_code": ..., "message": ...}``, as MLflow's pyfunc
server answers. ``Content-Type`` is checked as MLflow checks it. Where mlcd refuses what MLflow accepts,
docs/serving.md says so and why.
"""

from __future__ import annotations

import io
import json
from typing import Any

import orjson

from mlcd.serving.protocol import Batch, RequestError, validated
from mlcd.serving.validation import InputSchema, datatype_of, name_list

__all__ = ["CSV", "JSON", "MLFLOW_FORMATS", "decode_json", "media_type", "parse_csv", "parse_invocations"]

MLFLOW_FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
JSON = "application/json"
CSV = "text/csv"


def _bad(message: str) -> RequestError:
    return RequestError(400, message)


def media_type(content_type: str | None) -> str:
    """``application/json`` or ``text/csv`` from a Content-Type header; 415 otherwise, as MLflow answers a
    type it does not take, a charset other than UTF-8, or a parameter other than charset."""
    if content_type is None:
        raise RequestError(415, f"Content-Type must be {JSON} or {CSV}, and the request has none")
    kind, *parameters = (part.strip() for part in content_type.split(";"))
    kind = kind.lower()
    if kind not in (JSON, CSV):
        shown = kind[:40] + ("…" if len(kind) > 40 else "")
        raise RequestError(415, f"Content-Type must be {JSON} or {CSV}, not {shown!r}")
    for parameter in parameters:
        key, _, value = parameter.partition("=")
        if key.strip().lower() != "charset":
            raise RequestError(415, f"Content-Type takes only a charset parameter, as MLflow's; remove "
                                    f"{name_list([key.strip()])}")
        if value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise RequestError(415, "the body must be UTF-8 (Content-Type charset=utf-8, or no charset)")
    return kind


def _constant(name: str) -> float | None:
    return None if name == "NaN" else float(name)


def decode_json(raw: bytes) -> Any:
    """The JSON body, where ``NaN`` is a missing value: MLflow's client writes a DataFrame's missing values
    so (Python's json, which MLflow's server reads them with, takes ``NaN`` and ``Infinity``)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:  # the slow path, only for bodies with those tokens
        return json.loads(raw, parse_constant=_constant)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise _bad("the body is not valid JSON") from None


def parse_csv(body: bytes, schema: InputSchema) -> Batch:
    """A CSV body (a header row of column names, then one row per line) → the rows it carries.

    Read with pandas' defaults, as MLflow reads it, except that text columns of the contract stay text (as
    MLflow reads them for a model with a signature): ``"01"`` is not turned into 1. An empty cell is a
    missing value.
    """
    import pandas as pd

    from mlcd.serving.scoring import column_values

    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad("the body is not UTF-8 text") from None
    text_columns = {spec.name: str for spec in schema.features if datatype_of(spec) == "BYTES"}
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=text_columns)
    except (ValueError, pd.errors.ParserError):  # EmptyDataError is a ValueError
        raise _bad("the body is not CSV with a header row: write it with pandas.DataFrame.to_csv(index=False)"
                   ) from None
    names = [str(name) for name in frame.columns]
    numeric = {spec.name for spec in schema.features if spec.dtype in ("int", "float")}
    columns = {name: column_values(frame[original], name in numeric)
               for name, original in zip(names, frame.columns, strict=True)}
    return validated(schema, columns, len(frame))


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
    """An MLflow ``/invocations`` JSON body → the rows it carries. Raises :class:`RequestError`."""
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
