"""Writing the record: annotated tags, pushed atomically; and the checks and fetches around it."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mlcd import git
from mlcd.errors import ConfigError, ToolFailed, UsageError
from mlcd.record.names import tag_refs


@dataclass(frozen=True)
class Identity:
    name: str
    email: str

    @classmethod
    def detect(cls, root: Path, env: Mapping[str, str]) -> Identity:
        """On GitHub Actions the user who started the run; elsewhere git's configured user."""
        actor = env.get("GITHUB_ACTOR")
        if actor:
            actor_id = env.get("GITHUB_ACTOR_ID")
            local = f"{actor_id}+{actor}" if actor_id else actor
            return cls(actor, f"{local}@users.noreply.github.com")
        name = git.run(root, "config", "user.name", check=False).stdout.strip()
        email = git.run(root, "config", "user.email", check=False).stdout.strip()
        return cls(name or "mlcd", email or "mlcd@localhost")


@dataclass(frozen=True)
class NewTag:
    name: str
    commit: str
    message: str


def create_tags(root: Path, tags: Sequence[NewTag], tagger: Identity, not_before: int = 0) -> None:
    """Annotated tags, each dated at least a second after the one before: GTO orders by tag date (seconds)."""
    when = max(int(time.time()), not_before + 1)
    made: list[str] = []
    try:
        for tag in tags:
            env = {"GIT_COMMITTER_NAME": tagger.name, "GIT_COMMITTER_EMAIL": tagger.email,
                   "GIT_COMMITTER_DATE": f"{when} +0000"}
            git.run(root, "tag", "--annotate", "--cleanup=verbatim", "--file=-", tag.name, tag.commit,
                    env=env, input_text=tag.message)
            made.append(tag.name)
            when += 1
    except ToolFailed:
        delete_local_tags(root, made)
        raise


def delete_local_tags(root: Path, names: Iterable[str]) -> None:
    names = list(names)
    if names:
        git.run(root, "tag", "--delete", *names, check=False)


class PushRejected(ToolFailed):
    """The remote refused the promotion tags: another promotion recorded first, or no access."""


def push_tags(root: Path, remote: str, names: Sequence[str]) -> None:
    """All or nothing (``--atomic``); never overwrites a tag that exists on the remote."""
    if not names:
        return
    refs = [f"refs/tags/{name}:refs/tags/{name}" for name in names]
    result = git.run_remote(root, remote, "push", "--atomic", "--porcelain", remote, *refs, check=False)
    if result.returncode != 0:
        said = " ".join((result.stderr or result.stdout).split())
        raise PushRejected(
            f"`git push {remote}` refused the promotion tags {', '.join(names)}: {said}",
            fix="another promotion of this model was recorded first (fetch the tags and retry), or the job "
                "cannot push: give it `permissions: {contents: write}` and a checkout that can push",
        )


def check_repository(root: Path, remote: str | None, config_source: str) -> None:
    """The promotion record lives in git tags: ``root`` must be a git work tree, and ``remote`` (when the
    record is pushed) one of its remotes. Checked before anything is fetched, locked or deployed."""
    inside = git.run(root, "rev-parse", "--is-inside-work-tree", check=False)
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        raise UsageError(f"{root} is not in a git repository: mlcd records what runs where as git tags",
                         fix="run mlcd in a clone of your model's repository")
    if remote is None:
        return
    remotes = git.run(root, "remote", check=False).stdout.split()
    if remote not in remotes:
        listed = ", ".join(remotes) or "none"
        raise ConfigError(f"deploy.remote '{remote}' is not a remote of this repository (its remotes: {listed})",
                          fix=f"`git remote add {remote} URL`, set deploy.remote, or set deploy.push: false in "
                              f"{config_source} to keep the record local")


def fetch_tags(root: Path, remote: str, model: str) -> None:
    """The remote's promotion tags for ``model``, so numbering and the current version are the remote's."""
    specs = [f"+{refs}:{refs}" for refs in tag_refs(model)]
    result = git.run_remote(root, remote, "fetch", "--quiet", "--no-tags", remote, *specs, check=False)
    if result.returncode != 0:
        raise ToolFailed(
            f"cannot fetch the promotion tags from '{remote}': {' '.join(result.stderr.split())}",
            fix="check the remote (git remote -v), or set deploy.push: false in mlcd.yaml to keep the record local",
        )
