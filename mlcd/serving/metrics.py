"""Prometheus metrics of the server, rendered in the text exposition format at ``GET /metrics``.

prometheus_client costs about 2.5 µs per request for a counter and a histogram (measured; a request
costs hundreds of µs) and brings the exposition format and multi-process aggregation: with
``--workers N`` every worker writes to files under ``PROMETHEUS_MULTIPROC_DIR``, and each ``/metrics``
answer adds up all workers.
"""

from __future__ import annotations

import os
from collections import Counter as Tally
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

__all__ = ["CONTENT_TYPE", "LATENCY_BUCKETS", "Metrics", "endpoint_of"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
_MULTIPROCESS = "PROMETHEUS_MULTIPROC_DIR"


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


class Metrics:
    def __init__(self) -> None:
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

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)

    def predicted(self, labels: Iterable[Any], classify: bool) -> None:
        counts = Tally(labels)
        self.rows.inc(sum(counts.values()))
        if classify:
            for label, count in counts.items():
                self.predictions.labels(str(label)).inc(count)

    def render(self) -> bytes:
        if self.multiprocess:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)
