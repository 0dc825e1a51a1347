"""Deploy targets: where an environment's model runs. Each is a module with ``from_config`` returning an
object that satisfies :class:`DeployTarget`; ``TARGETS`` names them, and every one passes the same
contract tests (``tests/integration/test_deploy_targets.py``).

A target always deploys an image by digest. ``deploy`` returns only once the new version serves (or
raises :class:`~mlcd.errors.DeployFailed` with the old one still serving); ``restore`` puts a
previous deployment back, through the same steps.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from mlcd.config.model import EnvironmentConfig

# kind → module; imported only when that kind is used (the Docker SDK, for one, is slow to import)
TARGETS: dict[str, str] = {
    "docker": "mlcd.promotion.targets.docker",
    "kubernetes": "mlcd.promotion.targets.kubernetes",
    "webhook": "mlcd.promotion.targets.webhook",
}


@dataclass(frozen=True)
class Release:
    """What to deploy: one image, named by digest."""

    model: str
    environment: str
    version: str
    image: str  # registry/repository@sha256:…
    digest: str
    model_sha256: str | None = None
    port: int = 8080  # the port the server listens on inside the image


@dataclass(frozen=True)
class Deployed:
    """What runs in an environment, as the target reports it."""

    target: str
    environment: str
    digest: str
    image: str
    version: str | None = None
    url: str | None = None  # where the live endpoint answers, when the target knows
    details: Mapping[str, str] = field(default_factory=dict)


class DeployTarget(Protocol):
    kind: str

    def current(self) -> Deployed | None:
        """What runs now; None when nothing mlcd deployed runs in the environment."""

    def deploy(self, release: Release, evidence: Mapping[str, Any]) -> Deployed:
        """Deploy ``release`` and return once it serves; on failure the previous version keeps serving."""

    def verify(self, deployed: Deployed) -> None:
        """Raise DeployFailed unless ``deployed`` is what runs, and is healthy."""

    def restore(self, previous: Deployed | None, evidence: Mapping[str, Any]) -> None:
        """Put ``previous`` back (None: stop what mlcd runs there)."""


class TargetFactory(Protocol):
    def __call__(self, model: str, environment: EnvironmentConfig, env: Mapping[str, str]) -> DeployTarget: ...


def make_target(model: str, environment: EnvironmentConfig, env: Mapping[str, str]) -> DeployTarget:
    factory: TargetFactory = importlib.import_module(TARGETS[environment.target]).from_config
    return factory(model, environment, env)


def release_of(deployed: Deployed, model: str) -> Release:
    return Release(model, deployed.environment, deployed.version or "", deployed.image, deployed.digest)


__all__ = ["TARGETS", "DeployTarget", "Deployed", "Release", "TargetFactory", "make_target", "release_of"]
