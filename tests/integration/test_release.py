"""scripts/release for real, in a scratch copy of this checkout: the tag, the wheel's record of its commit,
and every pin of mlcd that the released files and the callers `mlcd init` writes hold resolves in git to a
tree that has that action or workflow and says the version the pin's comment names. Then the release
script's refusals, and `mlcd upgrade` between two releases' wheels."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from mlcd.release import DEFAULT_REPOSITORY, find_pins
from testing.release import RELEASE_SCRIPT, ReleasedMlcd
from testing.repos import git, tool_env

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> ReleasedMlcd:
    mlcd = ReleasedMlcd.from_checkout(tmp_path_factory.mktemp("release"))
    mlcd.release()
    return mlcd


def version_at(mlcd: ReleasedMlcd, sha: str) -> str:
    text = git(mlcd.repository, "show", f"{sha}:mlcd/__init__.py")
    found = re.search(r'__version__ = "([^"]+)"', text)
    assert found is not None
    return found.group(1)


def assert_pins_resolve(mlcd: ReleasedMlcd, files: list[Path]) -> int:
    checked = 0
    for file in files:
        for pin in find_pins(file.read_text(encoding="utf-8"), DEFAULT_REPOSITORY):
            where = f"{file}:{pin.line}: {pin.path}@{pin.ref}"
            assert pin.is_sha, where
            kind = "blob" if pin.path.endswith(".yml") else "tree"
            listed = git(mlcd.repository, "cat-file", "-t", f"{pin.ref}:{pin.path}").strip()
            assert listed == kind, where
            if kind == "tree":
                git(mlcd.repository, "cat-file", "-e", f"{pin.ref}:{pin.path}/action.yml")
            assert pin.version == version_at(mlcd, pin.ref), f"{where}: the comment says v{pin.version}"
            checked += 1
    return checked


def test_the_tag_the_wheel_and_the_released_files_agree(released: ReleasedMlcd) -> None:
    release = released.latest
    assert git(released.repository, "rev-parse", f"v{release.version}^{{commit}}").strip() == release.commit
    assert version_at(released, release.commit) == release.version
    tree = released.worktree(release.commit)
    assert set(release.workflows) == {"pr.yml", "deliver.yml", "drift.yml", "retrain.yml", "rollback.yml"}
    files = [*(tree / ".github" / "workflows").glob("*.yml"), *(tree / "actions").glob("*/action.yml")]
    assert assert_pins_resolve(released, files) >= 40  # every mlcd action every reusable workflow uses
    assert "## Unreleased\n\n## " + release.version in (tree / "CHANGELOG.md").read_text()


def test_the_callers_init_writes_from_the_wheel_resolve(released: ReleasedMlcd, tmp_path: Path) -> None:
    users_mlcd = released.install(released.latest.version, tmp_path / "venv")
    repo = tmp_path / "user"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    result = subprocess.run([str(users_mlcd), "init"], cwd=repo, capture_output=True, text=True, env=tool_env())
    assert result.returncode == 0, result.stderr
    callers = sorted((repo / ".github" / "workflows").glob("*.yml"))
    assert len(callers) == 5
    assert assert_pins_resolve(released, callers) == 5
    for caller in callers:
        [pin] = find_pins(caller.read_text(), DEFAULT_REPOSITORY)
        assert pin.ref == released.latest.commit


def test_the_release_script_refuses_what_it_cannot_release(released: ReleasedMlcd) -> None:
    def release(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(RELEASE_SCRIPT), *args], cwd=released.repository,
                              capture_output=True, text=True)

    head = git(released.repository, "rev-parse", "HEAD")
    older = release(released.latest.version)
    assert older.returncode == 1 and "is not newer than" in older.stderr
    assert release("1.0").returncode == 1
    empty = release("9.0.0")
    assert empty.returncode == 1 and "no '## Unreleased' section with entries" in empty.stderr
    (released.repository / "README.md").write_text("dirty\n")
    dirty = release("9.0.0")
    assert dirty.returncode == 1 and "uncommitted changes" in dirty.stderr
    git(released.repository, "checkout", "README.md")
    assert git(released.repository, "rev-parse", "HEAD") == head
    assert git(released.repository, "status", "--porcelain") == ""
