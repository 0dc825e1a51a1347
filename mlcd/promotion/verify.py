"""Checks against a live model endpoint (Open Inference Protocol v2): ready, and serving the right model."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests

from mlcd.config import Config
from mlcd.errors import DeployFailed

READY = "/v2/health/ready"
LIVE = "/v2/health/live"


def session_for(url: str) -> requests.Session:
    """A session; one for a loopback address never goes through a proxy from the environment."""
    session = requests.Session()
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.startswith("127.") or host == "::1":
        session.trust_env = False
    return session


def _get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    try:
        with session_for(url) as session:
            response = session.get(url, timeout=timeout)
    except requests.RequestException as exc:
        return 0, type(exc).__name__
    return response.status_code, " ".join(response.text.split())[:200]


def wait_ready(base_url: str, timeout: float, *, gone: Callable[[], str | None] | None = None,
               interval: float = 0.25) -> None:
    """Until ``GET /v2/health/ready`` answers 200; ``gone`` says why the server can no longer become ready."""
    deadline = time.monotonic() + timeout
    status, said = 0, "no answer"
    while True:
        status, said = _get(base_url.rstrip("/") + READY)
        if status == 200:
            return
        reason = gone() if gone is not None else None
        if reason:
            raise DeployFailed(f"{base_url} will not become ready: {reason}")
        if time.monotonic() >= deadline:
            last = f"{status} {said}" if status else said
            raise DeployFailed(f"{base_url}{READY} was not ready within {timeout:g}s (last answer: {last})",
                               fix="check the container's log; raise the environment's ready_timeout if the "
                                   "model needs longer to load")
        time.sleep(interval)


def require_endpoint(environment: str, base_url: str, model: str, model_sha256: str | None) -> None:
    """Raise DeployFailed naming the environment when the endpoint is not ready or serves another model."""
    problems = endpoint_problems(base_url, model, model_sha256)
    if problems:
        raise DeployFailed(f"{environment}: " + "; ".join(problems))


def endpoint_problems(base_url: str, model: str, model_sha256: str | None) -> list[str]:
    """What is wrong with a deployed endpoint: not ready, or serving another model than ``model_sha256``."""
    base = base_url.rstrip("/")
    status, said = _get(base + READY)
    if status != 200:
        return [f"{base}{READY} answered {status or said} {said if status else ''}".rstrip()]
    if not model_sha256:
        return []
    try:
        with session_for(base) as session:
            response = session.get(f"{base}/v2/models/{model}", timeout=5.0)
        versions = response.json().get("versions") if response.status_code == 200 else None
    except (requests.RequestException, ValueError, AttributeError):
        versions = None
    if not isinstance(versions, list):
        return [f"{base}/v2/models/{model} did not say which model version it serves"]
    if model_sha256[:12] not in [str(v) for v in versions]:
        return [f"{base} serves {model} version {', '.join(map(str, versions))}, not {model_sha256[:12]}"]
    return []


@dataclass(frozen=True)
class Parity:
    """Whether the deployed endpoint scores like the model file here; ``skipped`` says why it could not run."""

    rows: int = 0
    mismatches: tuple[str, ...] = ()
    largest_proba_gap: float = 0.0
    skipped: str | None = None

    @property
    def passed(self) -> bool:
        return self.skipped is None and not self.mismatches


def deployed_parity(config: Config, base_url: str, model_sha256: str, *, batch_rows: int = 64,
                    golden: Path | None = None, model_path: Path | None = None) -> Parity:
    """``mlcd smoke``'s parity check, against the deployed endpoint: the golden rows (default: the holdout)
    scored offline by the same model file (``model_path``, default model.path; it must have that sha256)
    and by the endpoint."""
    from mlcd.errors import MlcdError
    from mlcd.packaging import parity
    from mlcd.packaging.smoke import host_predictions

    try:
        features, predicted, proba, classes = host_predictions(config, model_sha256, golden, model_path)
    except MlcdError as exc:
        return Parity(skipped=exc.message)
    types = parity.datatypes(config.contract.features)
    url = f"{base_url.rstrip('/')}/v2/models/{config.model.name}/infer"
    mismatches: list[str] = []
    largest = 0.0
    with session_for(url) as session:
        for start in range(0, len(features), batch_rows):
            stop = min(start + batch_rows, len(features))
            part = features.iloc[start:stop]
            body = parity.infer_request({name: part[name].tolist() for name in part.columns}, types)
            try:
                response = session.post(url, json=body, timeout=30)
                served = parity.parse_response(response.json(), stop - start)
            except (requests.RequestException, ValueError) as exc:
                mismatches.append(f"rows {start}–{stop - 1}: {type(exc).__name__}: {exc}")
                continue
            found, gap = parity.compare(start, predicted[start:stop].tolist(),
                                        None if proba is None else proba[start:stop].tolist(), classes, served)
            mismatches += [m.describe() for m in found]
            largest = max(largest, gap)
    return Parity(len(features), tuple(mismatches), largest)
