"""The prediction log: one JSON object per scored row, appended to rotated files by a background thread.

A row is flat: ``ts`` (ISO 8601, UTC), ``model``, ``model_version``, ``request_id``, one key per feature,
``prediction`` and, for classifiers, ``proba_<class>``. Files are named
``predictions-YYYYMMDD-HHMMSS-<n>.jsonl`` (``.jsonl.gz`` when compressed) after the moment they were
opened; ``n`` tells apart files opened in the same second.

The request path only calls :meth:`PredictionLogWriter.log`, which never blocks and never raises: a full
queue drops the row and counts it. Everything slow (serialising, compressing, writing, rotating) happens
on the writer's own thread. Create the writer in the process that serves (after a fork), one per process.

The destination is a local directory, or an fsspec URL (``s3://bucket/logs``, ``memory://logs``) written
through: each file is uploaded as the object store's client buffers it, and completed when it rotates
or the writer closes. Local directories need no fsspec (a serving image does not carry it).
"""

from __future__ import annotations

import gzip
import logging
import queue
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import orjson

__all__ = [
    "FILE_NAME",
    "PROBA_PREFIX",
    "RESERVED",
    "PredictionLogWriter",
    "WriterStats",
    "format_ts",
    "log_file_name",
    "make_row",
]

FILE_NAME = re.compile(r"^predictions-(\d{8})-(\d{6})-(\d+)\.jsonl(\.gz)?$")
RESERVED = ("ts", "model", "model_version", "request_id", "prediction")
PROBA_PREFIX = "proba_"

_log = logging.getLogger("mlcd.monitoring")


def format_ts(moment: datetime) -> str:
    """``2024-05-01T12:00:00.123456Z``: microseconds, always UTC."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def log_file_name(opened: datetime, n: int, compress: bool = False) -> str:
    stamp = opened.astimezone(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"predictions-{stamp}-{n}.jsonl" + (".gz" if compress else "")


def make_row(
    *,
    model: str,
    model_version: str,
    request_id: str,
    features: Mapping[str, Any],
    prediction: Any,
    probabilities: Mapping[str, float] | None = None,
    ts: datetime | None = None,
) -> dict[str, Any]:
    """One log row. Feature names must not be one of :data:`RESERVED` nor start with ``proba_``."""
    row: dict[str, Any] = {
        "ts": format_ts(ts or datetime.now(timezone.utc)),
        "model": model,
        "model_version": model_version,
        "request_id": request_id,
    }
    row.update(features)
    row["prediction"] = prediction
    if probabilities:
        for label, value in probabilities.items():
            row[f"{PROBA_PREFIX}{label}"] = value
    return row


@dataclass(frozen=True)
class WriterStats:
    """Counters since the writer started: every row given to :meth:`PredictionLogWriter.log` is exactly one of
    sampled out, dropped (queue full or writer closed), failed (could not be serialised or written),
    written, or still queued."""

    submitted: int
    sampled_out: int
    dropped: int
    failed: int
    written: int
    files: int

    @property
    def queued(self) -> int:
        return self.submitted - self.sampled_out - self.dropped - self.failed - self.written


class PredictionLogWriter:
    """Appends rows to ``directory`` from a background thread; bounded, non-blocking, thread-safe.

    >>> with PredictionLogWriter("logs", sample_rate=0.1) as writer:  # doctest: +SKIP
    ...     writer.log(make_row(model="m", model_version="ab12", request_id="r1",
    ...                         features={"x": 1.5}, prediction="yes"))
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        max_queue: int = 10_000,
        batch_rows: int = 1_000,
        rotate_bytes: int = 64 << 20,
        rotate_seconds: float = 3600.0,
        sample_rate: float = 1.0,
        compress: bool = False,
        poll_seconds: float = 0.5,
        linger_seconds: float = 0.1,
        clock: Callable[[], float] = time.time,
        seed: int | None = None,
    ) -> None:
        if not 0.0 <= sample_rate <= 1.0:
            raise ValueError(f"sample_rate must be between 0 and 1, not {sample_rate}")
        if max_queue < 1 or batch_rows < 1 or rotate_bytes < 1 or rotate_seconds <= 0:
            raise ValueError("max_queue, batch_rows, rotate_bytes and rotate_seconds must be positive")
        self.directory = str(directory)
        self._fs, self._root = _destination(self.directory)
        self.batch_rows = batch_rows
        self.rotate_bytes = rotate_bytes
        self.rotate_seconds = rotate_seconds
        self.sample_rate = sample_rate
        self.compress = compress
        self.poll_seconds = poll_seconds
        self.linger_seconds = linger_seconds
        self._clock = clock
        self._random = random.Random(seed)
        self._queue: queue.Queue[Mapping[str, Any]] = queue.Queue(max_queue)
        self._lock = threading.Lock()
        self._counts = {"submitted": 0, "sampled_out": 0, "dropped": 0, "failed": 0, "written": 0, "files": 0}
        self._file: IO[bytes] | None = None
        self._file_opened = 0.0
        self._file_bytes = 0
        self._sequence = 0
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mlcd-prediction-log", daemon=True)
        self._thread.start()

    # --- the request path ---------------------------------------------------------------------------------

    def log(self, row: Mapping[str, Any]) -> bool:
        """Queue a row; False when it was sampled out or dropped. Never blocks, never raises."""
        return self.log_rows(1, lambda _: row) == 1

    def log_rows(self, count: int, build: Callable[[int], Mapping[str, Any]]) -> int:
        """Submit ``count`` rows, building row ``i`` with ``build(i)`` only when it is sampled in; returns how
        many were queued. Never blocks, never raises: a row ``build`` fails on is counted as failed."""
        queued = sampled_out = dropped = failed = 0
        closed = self._closed.is_set()
        rate = self.sample_rate
        for index in range(count):
            if closed:
                dropped += 1
                continue
            if rate < 1.0 and self._random.random() >= rate:
                sampled_out += 1
                continue
            try:
                row = build(index)
            except Exception:  # a bug in the caller's row must never fail its request
                failed += 1
                continue
            try:
                self._queue.put_nowait(row)
                queued += 1
            except queue.Full:
                dropped += 1
        with self._lock:
            counts = self._counts
            counts["submitted"] += count
            counts["sampled_out"] += sampled_out
            counts["dropped"] += dropped
            counts["failed"] += failed
        return queued

    def stats(self) -> WriterStats:
        with self._lock:
            return WriterStats(**self._counts)

    def close(self, timeout: float = 10.0) -> None:
        """Stop taking rows, write what is queued (for at most ``timeout`` seconds) and close the file."""
        self._closed.set()
        self._thread.join(timeout)

    def __enter__(self) -> PredictionLogWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    # --- the writer thread ------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch:
                self._write(batch)
                if len(batch) < self.batch_rows:
                    # let rows gather: one wake-up and one write per linger, not per row (a thread woken for
                    # every row costs a serving process more than writing the row does)
                    self._closed.wait(self.linger_seconds)
            if self._file is not None and self._clock() - self._file_opened >= self.rotate_seconds:
                self._close_file()
            if self._closed.is_set() and self._queue.empty():
                break
        self._close_file()

    def _take(self) -> list[Mapping[str, Any]]:
        try:
            batch = [self._queue.get(timeout=self.poll_seconds)]
        except queue.Empty:
            return []
        while len(batch) < self.batch_rows:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _write(self, batch: list[Mapping[str, Any]]) -> None:
        lines = []
        for row in batch:
            line = _serialise(row)
            if line is None:
                self._count("failed", 1)
            else:
                lines.append(line)
        if not lines:
            return
        payload = b"".join(lines)
        if self.compress:
            payload = gzip.compress(payload)  # one gzip member per batch: the file is readable while it grows
        try:
            handle = self._current_file()
            handle.write(payload)
            handle.flush()
        except OSError as exc:
            _log.warning("prediction log: %d rows not written to %s: %s", len(lines), self.directory, exc)
            self._count("failed", len(lines))
            self._close_file()
            return
        self._file_bytes += len(payload)
        self._count("written", len(lines))
        if self._file_bytes >= self.rotate_bytes:
            self._close_file()

    def _current_file(self) -> IO[bytes]:
        if self._file is not None:
            return self._file
        now = self._clock()
        opened = datetime.fromtimestamp(now, timezone.utc)
        while True:
            name = log_file_name(opened, self._sequence, self.compress)
            self._sequence += 1
            try:
                self._file = self._open_new(name)
                break
            except FileExistsError:  # another process, or an earlier writer, opened it in the same second
                continue
        self._file_opened = now
        self._file_bytes = 0
        self._count("files", 1)
        return self._file

    def _open_new(self, name: str) -> IO[bytes]:
        if self._fs is None:
            return (Path(self._root) / name).open("xb")
        path = f"{self._root}/{name}"
        if self._fs.exists(path):  # object stores have no exclusive create: the check is the best they allow
            raise FileExistsError(path)
        handle: IO[bytes] = self._fs.open(path, "wb")
        return handle

    def _close_file(self) -> None:
        if self._file is None:
            return
        try:
            self._file.close()
        except OSError as exc:
            _log.warning("prediction log: cannot close %s: %s", self._file.name, exc)
        self._file = None

    def _count(self, name: str, amount: int) -> None:
        with self._lock:
            self._counts[name] += amount


def _serialise(row: Mapping[str, Any]) -> bytes | None:
    """One JSON line; non-finite numbers become null (JSON has no NaN); None if the row cannot be serialised.

    orjson writes NumPy scalars and turns NaN and infinities into null itself; datetimes go through
    :func:`_plain` so they are written as ``ts`` is."""
    try:
        return orjson.dumps(row, default=_plain, option=_ORJSON) + b"\n"
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return None


_ORJSON = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_PASSTHROUGH_DATETIME


def _destination(location: str) -> tuple[Any, str]:
    """(None, directory) for a local directory, made if missing; (filesystem, path) for an fsspec URL."""
    if "://" not in location:
        Path(location).mkdir(parents=True, exist_ok=True)
        return None, location
    from fsspec.core import url_to_fs

    fs, path = url_to_fs(location)
    fs.makedirs(path, exist_ok=True)
    return fs, str(path).rstrip("/")


def _scalar(value: Any) -> Any:
    """A NumPy scalar as the Python number it holds; anything else as it is."""
    if getattr(value, "ndim", None) == 0 and callable(getattr(value, "item", None)):
        return value.item()
    return value


def _plain(value: Any) -> Any:
    """The values a server's rows hold that JSON does not know: NumPy scalars and datetimes."""
    if isinstance(value, datetime):
        return format_ts(value)
    plain = _scalar(value)
    if plain is value:
        raise TypeError(f"cannot write {type(value).__name__} to the prediction log")
    return plain
