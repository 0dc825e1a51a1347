"""mlcd.git, the one git wrapper, on real repositories."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mlcd import git
from mlcd.errors import InputError, ToolFailed


def make_repo(path: Path) -> Path:
    path.mkdir(exist_ok=True)
    for args in (["init", "-q", "-b", "main"], ["config", "user.name", "t"], ["config", "user.email", "t@example.com"]):
        subprocess.run(["git", *args], cwd=path, check=True, capture_output=True)
    (path / "f.bin").write_bytes(b"\x00\xffbinary")
    subprocess.run(["git", "add", "f.bin"], cwd=path, check=True)
    subprocess.run(["git", "commit", "-qm", "one"], cwd=path, check=True)
    return path


def test_head_state(tmp_path: Path) -> None:
    assert git.head_state(tmp_path) == (None, None)
    repo = make_repo(tmp_path / "repo")
    commit, dirty = git.head_state(repo)
    assert commit is not None and len(commit) == 40 and dirty is False
    (repo / "f.bin").write_text("2")
    assert git.head_state(repo)[1] is True


def test_a_failing_command_names_itself_and_gits_reason(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    with pytest.raises(ToolFailed, match=r"`git rev-parse --verify nope` failed: fatal: Needed a single revision"):
        git.run(repo, "rev-parse", "--verify", "nope")
    assert git.run(repo, "rev-parse", "--verify", "nope", check=False).returncode != 0


def test_show_reads_bytes_and_says_none_for_what_git_lacks(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    assert git.show(repo, "HEAD", "f.bin") == b"\x00\xffbinary"
    assert git.show(repo, "HEAD", "missing") is None


def test_revisions_and_remotes(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    head = git.resolve_commit(repo, "HEAD")
    assert head is not None and git.resolve_commit(repo, "no-such-branch") is None
    assert git.commit_time(repo, "HEAD") is not None
    assert git.remote_url(repo, "origin") is None
    subprocess.run(["git", "remote", "add", "origin", "https://github.com/o/r.git"], cwd=repo, check=True)
    assert git.remote_url(repo, "origin") == "https://github.com/o/r.git"
    assert git.common_dir(repo) == repo / ".git"
    assert git.is_shallow(repo) is False


def test_ensure_revision_fetches_from_the_remote_or_says_how_to_fix(tmp_path: Path) -> None:
    upstream = make_repo(tmp_path / "upstream")
    subprocess.run(["git", "checkout", "-qb", "feature"], cwd=upstream, check=True)
    (upstream / "g").write_text("g")
    subprocess.run(["git", "add", "g"], cwd=upstream, check=True)
    subprocess.run(["git", "commit", "-qm", "two"], cwd=upstream, check=True)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--depth=1", "--branch", "main", f"file://{upstream}", str(clone)],
                   check=True)
    assert git.ensure_revision(clone, "origin/feature") == git.resolve_commit(upstream, "feature")
    with pytest.raises(InputError, match=r"base revision 'origin/gone' is not in the repository.* and could not "
                                         r"be fetched from 'origin'"):
        git.ensure_revision(clone, "origin/gone")

