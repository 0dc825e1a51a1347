"""Fixtures for tests that run real DVC pipelines in temporary git repositories."""

from __future__ import annotations

from pathlib import Path

import pytest

from testing.repos import make_template_repo, mlcd


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

