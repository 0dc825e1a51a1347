"""Prometheus metrics of the server, rendered in the text exposition format at ``GET /metrics``.

prometheus_client costs about 2.5 µs per request for a counter and a histogram (measured; a request
costs hundreds of µs) and brings the exposition format and multi-process aggregation: with
``--workers N`` every worker writes to files under ``PROMETHEUS_MULTIPROC_DIR``, and each ``/metrics``
answer adds up all workers.

The process figures (``process_cpu_seconds_total``, ``process_resident_memory_bytes``,
``process_open_fds``) are read from ``/proc`` when ``/metrics`` is rendered and added up over the live
workers: the worker answering and its siblings (same parent) that have metric files. prometheus_client's
own process collector would report the answering worker alone. A worker that exits leaves the sum, so
the CPU counter can go down then; ``rate()`` treats that as a counter reset. Off Linux they are absent.
"""

from __future__ import annotations

import functools
import os
from collections import Counter as Tally
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector

from mlcd.monitoring.log_writer import WriterStats
from mlcd.serving.validation import FeatureTally

__all__ = ["CONTENT_TYPE", "LATENCY_BUCKETS", "LOG_OUTCOMES", "Metrics", "endpoint_of", "feature_rates",
           "process_totals", "worker_pids"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
_MULTIPROCESS = "PROMETHEUS_MULTIPROC_DIR"
LOG_OUTCOMES = ("written", "sampled_out", "dropped", "failed")
_RATES = (("mlcd_feature_nulls", "mlcd_feature_null_rate",
           "Share of rows with a missing value in this feature, since the server started (all workers)"),
          ("mlcd_feature_out_of_contract", "mlcd_feature_out_of_contract_rate",
           "Share of rows whose value in this feature breaks the data contract, since the server started "
           "(all workers)"))


def endpoint_of(path: str) -> str:
    """The route a path belongs to, as a label of bounded cardinality (never the raw path)."""
    if path.startswith("/v2/models/"):
        rest = path[len("/v2/models/"):]
        if "/" not in rest:
            return "/v2/models/{name}"
        suffix = rest.split("/", 1)[1]
        if suffix in ("ready", "infer"):
            return f"/v2/models/{{name}}/{suffix}"
        return "other"
    if path in ("/v2/health/live", "/v2/health/ready", "/v2", "/invocations", "/ping", "/openapi.json", "/metrics"):
        return path
    return "other"


def feature_rates(families: Iterable[Metric]) -> list[GaugeMetricFamily]:
    """Per-feature null and out-of-contract rates: each feature's counter over ``mlcd_input_rows_total``.

    Derived when ``/metrics`` is rendered, from the counters as collected (added up over the workers), so a
    rate is never the average of the workers' rates. Rates over a recent window are PromQL's business:
    ``rate(mlcd_feature_nulls_total[15m]) / ignoring(feature) group_left rate(mlcd_input_rows_total[15m])``.
    """
    totals: dict[str, dict[str, float]] = {}
    rows = 0.0
    for family in families:
        for sample in family.samples:
            if sample.name == "mlcd_input_rows_total":
                rows += sample.value
            elif sample.name.endswith("_total") and "feature" in sample.labels:
                by_feature = totals.setdefault(sample.name[:-len("_total")], {})
                feature = sample.labels["feature"]
                by_feature[feature] = by_feature.get(feature, 0.0) + sample.value
    gauges = []
    for counter, name, help_text in _RATES:
        gauge = GaugeMetricFamily(name, help_text, labels=["feature"])
        for feature, count in totals.get(counter, {}).items():
            gauge.add_metric([feature], count / rows if rows else 0.0)
        gauges.append(gauge)
    return gauges


_PROCESS_SUMS = {"process_cpu_seconds_total": "cpu", "process_resident_memory_bytes": "rss",
                 "process_open_fds": "fds"}


def worker_pids(multiprocess_dir: str | None, proc: str = "/proc") -> list[int]:
    """This process and, with several workers, its live siblings that write metric files (a file name ends
    in ``_<pid>.db``); a process of a dead worker's pid that is not our sibling is left out."""
    me = os.getpid()
    if not multiprocess_dir:
        return [me]
    parent = os.getppid()
    pids = {me}
    try:
        names = os.listdir(multiprocess_dir)
    except OSError:
        return [me]
    for name in names:
        stem = name.removesuffix(".db")
        pid_text = stem.rsplit("_", 1)[-1]
        if stem != name and pid_text.isdigit() and int(pid_text) != me and _parent_of(int(pid_text), proc) == parent:
            pids.add(int(pid_text))
    return sorted(pids)


def _parent_of(pid: int, proc: str) -> int | None:
    try:
        with open(os.path.join(proc, str(pid), "stat"), "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        return int(fields[1])  # after the name: state, ppid
    except (OSError, IndexError, ValueError):
        return None


def process_totals(pids: Iterable[int], proc: str = "/proc") -> list[Metric]:
    """CPU seconds, resident memory and open file descriptors added up over ``pids`` (empty off Linux)."""
    totals = {"cpu": 0.0, "rss": 0.0, "fds": 0.0}
    read = 0
    for pid in pids:
        collector = ProcessCollector(namespace="", pid=functools.partial(int, pid), proc=proc, registry=None)
        samples = [sample for family in collector.collect() for sample in family.samples]
        if not any(sample.name == "process_cpu_seconds_total" for sample in samples):
            continue  # gone since it was listed, or not Linux
        read += 1
        for sample in samples:
            if sample.name in _PROCESS_SUMS:
                totals[_PROCESS_SUMS[sample.name]] += sample.value
    if not read:
        return []
    cpu = CounterMetricFamily("process_cpu_seconds", "User and system CPU time of the server's workers, "
                              "in seconds (all live workers)", value=totals["cpu"])
    rss = GaugeMetricFamily("process_resident_memory_bytes", "Resident memory of the server's workers, in bytes "
                            "(all live workers)", value=totals["rss"])
    fds = GaugeMetricFamily("process_open_fds", "Open file descriptors of the server's workers (all live workers)",
                            value=totals["fds"])
    workers = GaugeMetricFamily("mlcd_worker_processes", "Live worker processes the process figures add up",
                                value=read)
    return [cpu, rss, fds, workers]


class _Processes:
    """A collector: the process figures of the live workers, added up."""

    def __init__(self, multiprocess_dir: str | None) -> None:
        self.multiprocess_dir = multiprocess_dir

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        yield from process_totals(worker_pids(self.multiprocess_dir))


class _WithRates:
    """A collector: everything ``source`` collects, and the rates derived from it."""

    def __init__(self, source: Any) -> None:
        self.source = source

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        families = list(self.source.collect())
        yield from families
        yield from feature_rates(families)


class Metrics:
    def __init__(self, features: Sequence[str] = ()) -> None:
        self.multiprocess = bool(os.environ.get(_MULTIPROCESS))
        self.registry = CollectorRegistry(auto_describe=True)
        registry = None if self.multiprocess else self.registry
        self.requests = Counter("mlcd_requests", "HTTP requests by endpoint and status code",
                                ["endpoint", "status"], registry=registry)
        self.latency = Histogram("mlcd_request_duration_seconds", "Time from request to response, by endpoint",
                                 ["endpoint"], buckets=LATENCY_BUCKETS, registry=registry)
        self.predictions = Counter("mlcd_predictions", "Predicted rows by predicted class (classifiers)",
                                   ["class"], registry=registry)
        self.rows = Counter("mlcd_predicted_rows", "Rows scored", registry=registry)
        self.batch_rows = Histogram("mlcd_batch_rows", "Rows per predict call (micro-batches)",
                                    buckets=BATCH_BUCKETS, registry=registry)
        self.model_info = Gauge("mlcd_model_info", "The model served (1 while it is loaded)",
                                ["name", "version", "sha256"], registry=registry, multiprocess_mode="max")
        self.ready = Gauge("mlcd_model_ready", "1 when the model is loaded and verified, else 0",
                           registry=registry, multiprocess_mode="min")
        self.inference = Histogram("mlcd_inference_duration_seconds",
                                   "Time of one predict call on a micro-batch (the model alone, no HTTP)",
                                   buckets=LATENCY_BUCKETS, registry=registry)
        self.input_rows = Counter("mlcd_input_rows", "Rows checked against the data contract, accepted or refused",
                                  registry=registry)
        self.nulls = Counter("mlcd_feature_nulls", "Missing values, by feature", ["feature"], registry=registry)
        self.out_of_contract = Counter("mlcd_feature_out_of_contract",
                                       "Values that break the data contract (refused with 422), by feature",
                                       ["feature"], registry=registry)
        self.log_rows = Counter("mlcd_prediction_log_rows", "Rows given to the prediction log, by outcome",
                                ["outcome"], registry=registry)
        self.log_files = Counter("mlcd_prediction_log_files", "Prediction log files opened (one per rotation)",
                                 registry=registry)
        self.log_queued = Gauge("mlcd_prediction_log_queued", "Rows waiting for the prediction log's writer",
                                registry=registry, multiprocess_mode="livesum")
        self.client_disconnects = Counter("mlcd_client_disconnects",
                                          "Requests whose client went away before sending the whole body",
                                          registry=registry)
        self.timeouts = Counter("mlcd_timeouts", "Connections closed because a request's headers (phase=headers, "
                                "--header-timeout) or body (phase=body, --body-timeout) did not arrive in time",
                                ["phase"], registry=registry)
        self.connections_refused = Counter("mlcd_connections_refused",
                                           "Requests answered 503 because the worker held --max-connections",
                                           registry=registry)
        self.open_connections = Gauge("mlcd_open_connections", "Open client connections", registry=registry,
                                      multiprocess_mode="livesum")
        for phase in ("headers", "body"):
            self.timeouts.labels(phase)
        for feature in features:  # every series exists from the start, so an alert rule sees zeros, not gaps
            self.nulls.labels(feature)
            self.out_of_contract.labels(feature)
        self._logged = WriterStats(0, 0, 0, 0, 0, 0)
        self._render = CollectorRegistry(auto_describe=False)
        if not self.multiprocess:
            self._render.register(_WithRates(self.registry))
            self._render.register(_Processes(None))

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)

    def predicted(self, labels: Iterable[Any], classify: bool) -> None:
        counts = Tally(labels)
        self.rows.inc(sum(counts.values()))
        if classify:
            for label, count in counts.items():
                self.predictions.labels(str(label)).inc(count)

    def checked(self, tallies: Iterable[FeatureTally], rows: int) -> None:
        """Count a request's rows and, per feature, its nulls and out-of-contract values."""
        self.input_rows.inc(rows)
        for tally in tallies:
            if tally.nulls:
                self.nulls.labels(tally.feature).inc(tally.nulls)
            if tally.out_of_contract:
                self.out_of_contract.labels(tally.feature).inc(tally.out_of_contract)

    def logging_on(self) -> None:
        for outcome in LOG_OUTCOMES:
            self.log_rows.labels(outcome)

    def log_stats(self, stats: WriterStats) -> None:
        """Bring the prediction log's counters up to the writer's ``stats`` (call from one thread only)."""
        last = self._logged
        for outcome in LOG_OUTCOMES:
            added = getattr(stats, outcome) - getattr(last, outcome)
            if added > 0:
                self.log_rows.labels(outcome).inc(added)
        if stats.files > last.files:
            self.log_files.inc(stats.files - last.files)
        self.log_queued.set(stats.queued)
        self._logged = stats

    def render(self) -> bytes:
        if self.multiprocess:
            registry = CollectorRegistry(auto_describe=False)
            registry.register(_WithRates(multiprocess.MultiProcessCollector(None)))  # type: ignore[no-untyped-call]
            registry.register(_Processes(os.environ.get(_MULTIPROCESS)))
            return generate_latest(registry)
        return generate_latest(self._render)
