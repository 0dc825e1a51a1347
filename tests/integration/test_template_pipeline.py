"""The template project on its own: `dvc repro` with real DVC and git, and its own test suite."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from testing.repos import git, make_template_repo, tool_env

pytestmark = pytest.mark.integration


def _run(repo: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=repo, capture_output=True, text=True, env=tool_env(), timeout=600)


def _out(lock: dict[str, Any], stage: str, path: str) -> dict[str, Any]:
    outs: list[dict[str, Any]] = lock["stages"][stage]["outs"]
    return next(out for out in outs if out["path"] == path)


@pytest.fixture(scope="module")
def repro_train(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = make_template_repo(tmp_path_factory.mktemp("template") / "project")
    result = _run(repo, "dvc", "repro", "train")
    assert result.returncode == 0, result.stdout + result.stderr
    return repo


def test_repro_train_writes_the_outputs_and_locks_their_hashes(repro_train: Path) -> None:
    for path in ("data/raw/penguins.csv", "data/prepared/train.csv", "data/prepared/test.csv", "models/model.skops"):
        assert (repro_train / path).is_file(), path
    lock = yaml.safe_load((repro_train / "dvc.lock").read_text())
    assert len(_out(lock, "fetch", "data/raw/penguins.csv")["md5"]) == 32
    assert len(_out(lock, "train", "models/model.skops")["md5"]) == 32
    assert lock["stages"]["train"]["params"]["params.yaml"]["train"]["seed"] == 42
    assert "evaluate" not in lock["stages"]


def test_fetch_copies_the_packaged_csv_unchanged(repro_train: Path) -> None:
    packaged = resources.files("palmerpenguins").joinpath("data/penguins.csv").read_bytes()
    assert (repro_train / "data/raw/penguins.csv").read_bytes() == packaged


def test_git_sees_only_the_lock_file_and_dvc_push_fills_the_local_remote(repro_train: Path) -> None:
    assert git(repro_train, "status", "--porcelain").splitlines() == ["?? dvc.lock"]
    result = _run(repro_train, "dvc", "push")
    assert result.returncode == 0, result.stdout + result.stderr
    lock = yaml.safe_load((repro_train / "dvc.lock").read_text())
    locked = {out["md5"] for stage in lock["stages"].values() for out in stage.get("outs", [])}
    # the remote is content-addressed: files/md5/<first 2 hex digits>/<the other 30>
    stored = {path.parent.name + path.name for path in (repro_train / ".dvc-storage").rglob("*") if path.is_file()}
    assert len(locked) == 4 and locked <= stored


def test_the_template_unit_tests_pass_in_the_copy(repro_train: Path) -> None:
    result = _run(repro_train, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider")
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and "failed" not in result.stdout
