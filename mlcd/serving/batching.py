"""Adaptive micro-batching: requests that arrive together are scored by one ``predict`` call.

A model's fixed cost per call (input checks, pipeline steps, a forest's trees) is most of the cost of
scoring a few rows, so 16 one-row requests scored together cost about what one does. The batcher:

1. takes the first waiting request;
2. takes every other request already waiting, and while more requests are on their way (their bodies
   being read or checked), waits for them at most ``max_wait`` seconds, up to ``max_rows`` rows;
3. runs one ``predict`` on the concatenated columns in a worker thread, so the event loop keeps reading
   and checking the next requests meanwhile, and hands each request its slice of the result.

With one client there is never anyone on the way, so a lone request is scored at once: batching adds
no latency at concurrency 1. If a batch fails, its requests are scored one by one, so one request
that breaks the model fails alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Batcher", "PredictFn", "Scored"]

Array = np.ndarray[Any, Any]
PredictFn = Callable[[dict[str, list[Any]], bool], tuple[Array, Array | None]]
log = logging.getLogger("mlcd.serve")


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
        """Mark a request as on its way to :meth:`submit`, so a forming batch waits for it."""
        self._arriving += 1
        try:
            yield
        finally:
            self._arriving -= 1
            self._arrived.set()

    async def submit(self, columns: dict[str, list[Any]], rows: int, proba: bool, timeout: float) -> Scored:
        """Score the rows; raises asyncio.TimeoutError after ``timeout`` seconds of queueing and scoring."""
        future: asyncio.Future[Scored] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(columns, rows, proba, future))
        self._arrived.set()
        return await asyncio.wait_for(future, timeout)

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
            if self._arriving == 0 or remaining <= 0:
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
