"""The prediction server: a Starlette app, run by uvicorn (httptools, uvloop) from ``mlcd serve``.

The process listens at once and loads the model in the background. It becomes ready only when the
model loaded with trusted types alone and its sha256 matches the one in its lineage file; otherwise
it stays up, never ready (``/v2/health/ready`` and every scoring request answer 503 with the reason),
so an orchestrator shows the failure instead of restarting a process that dies.

Checks on a scoring request, in order: model name (404), readiness (503), ``Content-Type`` (415), size
from ``Content-Length`` and while reading (413), JSON or CSV (400), protocol shape and datatypes (400), data
contract (422). A request waits at most ``--timeout`` seconds for its prediction (queue and scoring), then
gets 503. Headers and bodies that do not arrive in time get 408 (:mod:`mlcd.serving.connections`).

Every request that reaches the contract checks is counted per feature (nulls, out-of-contract values) for
``/metrics``. With a prediction log configured, each worker makes its own writer when it starts and closes
it (writing what is queued) when it stops; scored rows are sampled into it without waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from mlcd import __version__
from mlcd.config import Config, load_config
from mlcd.errors import MlcdError
from mlcd.serving.batching import Batcher, Scored
from mlcd.serving.bodies import check_encoding, infer_body, read_body
from mlcd.serving.connections import DISCONNECTED, LIMITS_STATE, ASGIApp, ConnectionLimits, RequestGuard
from mlcd.serving.invocations import CSV, decode_json, media_type, parse_csv, parse_invocations
from mlcd.serving.metrics import CONTENT_TYPE, Metrics, endpoint_of
from mlcd.serving.openapi import openapi_document
from mlcd.serving.prediction_log import LogSettings, PredictionLogger
from mlcd.serving.predictor import Predictor, limit_threads, load_verified
from mlcd.serving.protocol import Batch, ContractError, RequestError, infer_response, parse_infer
from mlcd.serving.responses import error_response, json_response, request_error_response
from mlcd.serving.tensors import BINARY_HEADER, encode_outputs
from mlcd.serving.validation import InputSchema, tally_features

__all__ = ["SETTINGS_ENV", "Settings", "app_from_environment", "create_app"]

SETTINGS_ENV = "MLCD_SERVE_SETTINGS"
MAX_BATCH_ROWS = 512
LOG_STATS_SECONDS = 2.0  # how often a worker copies its log writer's counts into the metrics
log = logging.getLogger("mlcd.serve")

# the Open Inference Protocol's server metadata (GET /v2): binary_tensor_data is the one extension served
SERVER_METADATA = {"name": "mlcd", "version": __version__, "extensions": ["binary_tensor_data"]}


@dataclass(frozen=True)
class Settings:
    model_path: str
    config_path: str
    max_body_bytes: int = 1 << 20
    timeout: float = 30.0
    max_batch_wait_ms: float = 2.0
    prediction_log: LogSettings | None = None
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 1000

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls, text: str) -> Settings:
        values = json.loads(text)
        log_settings = values.pop("prediction_log", None)
        return cls(**values, prediction_log=None if log_settings is None else LogSettings(**log_settings))


class _State:
    def __init__(self) -> None:
        self.predictor: Predictor | None = None
        self.sha256 = ""
        self.version = ""
        self.problem: str | None = "the model is still loading"


class Server:
    def __init__(self, settings: Settings, config: Config) -> None:
        self.settings = settings
        self.config = config
        self.model_name = config.model.name
        self.schema = InputSchema.from_contract(config.contract)
        self.state = _State()
        self.metrics = Metrics(self.schema.names)
        self.openapi = orjson.dumps(openapi_document(self.model_name, self.schema))
        self.batcher: Batcher | None = None
        self.logger: PredictionLogger | None = None

    # --- model --------------------------------------------------------------------------------------

    def load(self) -> None:
        path = Path(self.settings.model_path)
        try:
            loaded = load_verified(path, self.config.model.trusted_types)
            predictor = Predictor(loaded.model, self.schema, self.config.evaluate.task)
        except MlcdError as exc:
            self._refuse(exc.one_line())
            return
        except Exception as exc:  # a model that loads but cannot be wrapped is refused the same way
            self._refuse(f"cannot use {path}: {type(exc).__name__}")
            return
        state = self.state
        state.sha256 = loaded.sha256
        state.version = loaded.sha256[:12]
        state.predictor = predictor
        state.problem = None
        self.metrics.model_info.labels(self.model_name, state.version, loaded.sha256).set(1)
        self.metrics.ready.set(1)
        how = "sha256 matches its lineage" if loaded.verified else "no lineage file next to it: sha256 not verified"
        (log.info if loaded.verified else log.warning)(
            "model %s ready: %s (version %s; %s)", self.model_name, path, state.version, how)

    def _refuse(self, reason: str) -> None:
        self.state.problem = f"the model was refused and will not become ready: {reason}"
        self.metrics.ready.set(0)
        log.error("%s; the server stays up and answers 503 until it is restarted with a good model",
                  self.state.problem)

    def _predict(self, columns: dict[str, list[Any]], proba: bool) -> Any:
        predictor = self.state.predictor
        assert predictor is not None
        started = time.perf_counter()
        try:
            return predictor.predict(columns, proba)
        finally:
            self.metrics.inference.observe(time.perf_counter() - started)

    # --- prediction log -----------------------------------------------------------------------------

    def _start_log(self) -> None:
        settings = self.settings.prediction_log
        if settings is None:
            return
        try:
            self.logger = PredictionLogger(settings, self.model_name)
        except Exception as exc:  # checked writable by `mlcd serve` before the workers started; serve regardless
            log.error("prediction log off in worker %d: cannot write to %s: %s", os.getpid(), settings.path, exc)
            return
        self.metrics.logging_on()
        log.info("prediction log: %s (sample rate %g)", settings.path, settings.sample_rate)

    async def _copy_log_stats(self) -> None:
        while self.logger is not None:
            self.metrics.log_stats(self.logger.stats())
            await asyncio.sleep(LOG_STATS_SECONDS)

    async def _stop_log(self) -> None:
        logger = self.logger
        if logger is None:
            return
        await asyncio.get_running_loop().run_in_executor(None, logger.close)
        self.metrics.log_stats(logger.stats())
        self.logger = None

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[dict[str, Any]]:
        self.metrics.ready.set(0)
        limit_threads()
        self.batcher = Batcher(self._predict, max_wait=self.settings.max_batch_wait_ms / 1000,
                               max_rows=MAX_BATCH_ROWS, thread_setup=limit_threads,
                               on_batch=self.metrics.batch_rows.observe)
        self.batcher.start()
        self._start_log()
        copying = asyncio.get_running_loop().create_task(self._copy_log_stats())
        loading = asyncio.get_running_loop().run_in_executor(None, self.load)
        limits = ConnectionLimits(self.settings.header_timeout, self.settings.max_connections, self.metrics)
        try:
            yield {LIMITS_STATE: limits}
        finally:
            await self.batcher.stop()
            loading.cancel()
            copying.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await copying
            await self._stop_log()

    # --- endpoints ----------------------------------------------------------------------------------

    def _check_name(self, request: Request) -> None:
        if request.path_params["name"] != self.model_name:
            raise RequestError(404, f"unknown model: this server serves '{self.model_name}'")

    def _ready(self) -> Predictor:
        if self.state.predictor is None:
            raise RequestError(503, self.state.problem or "the model is not ready")
        return self.state.predictor

    async def live(self, request: Request) -> Response:
        return json_response({"live": True})

    async def server_metadata(self, request: Request) -> Response:
        return json_response(SERVER_METADATA)

    async def ready(self, request: Request) -> Response:
        try:
            self._ready()
        except RequestError as exc:
            return json_response({"ready": False, "error": exc.message}, 503)
        return json_response({"ready": True})

    async def model_ready(self, request: Request) -> Response:
        self._check_name(request)
        try:
            self._ready()
        except RequestError as exc:
            return json_response({"name": self.model_name, "ready": False, "error": exc.message}, 503)
        return json_response({"name": self.model_name, "ready": True})

    async def model_metadata(self, request: Request) -> Response:
        self._check_name(request)
        predictor = self._ready()
        inputs = [{"name": name, "datatype": datatype, "shape": [-1]}
                  for name, datatype in self.schema.datatypes().items()]
        outputs: list[dict[str, Any]] = [{"name": "predict", "datatype": predictor.label_datatype, "shape": [-1]}]
        if predictor.classes is not None:
            outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, len(predictor.classes)],
                            "parameters": {"classes": predictor.classes}})
        return json_response({"name": self.model_name, "versions": [self.state.version], "platform": "sklearn",
                      "inputs": inputs, "outputs": outputs})

    async def _score(self, request: Request, read: Callable[[Request], Awaitable[Batch]],
                     proba: bool) -> tuple[Batch, Scored]:
        self._ready()
        batcher = self.batcher
        assert batcher is not None
        with batcher.arriving():
            try:
                batch = await read(request)
            except ContractError as exc:
                self.metrics.checked(tally_features(self.schema, exc.columns, exc.rows, valid=False), exc.rows)
                raise
        self.metrics.checked(tally_features(self.schema, batch.columns, batch.rows, valid=True), batch.rows)
        wanted = proba and "predict_proba" in batch.outputs
        try:
            scored = await batcher.submit(batch.columns, batch.rows, wanted, self.settings.timeout)
        except asyncio.TimeoutError:  # not the builtin TimeoutError before Python 3.11
            raise RequestError(503, f"the prediction did not finish within {self.settings.timeout:g} s "
                                    "(--timeout): the server is overloaded") from None
        self.metrics.predicted(scored.labels, self._classifies())
        if self.logger is not None and batch.logged:
            classes = self.state.predictor.classes if self.state.predictor is not None else None
            self.logger.log(version=self.state.version, request_id=batch.id, columns=batch.columns, rows=batch.rows,
                            labels=scored.labels, proba=scored.proba, classes=classes)
        return batch, scored

    async def _read_infer(self, request: Request) -> Batch:
        body, binary = await infer_body(request, self.settings.max_body_bytes)
        return parse_infer(body, self.schema, binary)

    async def _read_invocations(self, request: Request) -> Batch:
        kind = media_type(request.headers.get("content-type"))
        check_encoding(request)
        raw = await read_body(request, self.settings.max_body_bytes)
        return parse_csv(raw, self.schema) if kind == CSV else parse_invocations(decode_json(raw), self.schema)

    def _classifies(self) -> bool:
        return self.config.evaluate.task == "classification"

    async def infer(self, request: Request) -> Response:
        self._check_name(request)
        batch, scored = await self._score(request, self._read_infer, proba=True)
        predictor = self._ready()
        answer = infer_response(model_name=self.model_name, model_version=self.state.version, request_id=batch.id,
                                outputs=batch.outputs, labels=scored.labels, label_datatype=predictor.label_datatype,
                                proba=scored.proba, classes=predictor.classes)
        body, header_length = encode_outputs(answer, batch.binary_outputs)
        if header_length is None:
            return Response(body, media_type="application/json")
        return Response(body, media_type="application/octet-stream", headers={BINARY_HEADER: str(header_length)})

    async def invocations(self, request: Request) -> Response:
        _, scored = await self._score(request, self._read_invocations, proba=False)
        return json_response({"predictions": scored.labels})

    async def ping(self, request: Request) -> Response:
        return await self.ready(request)

    async def openapi_json(self, request: Request) -> Response:
        return Response(self.openapi, media_type="application/json")

    async def metrics_text(self, request: Request) -> Response:
        if self.logger is not None:
            self.metrics.log_stats(self.logger.stats())
        return Response(self.metrics.render(), headers={"Content-Type": CONTENT_TYPE})


async def _request_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestError)
    return request_error_response(request.url.path, exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    messages = {404: "not found: the endpoints are listed at /openapi.json",
                405: "method not allowed on this endpoint"}
    message = messages.get(exc.status_code, exc.detail)
    return error_response(request.url.path, exc.status_code, message, headers=dict(exc.headers or {}))


async def _client_gone(request: Request, exc: Exception) -> Response:
    """Nobody reads this answer: RequestGuard counted and logged the disconnect in one line."""
    return Response(status_code=DISCONNECTED)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.error("unexpected %s while answering %s %s", type(exc).__name__, request.method, endpoint_of(request.url.path),
              exc_info=exc)
    return error_response(request.url.path, 500, "internal error: the server log has the details")


def create_app(settings: Settings, config: Config) -> ASGIApp:
    server = Server(settings, config)
    routes = [
        Route("/v2", server.server_metadata, methods=["GET"]),
        Route("/v2/health/live", server.live, methods=["GET"]),
        Route("/v2/health/ready", server.ready, methods=["GET"]),
        Route("/v2/models/{name}", server.model_metadata, methods=["GET"]),
        Route("/v2/models/{name}/ready", server.model_ready, methods=["GET"]),
        Route("/v2/models/{name}/infer", server.infer, methods=["POST"]),
        Route("/invocations", server.invocations, methods=["POST"]),
        Route("/ping", server.ping, methods=["GET"]),
        Route("/openapi.json", server.openapi_json, methods=["GET"]),
        Route("/metrics", server.metrics_text, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=server.lifespan, exception_handlers={
        RequestError: _request_error, HTTPException: _http_error, ClientDisconnect: _client_gone,
        Exception: _server_error})
    return RequestGuard(app, server.metrics, settings.body_timeout)


def app_from_environment() -> ASGIApp:
    """uvicorn's app factory: each worker process builds its app from the settings ``mlcd serve`` exported."""
    settings = Settings.from_env(os.environ[SETTINGS_ENV])
    return create_app(settings, load_config(settings.config_path))

