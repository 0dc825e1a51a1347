"""Requests for fuzzing ``mlcd serve``: valid bodies of every protocol bent in one place, and the check every
answer must pass. Shared by the fuzz test and the client tests that fuzz the image."""

from __future__ import annotations

import json
import struct
from typing import Any

from hypothesis import strategies as st

NAME = "penguins-classifier"
ROW: dict[str, Any] = {"island": "Dream", "bill_length_mm": 45.1, "bill_depth_mm": 17.0, "flipper_length_mm": 190.0,
                       "body_mass_g": 3500.0, "sex": "male"}


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
def raw_requests(draw: st.DrawFn) -> tuple[str, str, dict[str, str], bytes]:
    method = draw(st.sampled_from(["POST"] * 6 + ["GET", "PUT", "DELETE", "PATCH"]))
    path = draw(_paths)
    kind = draw(st.sampled_from(["bent", "bent", "bent", "json", "bytes", "big", "binary", "csv"]))
    headers: dict[str, str] = {}
    if kind == "bent":
        body = _bend(draw(_valid_bodies()), draw(st.lists(st.integers(0, 50), max_size=6)), draw(_json))
        raw = json.dumps(body).encode()  # NaN and Infinity come out as tokens JSON does not have
    elif kind == "json":
        raw = json.dumps(draw(_json)).encode()
    elif kind == "big":
        raw = json.dumps({"instances": [ROW] * draw(st.integers(100, 400))}).encode()
    elif kind == "binary":  # Triton's binary tensor data, one byte or the header's length bent
        raw, length = _binary(draw(st.integers(1, 3)))
        if draw(st.booleans()):
            index = draw(st.integers(0, len(raw) - 1))
            raw = raw[:index] + bytes([draw(st.integers(0, 255))]) + raw[index + 1:]
        else:
            length = draw(st.integers(-2, len(raw) + 2))
        headers["Inference-Header-Content-Length"] = str(length)
    elif kind == "csv":  # a valid CSV row, one cell bent (or not)
        cells = [str(v) for v in ROW.values()]
        if draw(st.booleans()):
            cells[draw(st.integers(0, len(cells) - 1))] = draw(st.text(max_size=12))
        raw = (",".join(ROW) + "\n" + ",".join(cells) + "\n").encode()
    else:
        raw = draw(st.binary(max_size=200))
    content_type = draw(st.sampled_from(["application/json"] * 6 + ["application/json; charset=utf-8", "text/csv",
                                                                     "application/octet-stream",
                                                                     "application/x-www-form-urlencoded", ""]))
    if content_type:
        headers["Content-Type"] = content_type
    return method, path, headers, raw


def _binary(rows: int) -> tuple[bytes, int]:
    """A valid inference request with every input as binary tensor data, and its JSON header's length."""
    inputs, blobs = [], []
    for name, value in ROW.items():
        if isinstance(value, str):
            blob = b"".join(struct.pack("<I", len(value)) + value.encode() for _ in range(rows))
            datatype = "BYTES"
        else:
            blob = struct.pack(f"<{rows}d", *[value] * rows)
            datatype = "FP64"
        inputs.append({"name": name, "shape": [rows], "datatype": datatype,
                       "parameters": {"binary_data_size": len(blob)}})
        blobs.append(blob)
    header = json.dumps({"inputs": inputs, "parameters": {"binary_data_output": True}}).encode()
    return header + b"".join(blobs), len(header)


