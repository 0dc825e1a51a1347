"""The one git wrapper: every git command mlcd runs goes through `run` (or `run_remote` for one that talks to
a remote), so a missing git and a failing command read the same everywhere."""

from __future__ import annotations

import base64
import os
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from mlcd.errors import InputError, ToolFailed


def run(root: Path, *args: str, env: Mapping[str, str] | None = None, input_text: str | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    """``git args`` in ``root``; with ``check``, a non-zero exit raises ToolFailed with git's message."""
    try:
        result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, input=input_text,
                                env={**os.environ, **env} if env else None, check=False)
    except FileNotFoundError:
        raise ToolFailed("git is not installed", fix="install git") from None
    except NotADirectoryError:
        raise InputError(f"{root} is not a directory", fix="run mlcd inside the project's git repository") from None
    if check and result.returncode != 0:
        raise ToolFailed(f"`git {' '.join(args)}` failed: {(result.stderr or result.stdout).strip()}")
    return result


def show(root: Path, rev: str, path: str) -> bytes | None:
    """The bytes of ``path`` as committed at ``rev``; None when git has no such file there."""
    try:
        shown = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=root, capture_output=True, check=False)
    except FileNotFoundError:
        raise ToolFailed("git is not installed", fix="install git") from None
    return shown.stdout if shown.returncode == 0 else None


def resolve_commit(root: Path, rev: str) -> str | None:
    """The full commit id of ``rev``; None when the repository has no such revision."""
    result = run(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
    return result.stdout.strip() or None


def is_shallow(root: Path) -> bool:
    return run(root, "rev-parse", "--is-shallow-repository", check=False).stdout.strip() == "true"


def ensure_revision(root: Path, rev: str, remote: str = "origin") -> str:
    """The commit of ``rev``, fetching it when a shallow CI checkout lacks it."""
    commit = resolve_commit(root, rev)
    if commit:
        return commit
    branch = rev.removeprefix(f"{remote}/")
    fetched = run_remote(root, remote, "fetch", "--no-tags", "--depth=50", remote,
                         f"+refs/heads/{branch}:refs/remotes/{remote}/{branch}", check=False)
    if fetched.returncode != 0:
        fetched = run_remote(root, remote, "fetch", "--no-tags", "--depth=50", remote, rev, check=False)
    commit = resolve_commit(root, rev) or (resolve_commit(root, "FETCH_HEAD") if fetched.returncode == 0 else None)
    if commit:
        return commit
    shallow = " (this checkout is shallow)" if is_shallow(root) else ""
    raise InputError(
        f"base revision '{rev}' is not in the repository{shallow} and could not be fetched from '{remote}'",
        fix="check out with full history: `actions/checkout` with `fetch-depth: 0`, or pass --base with a "
            "revision that exists",
    )


def commit_time(root: Path, rev: str) -> str | None:
    """When ``rev`` was committed (ISO 8601); None when unknown."""
    return run(root, "log", "-1", "--format=%cI", rev, check=False).stdout.strip() or None


def head_state(root: Path) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the work tree at ``root``; (None, None) outside a git repository or without git."""
    try:
        commit = run(root, "rev-parse", "HEAD", check=False)
        status = run(root, "status", "--porcelain", "--untracked-files=no", check=False)
    except (ToolFailed, InputError):
        return None, None
    if commit.returncode != 0 or status.returncode != 0:
        return None, None
    return commit.stdout.strip(), bool(status.stdout.strip())


def remote_url(root: Path, remote: str) -> str | None:
    """The fetch URL of ``remote``; None when there is no such remote (or no git)."""
    try:
        result = run(root, "remote", "get-url", remote, check=False)
    except (ToolFailed, InputError):
        return None
    url = result.stdout.strip()
    return url if result.returncode == 0 and url else None


def common_dir(root: Path) -> Path:
    """The repository's git directory shared by all its worktrees."""
    path = Path(run(root, "rev-parse", "--git-common-dir").stdout.strip())
    return path if path.is_absolute() else root / path


def remote_auth(root: Path, remote: str, env: Mapping[str, str]) -> dict[str, str]:
    """On GitHub Actions, git configuration (in the environment, never in argv or a file) that lets a
    checkout made with ``persist-credentials: false`` push with ``GITHUB_TOKEN``, as actions/checkout
    would; nothing when the checkout already carries credentials, or the remote is not on GitHub."""
    token = env.get("GITHUB_TOKEN")
    server = (env.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/")
    if not token:
        return {}
    url = run(root, "remote", "get-url", remote, check=False).stdout.strip()
    key = f"http.{server}/.extraheader"
    if not url.startswith(server + "/") or run(root, "config", "--get-all", key, check=False).stdout.strip():
        return {}
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": key, "GIT_CONFIG_VALUE_0": f"AUTHORIZATION: basic {basic}"}


def run_remote(root: Path, remote: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``git args`` for a command that talks to ``remote`` (push, fetch, ls-remote), authenticated as
    `remote_auth` says."""
    return run(root, *args, env=remote_auth(root, remote, os.environ) or None, check=check)


def push_commit(root: Path, remote: str, *, parent: str, branch: str, message: str, author: tuple[str, str],
                stage: Callable[[Mapping[str, str]], object]) -> str:
    """A commit on ``parent`` whose tree is parent's with ``stage(index_env)`` applied to a temporary index
    (run git with ``env=index_env`` to add files to it), force-pushed to ``remote`` as ``branch``; the work
    tree and the checkout's index stay as they are. Returns the commit."""
    with tempfile.TemporaryDirectory(prefix="mlcd-index-") as directory:
        index = {"GIT_INDEX_FILE": os.path.join(directory, "index")}
        run(root, "read-tree", parent, env=index)
        stage(index)
        tree = run(root, "write-tree", env=index).stdout.strip()
    name, email = author
    names = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_COMMITTER_NAME": name,
             "GIT_COMMITTER_EMAIL": email}
    commit = run(root, "commit-tree", tree, "-p", parent, "-m", message, env=names).stdout.strip()
    run_remote(root, remote, "push", "--force", "--porcelain", remote, f"{commit}:refs/heads/{branch}")
    return commit
