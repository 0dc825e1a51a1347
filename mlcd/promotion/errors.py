"""Promotion's own failures, in mlcd's one error hierarchy (exit codes continue mlcd.errors')."""

from __future__ import annotations

from mlcd.errors import MlcdError


class DeployFailed(MlcdError):
    """A deployment did not become healthy, or failed its checks; the previous version was put back."""

    exit_code = 9


class PromotionBusy(MlcdError):
    """Another promotion to the same environment is running."""

    exit_code = 10
