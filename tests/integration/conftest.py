"""Fixtures for tests that run real DVC pipelines in temporary git repositories, and the Docker engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testing.images import docker_client, start_services
from testing.promotion import record_promotion
from testing.repos import git, make_template_repo, mlcd


@pytest.fixture
def template_repo(tmp_path: Path) -> Path:
    return make_template_repo(tmp_path / "project")


@pytest.fixture(scope="module")
def trained_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template project after `mlcd train`, shared by tests that only read it."""
    repo = make_template_repo(tmp_path_factory.mktemp("trained") / "project")
    result = mlcd(repo, "train")
    assert result.returncode == 0, result.stderr
    return repo


@pytest.fixture(scope="session")
def pr_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """main: trained and committed (metrics.json, dvc.lock). Branch pr: a weaker model, trained, not committed."""
    repo = make_template_repo(tmp_path_factory.mktemp("pr") / "project")
    assert mlcd(repo, "train").returncode == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "train on main")
    record_promotion(repo, "penguins-classifier", "v0.0.1", git(repo, "rev-parse", "HEAD").strip(), 1)
    git(repo, "checkout", "-qb", "pr")
    params = repo / "params.yaml"
    params.write_text(params.read_text().replace("C: 1.0", "C: 0.002"))
    assert mlcd(repo, "train").returncode == 0
    assert mlcd(repo, "data", "test").returncode == 0
    return repo


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """The Docker engine (scripts/services starts it, and the registry, when they are not running)."""
    problem = start_services()
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    docker = docker_client()
    yield docker
    docker.close()
