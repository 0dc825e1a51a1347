"""Connections that cannot get stuck: timeouts for headers and bodies, a cap on open connections, and
quiet, counted client disconnects.

uvicorn waits without limit for a request's headers (a connection that sends nothing, or half its
headers, is held open) and for its body (a POST shorter than its Content-Length is never answered).
Two pieces close those gaps:

- :class:`GuardedHttpToolsProtocol`, uvicorn's httptools protocol with a header timeout (from the
  connection's start, or a request's first byte, to the end of its headers: 408 and close, or just close
  when nothing was sent) and a cap on open connections per worker: a connection opened while the worker
  already holds ``max_connections`` gets 503 for its request and is closed, so the connections within the
  cap keep being served. It reads its :class:`ConnectionLimits` from the app's lifespan state, so each
  worker counts into its own metrics.
- :class:`RequestGuard`, an ASGI wrapper: a body that has not fully arrived ``body_timeout`` seconds after
  its headers gets 408 and the connection is closed; any answer sent before the body was read closes the
  connection too (a half-read body cannot keep it open); a client that goes away mid-body is counted and
  logged as one INFO line. It also counts and times every response for ``/metrics``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mlcd.serving.metrics import Metrics, endpoint_of
from mlcd.serving.responses import error_body, error_response

__all__ = ["DISCONNECTED", "LIMITS_STATE", "ASGIApp", "ConnectionLimits", "GuardedHttpToolsProtocol", "RequestGuard"]

LIMITS_STATE = "mlcd.connection_limits"  # key of the lifespan state the protocol reads its limits from
DISCONNECTED = 499  # the status counted for a request whose client went away (nginx's convention)
log = logging.getLogger("mlcd.serve")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass
class ConnectionLimits:
    header_timeout: float
    max_connections: int
    metrics: Metrics

    async def over_capacity(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The answer to a request on a connection over the cap: 503, and the connection is closed."""
        self.metrics.connections_refused.inc()
        message = (f"the server holds its limit of {self.max_connections} open connections (--max-connections): "
                   "retry shortly")
        response = error_response(scope.get("path", ""), 503, message,
                                  headers={"Connection": "close", "Retry-After": "1"})
        await response(scope, receive, send)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header timeout and a cap on open connections."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits: ConnectionLimits | None = self.app_state.get(LIMITS_STATE)
        self._header_timer: asyncio.TimerHandle | None = None
        self._reading_headers = False  # some bytes of a request's headers arrived
        self._over_cap = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # adds this connection to the worker's
        if self.limits is not None:
            self._over_cap = len(self.connections) > self.limits.max_connections
            self.limits.metrics.open_connections.inc()
            self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        if self.limits is not None:
            self.limits.metrics.open_connections.dec()
            self.limits = None
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_headers = True
        if self._header_timer is None:
            self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._cancel_header_timer()
        self._reading_headers = False
        limits = self.limits
        if limits is None or not self._over_cap:
            super().on_headers_complete()
            return
        app, self.app = self.app, limits.over_capacity
        try:
            super().on_headers_complete()
        finally:
            self.app = app

    def _arm_header_timer(self) -> None:
        if self.limits is not None:
            self._header_timer = self.loop.call_later(self.limits.header_timeout, self._headers_too_slow)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or self.limits is None:
            return
        timeout = self.limits.header_timeout
        self.limits.metrics.timeouts.labels("headers").inc()
        if self._reading_headers:  # a request began: answer it; an idle connection is just closed
            log.info("closed a connection from %s whose request headers did not arrive within %g s "
                     "(--header-timeout)", _peer(self.client), timeout)
            body = orjson.dumps(error_body("", 408, f"the request headers did not arrive within {timeout:g} s "
                                                    "(--header-timeout)"))
            self.transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                                 b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body))
        self.transport.close()


def _peer(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "a client"


def _expects_body(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return value.strip() not in (b"0", b"")
        if name == b"transfer-encoding":
            return True
    return False


class _Exchange:
    """What the guard knows about one request while it is answered."""

    def __init__(self, scope: Scope) -> None:
        self.path: str = scope["path"]
        self.method: str = scope.get("method", "")
        self.body_pending = _expects_body(scope)
        self.received = 0
        self.status: int | None = None
        self.expired = False
        self.timer: asyncio.TimerHandle | None = None

    def body_done(self) -> None:
        self.body_pending = False
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class RequestGuard:
    """Body timeout, closing on an unread body, quiet disconnects, and per-response metrics."""

    def __init__(self, app: ASGIApp, metrics: Metrics, body_timeout: float) -> None:
        self.app = app
        self.metrics = metrics
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        exchange = _Exchange(scope)
        if b"%2f" in scope.get("raw_path", b"").lower():  # decoded, a%2Fready would reach another route
            exchange.status = 404
            await error_response(exchange.path, 404, "not found: a path may not hold an encoded slash (%2F)",
                                 headers=self._closing(exchange))(scope, receive, send)
            self._observe(exchange, started)
            return
        task = asyncio.current_task()
        if exchange.body_pending and task is not None:
            exchange.timer = asyncio.get_running_loop().call_later(self.body_timeout, self._expire, exchange, task)

        async def tracked_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                exchange.received += len(message.get("body", b""))
                if not message.get("more_body", False):
                    exchange.body_done()
            elif message["type"] == "http.disconnect" and exchange.body_pending:
                exchange.body_done()
                exchange.status = DISCONNECTED
                self.metrics.client_disconnects.inc()
                log.info("client went away while sending its request: %s %s after %d body bytes",
                         exchange.method, endpoint_of(exchange.path), exchange.received)
            return message

        async def tracked_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                if exchange.timer is not None:
                    exchange.timer.cancel()
                    exchange.timer = None
                if exchange.status != DISCONNECTED:
                    exchange.status = message["status"]
                if exchange.body_pending:  # answered before the body was read: do not wait for the rest
                    message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, tracked_receive, tracked_send)
        except asyncio.CancelledError:
            if not exchange.expired:
                raise
            if task is not None and hasattr(task, "uncancel"):  # Python 3.11+
                task.uncancel()
            await self._body_timeout(exchange, scope, receive, send)
        except Exception:
            if exchange.status is None:
                raise  # nothing was answered: uvicorn answers 500
            # answered already, and logged by the app's error handler: no second traceback
        finally:
            if exchange.timer is not None:
                exchange.timer.cancel()
            self._observe(exchange, started)

    def _expire(self, exchange: _Exchange, task: asyncio.Task[Any]) -> None:
        exchange.timer = None
        if exchange.body_pending and exchange.status is None:
            exchange.expired = True
            task.cancel()

    async def _body_timeout(self, exchange: _Exchange, scope: Scope, receive: Receive, send: Send) -> None:
        self.metrics.timeouts.labels("body").inc()
        log.info("closed a connection whose request body did not arrive within %g s (--body-timeout): %s %s "
                 "after %d body bytes", self.body_timeout, exchange.method, endpoint_of(exchange.path),
                 exchange.received)
        exchange.status = 408
        message = f"the request body did not arrive within {self.body_timeout:g} s (--body-timeout)"
        with contextlib.suppress(OSError):
            await error_response(exchange.path, 408, message, headers={"Connection": "close"})(scope, receive, send)

    @staticmethod
    def _closing(exchange: _Exchange) -> dict[str, str] | None:
        return {"Connection": "close"} if exchange.body_pending else None

    def _observe(self, exchange: _Exchange, started: float) -> None:
        self.metrics.observe(endpoint_of(exchange.path), exchange.status or 500, time.perf_counter() - started)
