"""The server's prediction log: where it goes (flag > environment > mlcd.yaml > off) and the rows it gets.

Each worker process makes its own :class:`PredictionLogger` when it starts (after uvicorn forks it), and
closes it at shutdown, which writes what is still queued. A request hands over its validated columns and
its predictions; rows are built only for the rows sampled in, and serialised and written on the writer's
thread (see :mod:`mlcd.monitoring.log_writer`).
"""

from __future__ import annotations

import math
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mlcd.config import Config, flag_or_env
from mlcd.errors import UsageError
from mlcd.monitoring.log_writer import PROBA_PREFIX, PredictionLogWriter, WriterStats, format_ts

__all__ = ["ENV_PATH", "ENV_ROTATE_MB", "ENV_ROTATE_MINUTES", "ENV_SAMPLE_RATE", "OFF", "LogSettings",
           "PredictionLogger", "check_writable", "resolve_log_settings"]

ENV_PATH = "MLCD_PREDICTION_LOG"
ENV_SAMPLE_RATE = "MLCD_LOG_SAMPLE_RATE"
ENV_ROTATE_MB = "MLCD_LOG_ROTATE_MB"
ENV_ROTATE_MINUTES = "MLCD_LOG_ROTATE_MINUTES"
OFF = "off"  # --prediction-log off / MLCD_PREDICTION_LOG=off: no log, whatever mlcd.yaml says


@dataclass(frozen=True)
class LogSettings:
    path: str
    sample_rate: float = 1.0
    rotate_bytes: int = 64 << 20
    rotate_seconds: float = 3600.0
    compress: bool = False
    max_queue: int = 10_000


def _is_url(path: str) -> bool:
    return "://" in path


def _number(text: str, source: str, low: float, high: float, *, low_open: bool, fix: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    inside = (value > low if low_open else value >= low) and value <= high
    if not inside:
        bound = f"above {low:g}" if low_open else f"from {low:g}"
        upto = "" if math.isinf(high) else f" to {high:g}"
        raise UsageError(f"{source} is {text!r}: it must be a number {bound}{upto}", fix=fix)
    return value


def _positive(chosen: tuple[str, str] | None, configured: float, example: str) -> float:
    if chosen is None:
        return configured
    return _number(chosen[0], chosen[1], 0, math.inf, low_open=True, fix=f"e.g. {example}")


def resolve_log_settings(config: Config, env: Mapping[str, str], *, path: str | None = None,
                         sample_rate: float | None = None, rotate_mb: float | None = None,
                         rotate_minutes: float | None = None) -> LogSettings | None:
    """Each setting from its flag (the keyword arguments), else its environment variable, else
    ``monitoring.prediction_log`` in mlcd.yaml. None when no path is set, or it is ``off``."""
    configured = config.monitoring.prediction_log
    chosen = flag_or_env(path, "--prediction-log", env, ENV_PATH)
    if chosen is not None:
        location = chosen[0]
        if location.lower() == OFF:
            return None
        if not _is_url(location):
            location = str(Path(location).absolute())
    elif configured.path is not None:
        location = configured.path if _is_url(configured.path) else str(config.resolve(configured.path))
    else:
        return None
    rate = configured.sample_rate
    picked = flag_or_env(sample_rate, "--log-sample-rate", env, ENV_SAMPLE_RATE)
    if picked is not None:
        rate = _number(picked[0], picked[1], 0, 1, low_open=False,
                       fix=f"e.g. {ENV_SAMPLE_RATE}=0.1 logs one row in ten")
    megabytes = _positive(flag_or_env(rotate_mb, "--log-rotate-mb", env, ENV_ROTATE_MB), configured.rotate_mb,
                          f"{ENV_ROTATE_MB}=64")
    minutes = _positive(flag_or_env(rotate_minutes, "--log-rotate-minutes", env, ENV_ROTATE_MINUTES),
                        configured.rotate_minutes, f"{ENV_ROTATE_MINUTES}=60")
    return LogSettings(path=location, sample_rate=rate, rotate_bytes=max(1, int(megabytes * (1 << 20))),
                       rotate_seconds=minutes * 60, compress=configured.compress, max_queue=configured.max_queue)


def check_writable(location: str) -> None:
    """Make the log directory if needed and prove a file can be created in it; UsageError naming the fix."""
    probe = f".mlcd-write-test-{uuid.uuid4().hex[:8]}"
    if not _is_url(location):
        directory = Path(location)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            (directory / probe).touch(exist_ok=False)
            (directory / probe).unlink()
        except OSError as exc:
            user = f"uid {os.getuid()}" if hasattr(os, "getuid") else "this user"
            raise UsageError(
                f"the prediction log directory {location} is not writable by {user}: {exc.strerror or exc}",
                fix=f"make it writable (in a container: `chown {user.removeprefix('uid ')} DIR` on the host "
                    f"directory mounted there, or `docker run --user $(id -u)`), or choose another with {ENV_PATH}"
                    " / --prediction-log") from None
        return
    try:
        from fsspec.core import url_to_fs

        fs, root = url_to_fs(location)
        fs.makedirs(root, exist_ok=True)
        target = f"{str(root).rstrip('/')}/{probe}"
        with fs.open(target, "wb") as handle:
            handle.write(b"")
        fs.rm(target)
    except ImportError as exc:
        raise UsageError(f"the prediction log {location} needs fsspec and its backend for the URL ({exc.name})",
                         fix="install them next to mlcd (package.requirements in mlcd.yaml, e.g. fsspec and "
                             "s3fs), or log to a directory and ship the files") from None
    except Exception as exc:  # every backend raises its own errors: credentials, buckets, permissions
        raise UsageError(f"cannot write the prediction log to {location}: {type(exc).__name__}: {exc}",
                         fix="check the URL, the credentials the server has, and that the bucket exists") from None


class PredictionLogger:
    """One worker's prediction log: builds each sampled row from a scored request and hands it to the writer."""

    def __init__(self, settings: LogSettings, model: str) -> None:
        self.model = model
        self.writer = PredictionLogWriter(settings.path, max_queue=settings.max_queue,
                                          rotate_bytes=settings.rotate_bytes, rotate_seconds=settings.rotate_seconds,
                                          sample_rate=settings.sample_rate, compress=settings.compress)
        self._prefix = uuid.uuid4().hex[:8]
        self._requests = 0
        self._second = -1
        self._stamp = ""
        self._keys: dict[tuple[Any, ...], list[str]] = {}

    def _ts(self) -> str:
        """:func:`format_ts` of now; the date and time are formatted once a second, the microseconds each call."""
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = format_ts(datetime.fromtimestamp(second, timezone.utc))[:-7]  # up to the dot
        return f"{self._stamp}{int((now - second) * 1e6):06d}Z"

    def _proba_keys(self, classes: Sequence[Any]) -> list[str]:
        key = tuple(classes)
        if key not in self._keys:
            self._keys[key] = [f"{PROBA_PREFIX}{c}" for c in classes]
        return self._keys[key]

    def log(self, *, version: str, request_id: str | None, columns: Mapping[str, Sequence[Any]], rows: int,
            labels: Sequence[Any], proba: Any | None = None, classes: Sequence[Any] | None = None) -> int:
        """Submit a scored request's rows (``proba`` an (n, k) array or None); returns how many were queued."""
        self._requests += 1
        head = {"ts": self._ts(), "model": self.model, "model_version": version,
                "request_id": request_id or f"{self._prefix}-{self._requests}"}
        items = list(columns.items())
        keys = self._proba_keys(classes) if proba is not None and classes is not None else []
        probabilities = proba.tolist() if keys and proba is not None else None

        def build(index: int) -> dict[str, Any]:
            row = head.copy()
            for name, values in items:
                row[name] = values[index]
            row["prediction"] = labels[index]
            if probabilities is not None:
                row.update(zip(keys, probabilities[index], strict=True))
            return row

        return self.writer.log_rows(rows, build)

    def stats(self) -> WriterStats:
        return self.writer.stats()

    def close(self, timeout: float = 8.0) -> None:
        self.writer.close(timeout)
