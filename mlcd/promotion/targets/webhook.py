"""The ``webhook`` target: another system deploys; mlcd tells it what, and proves it is mlcd asking.

``deploy`` POSTs JSON to the environment's ``webhook.url``::

    {"event": "deploy", "delivery": "<uuid>", "sent_at": "2025-01-01T00:00:00Z", "environment": "production",
     "model": "penguins", "version": "v1.2.0", "image": "ghcr.io/o/penguins@sha256:…", "digest": "sha256:…",
     "model_sha256": "…", "evidence": {…}}

with ``X-Mlcd-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`` made with the secret in the
environment variable ``webhook.secret_env`` (as GitHub signs its webhooks: compare with a constant-time
function). ``restore`` sends ``"event": "restore"`` with the version to go back to (or ``"undeploy"``).

A 2xx answer means the new version serves; 4xx means the receiver refused and the old version still
serves. 5xx, 429 and network errors are retried with the same delivery id. ``current`` asks the same
URL with a signed GET and expects ``{"digest": …, "image": …, "version": …}`` (404: nothing deployed).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

import requests

from mlcd import __version__
from mlcd.config.model import EnvironmentConfig
from mlcd.errors import ConfigError, DeployFailed
from mlcd.promotion.targets import Deployed, Release
from mlcd.promotion.verify import require_endpoint, session_for

SIGNATURE_HEADER = "X-Mlcd-Signature-256"
EVENT_HEADER = "X-Mlcd-Event"
DELIVERY_HEADER = "X-Mlcd-Delivery"
RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})


def sign(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def signature_matches(secret: bytes, body: bytes, header: str | None) -> bool:
    """What a receiver checks: the header is the body's HMAC with the shared secret (constant time)."""
    return header is not None and hmac.compare_digest(sign(secret, body), header)


def from_config(model: str, environment: EnvironmentConfig, env: Mapping[str, str]) -> WebhookTarget:
    settings = environment.webhook
    where = f"deploy.environments.{environment.name}.webhook"
    if settings is None:
        raise ConfigError(f"{where} is missing: a webhook target needs its url",
                          fix=f"add `webhook: {{url: https://…}}` under deploy.environments.{environment.name}")
    secret = env.get(settings.secret_env, "")
    if not secret:
        raise ConfigError(f"{settings.secret_env} is not set: {where} signs its requests with it",
                          fix=f"pass the secret to the step: `env: {{{settings.secret_env}: "
                              f"${{{{ secrets.{settings.secret_env} }}}}}}`")
    return WebhookTarget(model, environment.name, hook_url=settings.url, secret=secret.encode(),
                         url=environment.url, timeout=settings.timeout, attempts=settings.attempts)


class WebhookTarget:
    kind = "webhook"

    def __init__(self, model: str, environment: str, *, hook_url: str, secret: bytes, url: str | None = None,
                 timeout: float = 30.0, attempts: int = 5, sleep: Callable[[float], None] = time.sleep) -> None:
        self.model = model
        self.environment = environment
        self.hook_url = hook_url
        self.secret = secret
        self.url = url
        self.timeout = timeout
        self.attempts = attempts
        self.sleep = sleep

    def current(self) -> Deployed | None:
        response = self._send("GET", b"", "current", str(uuid.uuid4()))
        if response.status_code in (404, 405):
            return None
        if response.status_code != 200:
            raise DeployFailed(f"{self.environment}: {self.hook_url} answered {_said(response)} when asked what runs")
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict) or not data.get("digest"):
            return None
        return Deployed(self.kind, self.environment, str(data["digest"]), str(data.get("image", "")),
                        str(data["version"]) if data.get("version") else None, self.url,
                        {"model_sha256": str(data.get("model_sha256") or "")})

    def deploy(self, release: Release, evidence: Mapping[str, Any]) -> Deployed:
        self._post("deploy", release, evidence)
        return Deployed(self.kind, self.environment, release.digest, release.image, release.version, self.url,
                        {"model_sha256": release.model_sha256 or ""})

    def verify(self, deployed: Deployed) -> None:
        running = self.current()
        if running is not None and running.digest != deployed.digest:
            raise DeployFailed(f"{self.environment}: {self.hook_url} reports {running.digest}, not {deployed.digest}")
        if self.url:
            require_endpoint(self.environment, self.url, self.model, deployed.details.get("model_sha256") or None)

    def restore(self, previous: Deployed | None, evidence: Mapping[str, Any]) -> None:
        if previous is None:
            self._post("undeploy", None, evidence)
            return
        release = Release(self.model, self.environment, previous.version or "", previous.image, previous.digest,
                          previous.details.get("model_sha256") or None)
        self._post("restore", release, evidence)

    def _post(self, event: str, release: Release | None, evidence: Mapping[str, Any]) -> None:
        delivery = str(uuid.uuid4())
        payload: dict[str, Any] = {"event": event, "delivery": delivery,
                                   "sent_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                                   "environment": self.environment, "model": self.model}
        if release is not None:
            payload.update(version=release.version, image=release.image, digest=release.digest,
                           model_sha256=release.model_sha256)
        payload["evidence"] = dict(evidence)
        body = json.dumps(payload, sort_keys=True, default=str).encode()
        response = self._send("POST", body, event, delivery)
        if response.status_code >= 300:
            what = release.image if release else "nothing"
            raise DeployFailed(f"{self.environment}: {self.hook_url} refused to {event} {what}: {_said(response)}",
                               fix="the receiver's answer says why; the version it ran before still runs")

    def _send(self, method: str, body: bytes, event: str, delivery: str) -> requests.Response:
        headers = {"Content-Type": "application/json", "User-Agent": f"mlcd/{__version__}", EVENT_HEADER: event,
                   DELIVERY_HEADER: delivery, SIGNATURE_HEADER: sign(self.secret, body)}
        problem = "no answer"
        with session_for(self.hook_url) as session:
            for attempt in range(1, self.attempts + 1):
                try:
                    response = session.request(method, self.hook_url, data=body or None, headers=headers,
                                               timeout=self.timeout,
                                               params={"environment": self.environment} if method == "GET" else None)
                except requests.RequestException as exc:
                    problem = type(exc).__name__
                else:
                    if response.status_code not in RETRYABLE:
                        return response
                    problem = _said(response)
                if attempt < self.attempts:
                    self.sleep(min(2.0 ** (attempt - 1), 30.0))
        raise DeployFailed(f"{self.environment}: {method} {self.hook_url} failed {self.attempts} time(s): {problem}",
                           fix="check that the receiver is up and reachable from the runner")


def _said(response: requests.Response) -> str:
    return f"{response.status_code} {' '.join(response.text.split())[:300]}".strip()


__all__ = ["SIGNATURE_HEADER", "WebhookTarget", "from_config", "sign", "signature_matches"]
