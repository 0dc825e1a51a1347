"""Adaptive micro-batching: requests that arrive together are scored by one ``predict`` call.

A model's fixed cost per call (input checks, pipeline steps, a forest's trees) is most of the cost of
scoring a few rows, so 16 one-row requests scored together cost about what one does. The batcher:

1. takes the first waiting request;
2. takes every other request already waiting, and waits at most ``max_wait`` seconds (up to
   ``max_rows`` rows) for more while requests are on their way (their bodies being read or checked),
   or while the batch holds fewer requests than were in flight at the busiest moment of the last half
   second: the clients just answered come back with their next request within a millisecond or so,
   and one batch for all of them beats two half batches taking turns;
3. runs one ``predict`` on the concatenated columns in a worker thread, so the event loop keeps reading
   and checking the next requests meanwhile, and hands each request its slice of the result.

With one client there is never anyone to wait for, so a lone request is scored at once: batching adds
no latency at concurrency 1. If a batch fails, its requests are scored one by one, so one request
that breaks the model fails alone.

Measured (100-tree forest, 16 clients, two rounds): waiting for returning clients raised throughput
from 1,014 and 984 to 1,441 and 1,613 requests/s, and halved the median latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Batcher", "PredictFn", "Scored"]

Array = np.ndarray[Any, Any]
PredictFn = Callable[[dict[str, list[Any]], bool], tuple[Array, Array | None]]
log = logging.getLogger("mlcd.serve")
PEAK_MEMORY = 0.5  # seconds a peak of concurrent requests is remembered


@dataclass(frozen=True)
class Scored:
    labels: list[Any]
    proba: Array | None
    batch_rows: int


@dataclass
class _Job:
    columns: dict[str, list[Any]]
    rows: int
    proba: bool
    future: asyncio.Future[Scored] = field(repr=False)


class Batcher:
    def __init__(self, predict: PredictFn, *, max_wait: float, max_rows: int,
                 thread_setup: Callable[[], None] | None = None,
                 on_batch: Callable[[int], None] | None = None) -> None:
        self._predict = predict
        self._on_batch = on_batch
        self.max_wait = max_wait
        self.max_rows = max_rows
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._arrived = asyncio.Event()
        self._arriving = 0
        self._in_flight = 0  # requests between arriving() and the end of submit()
        self._peak = 0  # the most requests in flight lately: clients that will come back
        self._peak_at = 0.0
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="mlcd-predict", initializer=thread_setup)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._executor.shutdown(wait=False, cancel_futures=True)

    @contextlib.contextmanager
    def arriving(self) -> Iterator[None]:
        """Mark a request as on its way to :meth:`submit`, so a forming batch waits for it.

        The request counts as in flight from here until :meth:`submit` returns (or until this block
        raises, when it never gets there).
        """
        self._arriving += 1
        self._in_flight += 1
        now = time.monotonic()
        if self._in_flight >= self._peak or now - self._peak_at > PEAK_MEMORY:
            self._peak, self._peak_at = self._in_flight, now
        try:
            yield
        except BaseException:
            self._in_flight -= 1
            raise
        finally:
            self._arriving -= 1
            self._arrived.set()

    async def submit(self, columns: dict[str, list[Any]], rows: int, proba: bool, timeout: float) -> Scored:
        """Score the rows; raises asyncio.TimeoutError after ``timeout`` seconds of queueing and scoring."""
        future: asyncio.Future[Scored] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(columns, rows, proba, future))
        self._arrived.set()
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._in_flight -= 1

    async def _collect(self) -> list[_Job]:
        jobs = [await self._queue.get()]
        rows = jobs[0].rows
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait
        while rows < self.max_rows:
            if not self._queue.empty():
                job = self._queue.get_nowait()
                jobs.append(job)
                rows += job.rows
                continue
            remaining = deadline - loop.time()
            # wait for requests being read, and for clients of the last batch coming back with their next
            expected = self._arriving > 0 or len(jobs) < self._peak
            if not expected or remaining <= 0:
                break
            self._arrived.clear()
            with contextlib.suppress(asyncio.TimeoutError):  # not the builtin before Python 3.11
                await asyncio.wait_for(self._arrived.wait(), remaining)
        return [job for job in jobs if not job.future.done()]  # a timed-out request is dropped

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = await self._collect()
            if not jobs:
                continue
            try:
                outcomes = await loop.run_in_executor(self._executor, self._score, jobs)
            except Exception as exc:  # _score reports per job; this only keeps the loop alive
                log.exception("batch scoring failed")
                outcomes = [(job, exc) for job in jobs]
            if self._on_batch is not None:
                self._on_batch(sum(job.rows for job in jobs))
            for job, outcome in outcomes:
                if job.future.done():
                    continue
                if isinstance(outcome, BaseException):
                    job.future.set_exception(outcome)
                else:
                    job.future.set_result(outcome)

    def _score(self, jobs: list[_Job]) -> list[tuple[_Job, Scored | Exception]]:
        proba = any(job.proba for job in jobs)
        if len(jobs) == 1:
            columns = jobs[0].columns
        else:
            columns = {name: [v for job in jobs for v in job.columns[name]] for name in jobs[0].columns}
        rows = sum(job.rows for job in jobs)
        try:
            labels, probabilities = self._predict(columns, proba)
        except Exception as exc:
            if len(jobs) == 1:
                return [(jobs[0], exc)]
            # find the request that breaks the model; the others still get their answers
            return [outcome for job in jobs for outcome in self._score([job])]
        label_list = labels.tolist()
        outcomes: list[tuple[_Job, Scored | Exception]] = []
        start = 0
        for job in jobs:
            end = start + job.rows
            part = None if probabilities is None else probabilities[start:end]
            outcomes.append((job, Scored(label_list[start:end], part, rows)))
            start = end
        return outcomes
