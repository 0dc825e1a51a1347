"""One promotion per environment at a time.

Two locks, both taken before anything changes and released however the promotion ends:

* **Here**: an exclusive ``flock`` on ``<git dir>/mlcd-locks/<model>--<environment>.lock``, for two
  promotions started on one machine (or one runner).
* **On the remote** (when promotion tags are pushed): the ref ``refs/mlcd/locks/<model>/<environment>``,
  created by a plain push of a commit made for this promotion. Git refuses a push that would replace
  another promotion's commit, so of two runners exactly one gets the lock; the other fails at once,
  naming the holder. A lock older than ``STALE_AFTER`` (its runner died) is taken over, atomically
  (``--force-with-lease``).

The promotion tags themselves are pushed atomically and never overwrite: a promotion that got past both
locks by other means still cannot record over another one.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from mlcd import git
from mlcd.errors import PromotionBusy

STALE_AFTER = 3 * 3600
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


def lock_ref(model: str, environment: str) -> str:
    return f"refs/mlcd/locks/{model}/{environment}"


@contextmanager
def local_lock(root: Path, model: str, environment: str, holder: Mapping[str, str]) -> Iterator[None]:
    directory = git.common_dir(root) / "mlcd-locks"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{model}--{environment}.lock"
    handle: IO[str] = path.open("a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise PromotionBusy(
                f"another promotion of {model} to {environment} is running on this machine "
                f"({_describe(handle.read())})",
                fix="wait for it to finish, then run this one again (re-running a finished promotion is a no-op)",
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(dict(holder)))
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()


@contextmanager
def remote_lock(root: Path, remote: str, model: str, environment: str, holder: Mapping[str, str],
                stale_after: float = STALE_AFTER) -> Iterator[None]:
    ref = lock_ref(model, environment)
    message = json.dumps({**holder, "locked_at": int(time.time()), "nonce": uuid.uuid4().hex})
    env = {"GIT_AUTHOR_NAME": "mlcd", "GIT_AUTHOR_EMAIL": "mlcd@localhost",
           "GIT_COMMITTER_NAME": "mlcd", "GIT_COMMITTER_EMAIL": "mlcd@localhost"}
    ours = git.run(root, "commit-tree", EMPTY_TREE, "-m", message, env=env).stdout.strip()
    pushed = git.run_remote(root, remote, "push", "--porcelain", remote, f"{ours}:{ref}", check=False)
    if pushed.returncode != 0:
        _take_over_or_fail(root, remote, ref, ours, model, environment, stale_after, pushed.stderr)
    try:
        yield
    finally:
        git.run_remote(root, remote, "push", "--porcelain", f"--force-with-lease={ref}:{ours}", remote, f":{ref}",
                   check=False)


def _take_over_or_fail(root: Path, remote: str, ref: str, ours: str, model: str, environment: str,
                       stale_after: float, said: str) -> None:
    theirs, info = _holder(root, remote, ref)
    if theirs is None:
        raise PromotionBusy(f"cannot take the promotion lock {ref} on '{remote}': {' '.join(said.split())}",
                            fix="check that the job can push to the remote (`permissions: {contents: write}`)")
    age = time.time() - float(info.get("locked_at") or 0)
    if age > stale_after:
        taken = git.run_remote(root, remote, "push", "--porcelain", f"--force-with-lease={ref}:{theirs}", remote,
                           f"+{ours}:{ref}", check=False)
        if taken.returncode == 0:
            return
    raise PromotionBusy(
        f"another promotion of {model} to {environment} is running ({_describe(json.dumps(info))}, "
        f"{age / 60:.0f} min ago)",
        fix=f"wait for it, then run this one again; if no promotion is running (its runner died), remove the lock: "
            f"`git push {remote} --delete {ref}`",
    )


def _holder(root: Path, remote: str, ref: str) -> tuple[str | None, dict[str, str]]:
    listed = git.run_remote(root, remote, "ls-remote", remote, ref, check=False).stdout.split()
    if not listed:
        return None, {}
    theirs = listed[0]
    git.run_remote(root, remote, "fetch", "--quiet", "--no-tags", remote, f"+{ref}:{ref}", check=False)
    message = git.run(root, "log", "-1", "--format=%B", theirs, check=False).stdout
    try:
        info = json.loads(message)
    except json.JSONDecodeError:
        info = {}
    return theirs, {str(k): str(v) for k, v in info.items()} if isinstance(info, dict) else {}


def _describe(text: str) -> str:
    try:
        info = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError:
        info = {}
    if not isinstance(info, dict) or not info:
        return "holder unknown"
    parts = [f"{info.get('version', '?')} by {info.get('actor', '?')}"]
    if info.get("run_url"):
        parts.append(str(info["run_url"]))
    if info.get("pid"):
        parts.append(f"pid {info['pid']}")
    return ", ".join(parts)


@contextmanager
def promotion_lock(root: Path, model: str, environment: str, holder: Mapping[str, str], *,
                   remote: str | None) -> Iterator[None]:
    """Both locks (the remote one only when ``remote`` is given)."""
    holder = {**holder, "pid": str(os.getpid())}
    with local_lock(root, model, environment, holder):
        if remote is None:
            yield
            return
        with remote_lock(root, remote, model, environment, holder):
            yield
