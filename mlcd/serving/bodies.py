"""Request bodies: Content-Type and Content-Encoding checked, size limited while reading, JSON decoded.

Order, per endpoint: the media type (415), then the size, from ``Content-Length`` before reading and
counted while reading (413), then the JSON (400). How long the body may take to arrive is the request
guard's business (:mod:`mlcd.serving.connections`, 408).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from mlcd.serving.protocol import RequestError
from mlcd.serving.tensors import BINARY_HEADER, split_body

__all__ = ["check_encoding", "decode_json", "infer_body", "read_body"]

BINARY = "application/octet-stream"


def _too_large(limit: int) -> RequestError:
    return RequestError(413, f"the body is larger than the limit of {limit} bytes (--max-body-bytes)")


def check_encoding(request: Request) -> None:
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", ""):
        raise RequestError(415, "Content-Encoding must be identity: send the body uncompressed")


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        if chunk:
            chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def decode_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise RequestError(400, "the body is not valid JSON") from None


async def infer_body(request: Request, limit: int) -> tuple[Any, bytes]:
    """An inference request's JSON and the binary tensor data after it (empty without the extension).

    JSON is assumed when there is no Content-Type, as Triton and KServe clients send none; the binary
    extension's bodies may come as ``application/octet-stream``.
    """
    content_type = request.headers.get("content-type")
    if content_type is not None:
        kind = content_type.split(";", 1)[0].strip().lower()
        if kind != "application/json" and not kind.endswith("+json") and kind != BINARY:
            raise RequestError(415, "Content-Type must be application/json (or none), or application/octet-stream "
                                    "for binary tensor data with an Inference-Header-Content-Length header")
    check_encoding(request)
    body = await read_body(request, limit)
    try:
        header, binary = split_body(body, request.headers.get(BINARY_HEADER))
    except ValueError as exc:
        raise RequestError(400, str(exc)) from None
    return decode_json(header), binary
