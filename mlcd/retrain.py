"""Continuous training: bring the DVC-tracked data to its newest version, and propose a retrained state
(the files the run changed: ``dvc.lock``, metrics, updated ``.dvc`` files) as a branch for a pull request.

Nothing reaches the default branch without review: the proposal is a commit on top of the trained
revision, pushed to its own branch; the pull request workflow then gates it like any other change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from mlcd import git
from mlcd.errors import InputError, UsageError
from mlcd.github import GitHubClient
from mlcd.github.deployments import open_pull_request
from mlcd.github.publish import read_body
from mlcd.record import Identity
from mlcd.training import dvc

ACTIONS_BOT = Identity("github-actions[bot]", "41898282+github-actions[bot]@users.noreply.github.com")


@dataclass(frozen=True)
class DataUpdate:
    imports: list[str]  # `dvc import` / `dvc import-url` files brought to their source's newest version
    pulled: list[str]  # `dvc add` files whose data was pulled from the DVC remote


@dataclass(frozen=True)
class Proposal:
    branch: str
    commit: str | None  # None: the run changed no tracked file, so there is nothing to propose
    changed: list[str]
    pull_request: str | None = None  # its URL, once opened


def data_files(root: Path) -> list[str]:
    """The ``.dvc`` files git tracks (the data versions), relative to ``root``."""
    listed = git.run(root, "ls-files", "-z", "--", "*.dvc", ":(glob)**/*.dvc").stdout
    return sorted({name for name in listed.split("\0") if name})


def is_import(root: Path, name: str) -> bool:
    """``dvc import`` and ``dvc import-url`` files record where the data comes from (``deps``); ``dvc add``
    files only what it is (``outs``)."""
    try:
        document = yaml.safe_load((root / name).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"cannot read {name}: {exc}", fix="fix or re-create the .dvc file (dvc add / dvc import)") \
            from None
    return isinstance(document, dict) and bool(document.get("deps"))


def update_data(root: Path) -> DataUpdate:
    """Imports to their source's newest version (``dvc update``); the data of the other ``.dvc`` files
    (the version this commit names) from the DVC remote (``dvc pull``)."""
    files = data_files(root)
    imports = [name for name in files if is_import(root, name)]
    added = [name for name in files if name not in imports]
    if imports:
        dvc(root, "update", *imports)
    if added:
        dvc(root, "pull", *added)
    return DataUpdate(imports, added)


def changed_files(root: Path) -> list[str]:
    """Tracked files the work tree changed against HEAD (what a retraining rewrote)."""
    listed = git.run(root, "diff", "--name-only", "-z", "HEAD").stdout
    return sorted(name for name in listed.split("\0") if name)


def push_proposal(root: Path, remote: str, branch: str, message: str, env: Mapping[str, str]) -> Proposal:
    """One commit on HEAD holding every tracked file the work tree changed, force-pushed as ``branch``.

    A temporary index is used: the checkout's index and work tree stay as they are.
    """
    changed = changed_files(root)
    if not changed:
        return Proposal(branch, None, [])
    head = git.run(root, "rev-parse", "HEAD").stdout.strip()
    identity = ACTIONS_BOT if env.get("GITHUB_ACTIONS") == "true" else Identity.detect(root, env)
    commit = git.push_commit(root, remote, parent=head, branch=branch, message=message,
                             author=(identity.name, identity.email),
                             stage=lambda index: git.run(root, "add", "--all", "--", *changed, env=index))
    return Proposal(branch, commit, changed)


def propose(root: Path, remote: str, branch: str, title: str, body_file: Path, base: str | None,
            repo: str, env: Mapping[str, str]) -> Proposal:
    """What this run changed (a retrained dvc.lock, metrics) pushed as ``branch``, and a pull request into
    ``base`` (default the branch the workflow runs on) opened with the Markdown in ``body_file``."""
    base = base or env.get("GITHUB_REF_NAME") or ""
    if not base:
        raise UsageError("no base branch (not on GitHub Actions, and no --base)", fix="pass --base BRANCH")
    body = read_body(body_file, fix="pass --body the Markdown report to propose")
    client = GitHubClient.from_env(env)  # before pushing: a missing token fails first
    proposal = push_proposal(root, remote, branch, f"{title}\n", env)
    if proposal.commit is None:
        return proposal
    url = open_pull_request(client, repo, head=branch, base=base, title=title, body=body)
    return replace(proposal, pull_request=url)
