"""Open Inference Protocol tensors: datatypes checked against values, and the binary tensor data extension.

A tensor's declared ``datatype`` must hold its values: ``INT8`` takes whole JSON numbers from -128 to 127,
``FP32`` finite numbers within its range, ``BOOL`` ``true``/``false``, ``BYTES`` text. A missing value
(``null``) passes here; the data contract decides whether the column may have one.

The binary tensor data extension (Triton, KServe): the body is a JSON header of
``Inference-Header-Content-Length`` bytes followed by the tensors' bytes, in the order of the inputs whose
``parameters.binary_data_size`` gives their size. Values are little-endian and row-major; ``BOOL`` is one
byte (0 or 1); a ``BYTES`` element is a 4-byte little-endian length and that many bytes (UTF-8 text here).
Binary data has no null: a NaN in a floating-point tensor is a missing value. Outputs are sent the same way
when the request asks (``parameters.binary_data_output``, or an output's ``parameters.binary_data``).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import orjson

__all__ = ["BINARY_HEADER", "FLOAT_MAX", "INT_RANGES", "OIP_DATATYPES", "datatype_problem", "decode_binary",
           "encode_binary", "encode_outputs", "split_body"]

BINARY_HEADER = "inference-header-content-length"
INT_RANGES: dict[str, tuple[int, int]] = {
    "INT8": (-(2**7), 2**7 - 1), "INT16": (-(2**15), 2**15 - 1), "INT32": (-(2**31), 2**31 - 1),
    "INT64": (-(2**63), 2**63 - 1), "UINT8": (0, 2**8 - 1), "UINT16": (0, 2**16 - 1), "UINT32": (0, 2**32 - 1),
    "UINT64": (0, 2**64 - 1),
}
FLOAT_MAX = {"FP16": 65504.0, "FP32": float(np.finfo(np.float32).max), "FP64": float(np.finfo(np.float64).max)}
OIP_DATATYPES = frozenset({"BOOL", "BYTES", *INT_RANGES, *FLOAT_MAX})
_NUMPY = {"BOOL": "u1", "INT8": "<i1", "INT16": "<i2", "INT32": "<i4", "INT64": "<i8", "UINT8": "<u1",
          "UINT16": "<u2", "UINT32": "<u4", "UINT64": "<u8", "FP16": "<f2", "FP32": "<f4", "FP64": "<f8"}
_LENGTH = struct.Struct("<I")


def _holds(value: Any, datatype: str) -> bool:
    kind = type(value)
    if datatype == "BYTES":
        return kind is str
    if datatype == "BOOL":
        return kind is bool
    limits = INT_RANGES.get(datatype)
    if limits is not None:
        return kind is int and limits[0] <= value <= limits[1]
    return (kind is float or kind is int) and -FLOAT_MAX[datatype] <= value <= FLOAT_MAX[datatype]


def datatype_problem(values: Sequence[Any], datatype: str) -> str | None:
    """Why ``values`` do not fit ``datatype`` (the first value that does not, and its row), or None."""
    if datatype == "FP64" and all(type(v) is float for v in values):
        return None  # the usual case, checked at C speed: a float always fits FP64
    for row, value in enumerate(values):
        if value is not None and not _holds(value, datatype):
            from mlcd.serving.validation import describe

            return f"datatype {datatype} cannot hold {describe(value)} (row {row})"
    return None


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """(JSON header, binary part) of a request body; ValueError when the header length does not fit."""
    if header_length is None:
        return body, b""
    text = header_length.strip()
    if not text.isdigit() or int(text) > len(body):
        raise ValueError(f"the Inference-Header-Content-Length header must be the JSON header's size in bytes, "
                         f"at most the body's {len(body)}")
    size = int(text)
    return body[:size], body[size:]


def decode_binary(raw: bytes, datatype: str, count: int) -> list[Any]:
    """``count`` values of ``datatype`` from their binary form; ValueError saying why they cannot be read."""
    if datatype == "BYTES":
        return _decode_bytes(raw, count)
    dtype = np.dtype(_NUMPY[datatype])
    if len(raw) != count * dtype.itemsize:
        raise ValueError(f"binary_data_size is {len(raw)} bytes, but {count} {datatype} value(s) take "
                         f"{count * dtype.itemsize}")
    array = np.frombuffer(raw, dtype=dtype)
    if datatype == "BOOL":
        if array.size and int(array.max()) > 1:
            raise ValueError("BOOL values must be bytes 0 or 1")
        flags: list[Any] = array.astype(bool).tolist()
        return flags
    values: list[Any] = array.tolist()
    if datatype in FLOAT_MAX and np.isnan(array).any():
        return [None if v != v else v for v in values]  # NaN: binary data's only way to say "missing"
    return values


def _decode_bytes(raw: bytes, count: int) -> list[Any]:
    values: list[Any] = []
    offset = 0
    while offset < len(raw) and len(values) < count:
        if offset + 4 > len(raw):
            break
        (length,) = _LENGTH.unpack_from(raw, offset)
        offset += 4
        if offset + length > len(raw):
            break
        try:
            values.append(raw[offset:offset + length].decode("utf-8"))
        except UnicodeDecodeError:
            raise ValueError(f"BYTES element {len(values)} is not UTF-8 text") from None
        offset += length
    if len(values) != count or offset != len(raw):
        raise ValueError(f"binary_data_size is {len(raw)} bytes, which do not hold exactly {count} BYTES "
                         "element(s), each a 4-byte little-endian length and that many bytes")
    return values


def encode_binary(values: Iterable[Any], datatype: str) -> bytes:
    """The binary form of a tensor's values (flattened row-major)."""
    if datatype == "BYTES":
        parts = []
        for value in values:
            data = value if isinstance(value, bytes) else str(value).encode("utf-8")
            parts += [_LENGTH.pack(len(data)), data]
        return b"".join(parts)
    dtype = np.dtype(_NUMPY[datatype])
    if isinstance(values, np.ndarray):
        return np.ascontiguousarray(values, dtype=dtype).tobytes()
    return np.array(list(values), dtype=dtype).tobytes()  # straight to the type: 2**64 - 1 stays exact


def encode_outputs(response: dict[str, Any], binary: frozenset[str]) -> tuple[bytes, int | None]:
    """The body of an inference response, and the size of its JSON header when some outputs are binary.

    Outputs named in ``binary`` lose their ``data`` and gain ``parameters.binary_data_size``; their bytes
    follow the JSON, in output order.
    """
    blobs: list[bytes] = []
    if binary:
        for output in response["outputs"]:
            if output["name"] in binary:
                blob = encode_binary(output.pop("data"), output["datatype"])
                output["parameters"] = {**output.get("parameters", {}), "binary_data_size": len(blob)}
                blobs.append(blob)
    header = orjson.dumps(response, option=orjson.OPT_SERIALIZE_NUMPY)
    if not blobs:
        return header, None
    return b"".join([header, *blobs]), len(header)
