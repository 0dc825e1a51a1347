"""Helpers for tests that run real DVC pipelines in temporary git repositories."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template-repo"
IGNORED = shutil.ignore_patterns(".dvc-storage", "data", "models", "metrics.json", "predictions.csv", "gates.json",
                                 "dvc.lock", "__pycache__", ".pytest_cache", "*.lineage.json", ".dvc/tmp", ".dvc/cache")


def tool_env(**extra: str) -> dict[str, str]:
    """Environment for subprocesses: this interpreter's scripts (mlcd, dvc) first on PATH, no colour."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["NO_COLOR"] = "1"
    env["DVC_NO_ANALYTICS"] = "1"
    env.update(extra)
    return env


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=mlcd-tests", "-c", "user.email=tests@localhost", *args],
                          cwd=repo, check=True, capture_output=True, text=True).stdout


def make_template_repo(target: Path) -> Path:
    """A fresh copy of template-repo/ as a git repository with one commit."""
    shutil.copytree(TEMPLATE, target, ignore=IGNORED)
    git(target, "init", "-q", "-b", "main")
    git(target, "add", "-A")
    git(target, "commit", "-qm", "template")
    return target


def make_user_repo(target: Path, full_name: str, users_mlcd: Path) -> Path:
    """The template project as a user's repository on GitHub: main trained and committed (dvc.lock,
    metrics.json), the workflows that ``users_mlcd init`` (a released mlcd) writes, and
    ``https://github.com/<full_name>`` as its origin (act reads the repository's name from it)."""
    repo = make_template_repo(target)
    result = mlcd(repo, "train")
    if result.returncode != 0:
        raise RuntimeError(f"mlcd train failed in {repo}:\n{result.stderr}")
    init = subprocess.run([str(users_mlcd), "init"], cwd=repo, capture_output=True, text=True, env=tool_env())
    if init.returncode != 0:
        raise RuntimeError(f"mlcd init failed in {repo}:\n{init.stderr}")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "Train the first model; add mlcd's workflows")
    git(repo, "remote", "add", "origin", f"https://github.com/{full_name}.git")
    return repo


def mlcd(repo: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlcd", *args], cwd=repo, capture_output=True, text=True,
                          env=tool_env(**env), timeout=600)
