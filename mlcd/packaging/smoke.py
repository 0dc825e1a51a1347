"""`mlcd smoke`: run an image as production would, and check it serves exactly the model it claims.

The container runs hardened (read-only root, tmpfs /tmp, non-root, no capabilities, no privilege
escalation), its port published on 127.0.0.1 only. Checks, in order: it becomes ready; it scores the
golden rows exactly as the same model file does offline (labels identical, probabilities within 1e-6);
malformed requests get the documented 4xx; latency. The container is removed however smoke ends —
success, failure, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlcd.config import Config
from mlcd.errors import ConfigError, ModelError, UsageError
from mlcd.model import file_sha256, load_model
from mlcd.output import Output
from mlcd.packaging import parity
from mlcd.packaging.container import Client, hardened_container, inspect_served_image
from mlcd.packaging.engine import connect

BATCH_ROWS = 64
LATENCY_REQUESTS = 200
# A refused model keeps the server up but never ready; its 503 says so, and waiting longer cannot help.


@dataclass
class ErrorCheck:
    name: str
    expected: int
    status: int | None
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.status == self.expected


@dataclass
class SmokeReport:
    image: str
    image_id: str
    model_sha256: str
    user: str
    ready_seconds: float = 0.0
    rows: int = 0
    mismatches: list[parity.Mismatch] = field(default_factory=list)
    largest_proba_gap: float = 0.0
    checks: list[ErrorCheck] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def failures(self) -> list[str]:
        found = [m.describe() for m in self.mismatches[:10]]
        if len(self.mismatches) > 10:
            found.append(f"… and {len(self.mismatches) - 10} more mismatches")
        found += [f"{c.name}: expected {c.expected}, got {c.status or 'no answer'} {c.detail}".strip()
                  for c in self.checks if not c.passed]
        return found

    @property
    def passed(self) -> bool:
        return not self.failures

    def latency(self, q: float) -> float:
        return parity.percentile(self.latencies_ms, q)

    def to_json(self) -> dict[str, Any]:
        return {
            "image": self.image, "image_id": self.image_id, "model_sha256": self.model_sha256,
            "passed": self.passed, "user": self.user, "ready_seconds": round(self.ready_seconds, 3),
            "parity": {"rows": self.rows, "tolerance": parity.TOLERANCE, "passed": not self.mismatches,
                       "largest_proba_gap": self.largest_proba_gap,
                       "mismatches": [m.as_dict() for m in self.mismatches[:100]]},
            "error_checks": [{"name": c.name, "expected": c.expected, "status": c.status, "passed": c.passed,
                              "detail": c.detail} for c in self.checks],
            "latency_ms": {"requests": len(self.latencies_ms), "p50": round(self.latency(50), 3),
                           "p99": round(self.latency(99), 3)},
        }

    def markdown(self) -> str:
        verdict = "✅ passed" if self.passed else "❌ failed"
        lines = [f"### Smoke test of `{self.image}`: {verdict}", "",
                 f"Ready in {self.ready_seconds:.2f} s; parity on {self.rows} rows: "
                 f"{len(self.mismatches)} mismatch(es), largest probability gap {self.largest_proba_gap:.2e}; "
                 f"latency p50 {self.latency(50):.1f} ms, p99 {self.latency(99):.1f} ms.", "",
                 "| request | expected | got |", "|---|---:|---:|"]
        lines += [f"| {c.name} | {c.expected} | {c.status or '—'} |" for c in self.checks]
        return "\n".join(lines) + "\n"


def host_predictions(config: Config, sha256: str, golden: Path | None,
                     model_path: Path | None = None) -> tuple[Any, Any, Any, Any]:
    """(feature frame, labels, probabilities, classes) of the golden rows, scored by the model file here
    (``model_path``, default model.path)."""
    from mlcd.data.io import read_table
    from mlcd.evaluation.run import predict

    model_path = model_path or config.resolve(config.model.path)
    if not model_path.is_file():
        raise ModelError(f"model file {model_path} does not exist: parity needs the model the image was built from",
                         fix="run `mlcd train`, or check out the commit the image was built from")
    here = file_sha256(model_path)
    if here != sha256:
        raise ModelError(f"the image serves model {sha256[:12]}…, but {model_path} is {here[:12]}…: "
                         "parity would compare different models",
                         fix="run smoke on the commit the image was built from, or rebuild with `mlcd package`")
    if golden is None:
        holdout = config.holdout_path
        if holdout is None:
            raise ConfigError("no golden rows to compare", fix="pass --golden FILE, or set evaluate.holdout")
        golden = config.resolve(holdout)
    frame = read_table(golden, config.data)
    names = config.contract.feature_names
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise UsageError(f"{golden} lacks the feature column(s) {', '.join(missing)}",
                         fix="pass a file with every feature column of the contract")
    features = frame[names].reset_index(drop=True)
    if features.empty:
        raise UsageError(f"{golden} has no rows", fix="pass a file with rows to score")
    model = load_model(model_path, config.model.trusted_types, expected_sha256=sha256)
    predicted, proba, classes = predict(model, features, config.evaluate.task)
    return features, predicted, proba, classes


def _columns(frame: Any, start: int, stop: int) -> dict[str, list[Any]]:
    part = frame.iloc[start:stop]
    return {name: part[name].tolist() for name in frame.columns}


def _encode(body: Any) -> bytes:
    return json.dumps(body).encode()


def error_checks(client: Client, valid: dict[str, Any]) -> list[ErrorCheck]:
    unknown = copy.deepcopy(valid)
    unknown["inputs"].append({"name": "mlcd_smoke_not_a_column", "shape": [1], "datatype": "FP64", "data": [1.0]})
    cases = [
        ("body is not JSON", 400, _encode(valid)[:-3], "application/json"),
        ("Content-Type text/plain", 415, _encode(valid), "text/plain"),
        ("column outside the contract", 422, _encode(unknown), "application/json"),
    ]
    checks = []
    for name, expected, body, content_type in cases:
        status, answer = client.post(client.infer_url, body, content_type)
        checks.append(ErrorCheck(name, expected, status, "" if status == expected else str(answer)[:200]))
    oversize, text = client.declared_oversize()
    checks.append(ErrorCheck("body over the size limit", 413, oversize, "" if oversize == 413 else text[:200]))
    return checks


def _score(client: Client, report: SmokeReport, features: Any, host: tuple[Any, Any, Any],
           types: dict[str, str]) -> None:
    predicted, proba, classes = host
    rows = len(features)
    for start in range(0, rows, BATCH_ROWS):
        stop = min(start + BATCH_ROWS, rows)
        status, answer = client.post(client.infer_url, _encode(parity.infer_request(_columns(features, start, stop),
                                                                                    types)))
        if status != 200:
            report.mismatches.append(parity.Mismatch(start, "request", "200", f"{status} {str(answer)[:200]}"))
            continue
        try:
            served = parity.parse_response(answer, stop - start)
        except ValueError as exc:
            report.mismatches.append(parity.Mismatch(start, "answer", "OIP v2 outputs", str(exc)))
            continue
        mismatches, gap = parity.compare(start, predicted[start:stop].tolist(),
                                         None if proba is None else proba[start:stop].tolist(), classes, served)
        report.mismatches += mismatches
        report.largest_proba_gap = max(report.largest_proba_gap, gap)
    report.rows = rows


def _latency(client: Client, report: SmokeReport, features: Any, types: dict[str, str]) -> None:
    bodies = [_encode(parity.infer_request(_columns(features, i, i + 1), types))
              for i in range(min(len(features), LATENCY_REQUESTS))]
    for i in range(LATENCY_REQUESTS):
        started = time.perf_counter()
        answered, _ = client.post(client.infer_url, bodies[i % len(bodies)])
        elapsed = (time.perf_counter() - started) * 1000
        if answered == 200:
            report.latencies_ms.append(elapsed)


def smoke(config: Config, image_ref: str, out: Output, *, timeout: float = 60.0, golden: Path | None = None,
          client: Any = None) -> SmokeReport:
    client = client or connect()
    served = inspect_served_image(client, image_ref, config)
    with out.group("Offline predictions of the same model file"):
        features, predicted, proba, classes = host_predictions(config, served.sha256, golden)
        out.info(f"  {len(features)} golden rows, model {served.sha256[:12]}…")
    types = parity.datatypes(config.contract.features)
    report = SmokeReport(image_ref, served.image.id, served.sha256, served.user)
    with hardened_container(client, served, out, timeout=timeout) as (http, ready_seconds):
        report.ready_seconds = ready_seconds
        with out.group(f"Parity on {len(features)} rows, error answers, latency"):
            _score(http, report, features, (predicted, proba, classes), types)
            report.checks = error_checks(http, parity.infer_request(_columns(features, 0, 1), types))
            _latency(http, report, features, types)
    return report


