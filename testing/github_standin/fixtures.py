"""pytest fixtures: ``github_openapi`` (loaded once per session) and ``github_standin`` (one per test).

A test using ``github_standin`` fails at teardown if any request it made, or any answer the stand-in gave,
does not match GitHub's OpenAPI description. A test that sends an invalid call on purpose takes the
errors it expects with ``github_standin.take_validation_errors()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from . import openapi
from .ensure_spec import SpecUnavailable, ensure_spec
from .server import GitHubStandin


@pytest.fixture(scope="session")
def github_openapi() -> openapi.GitHubOpenAPI:
    try:
        return openapi.load(ensure_spec())
    except SpecUnavailable as exc:
        pytest.fail(f"GitHub's OpenAPI description is unavailable: {exc}", pytrace=False)


@pytest.fixture
def github_standin(github_openapi: openapi.GitHubOpenAPI) -> Iterator[GitHubStandin]:
    with running_standin(github_openapi) as standin:
        yield standin


@contextmanager
def running_standin(spec: openapi.GitHubOpenAPI, **options: Any) -> Iterator[GitHubStandin]:
    """A started stand-in, stopped afterwards; fails the test if it saw a call or gave an answer the
    description rejects. ``options`` go to :class:`GitHubStandin` (e.g. ``prefix="/api/v3"``)."""
    standin = GitHubStandin(spec, **options).start()
    try:
        yield standin
    finally:
        standin.stop()
    fail_on_validation_errors(standin)


def fail_on_validation_errors(standin: GitHubStandin) -> None:
    errors = standin.take_validation_errors()
    if errors:
        pytest.fail("calls or answers GitHub's OpenAPI description rejects:\n  " + "\n  ".join(errors),
                    pytrace=False)


def with_retrain_workflow(standin: GitHubStandin, repo: str) -> GitHubStandin:
    """The stand-in holding ``repo`` with mlcd-retrain.yml dispatchable, and a token that may dispatch it."""
    standin.add_repository(repo)
    standin.add_workflow(repo, "mlcd-retrain.yml", ["reason"])
    standin.permissions["actions"] = "write"
    return standin
