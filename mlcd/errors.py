"""One error hierarchy; each fatal error class carries its exit code. `mlcd.cli.main` catches them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """Where in a user's file a problem is: shown as ``file:line:column``."""

    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        parts = [self.file]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)


class MlcdError(Exception):
    """A failure the user can act on: printed as one line, never with a traceback."""

    exit_code = 1

    def __init__(self, message: str, *, fix: str | None = None, location: Location | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.location = location

    def one_line(self) -> str:
        text = f"{self.location}: {self.message}" if self.location else self.message
        if self.fix:
            text = f"{text} (fix: {self.fix})"
        return text


class UsageError(MlcdError):
    exit_code = 2


class ConfigError(MlcdError):
    """mlcd.yaml (or another config file) is missing or invalid."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        fix: str | None = None,
        location: Location | None = None,
        problems: Sequence[MlcdError] | None = None,
    ) -> None:
        super().__init__(message, fix=fix, location=location)
        self.problems = list(problems or [])


class CheckFailed(MlcdError):
    """A data test, gate or reproducibility check ran and failed."""

    exit_code = 3

    def __init__(self, message: str, *, failures: list[str] | None = None, fix: str | None = None) -> None:
        super().__init__(message, fix=fix)
        self.failures = failures or []


class InputError(MlcdError):
    """A file the command needs is missing or unreadable."""

    exit_code = 4


class ToolFailed(MlcdError):
    """An external tool (git, dvc, docker) failed."""

    exit_code = 5


class ModelError(MlcdError):
    """A model file is unsafe, tampered with, or cannot be used."""

    exit_code = 6


class GitHubError(MlcdError):
    """The GitHub API refused a request, or could not be reached."""

    exit_code = 7

    def __init__(self, message: str, *, fix: str | None = None, status: int | None = None) -> None:
        super().__init__(message, fix=fix)
        self.status = status


class DockerError(MlcdError):
    """The Docker engine or a registry refused, failed, or could not be reached."""

    exit_code = 8


class DeployFailed(MlcdError):
    """A deployment did not become healthy, or failed its checks; the previous version was put back."""

    exit_code = 9


class PromotionBusy(MlcdError):
    """Another promotion to the same environment is running."""

    exit_code = 10
