"""Snapshots: the metrics, params and data hashes of a model at one git revision (or the work tree)."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlcd.errors import InputError, MlcdError, ToolFailed


class BaselineUnreadable(MlcdError):
    """A baseline exists but could not be read (DVC's remote or cache failed): its gates error, never pass."""


@dataclass(frozen=True)
class Snapshot:
    name: str  # "head", "base", "production"
    rev: str | None  # the commit, None for the work tree
    metrics: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    data: dict[str, str] = field(default_factory=dict)  # path → md5 from dvc.lock
    source: str | None = None  # where the metrics come from, for the report
    recorded: str | None = None  # when they were recorded (ISO 8601): the commit's or the promotion's time

    def metric(self, name: str) -> float | None:
        value = self.metrics.get(name)
        return float(value) if isinstance(value, (int, float)) else None


def run_git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=check)
    except FileNotFoundError:
        raise ToolFailed("git is not installed", fix="install git") from None
    except subprocess.CalledProcessError as exc:
        raise ToolFailed(f"`git {' '.join(args)}` failed: {exc.stderr.strip()}") from None


def resolve_commit(root: Path, rev: str) -> str | None:
    result = run_git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
    return result.stdout.strip() or None


def is_shallow(root: Path) -> bool:
    return run_git(root, "rev-parse", "--is-shallow-repository", check=False).stdout.strip() == "true"


def ensure_revision(root: Path, rev: str, remote: str = "origin") -> str:
    """The commit of rev, fetching it when a shallow CI checkout lacks it."""
    commit = resolve_commit(root, rev)
    if commit:
        return commit
    branch = rev.removeprefix(f"{remote}/")
    fetched = run_git(root, "fetch", "--no-tags", "--depth=50", remote,
                   f"+refs/heads/{branch}:refs/remotes/{remote}/{branch}", check=False)
    if fetched.returncode != 0:
        fetched = run_git(root, "fetch", "--no-tags", "--depth=50", remote, rev, check=False)
    commit = resolve_commit(root, rev) or (resolve_commit(root, "FETCH_HEAD") if fetched.returncode == 0 else None)
    if commit:
        return commit
    shallow = " (this checkout is shallow)" if is_shallow(root) else ""
    raise InputError(
        f"base revision '{rev}' is not in the repository{shallow} and could not be fetched from '{remote}'",
        fix="check out with full history: `actions/checkout` with `fetch-depth: 0`, or pass --base with a "
            "revision that exists",
    )


def _read_at(root: Path, rev: str | None, path: str) -> str | None:
    """A text file at a revision: from git when committed, else from DVC when tracked (cache/remote)."""
    if rev is None:
        file = root / path
        return file.read_text(encoding="utf-8") if file.is_file() else None
    content = read_file_at(root, rev, path)
    return None if content is None else content.decode("utf-8")


def read_file_at(root: Path, rev: str, path: str) -> bytes | None:
    """A file's bytes at a commit: from git when committed, else from DVC when tracked (cache or remote);
    None when neither has it. A DVC output that cannot be read raises BaselineUnreadable."""
    try:
        shown = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=root, capture_output=True, check=False)
    except FileNotFoundError:
        raise ToolFailed("git is not installed", fix="install git") from None
    if shown.returncode == 0:
        return shown.stdout
    return _read_with_dvc(root, rev, path)


def _read_with_dvc(root: Path, rev: str, path: str) -> bytes | None:
    if not (root / ".dvc").is_dir():
        return None
    if not _tracked_by_dvc(root, rev, path):
        return None  # neither in git nor tracked by DVC at that revision: there is no such baseline
    import dvc.api

    try:
        content: bytes = dvc.api.read(path, repo=str(root), rev=rev, mode="rb")
    except Exception as exc:  # DVC raises many types (even PathMissingError) for a remote or cache that fails
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if type(exc).__name__ == "PathMissingError":  # what DVC says when neither cache nor remote has the file
            reason = "neither the DVC cache nor the DVC remote has it"
        raise BaselineUnreadable(f"{path} at {rev[:12]} is tracked by DVC but could not be read: {reason}",
                                 fix="check the DVC remote (`dvc status --cloud`) and its credentials in the "
                                     "workflow") from None
    return content


def _tracked_by_dvc(root: Path, rev: str, path: str) -> bool:
    """Whether ``path`` is a DVC output at ``rev`` (or inside one): a ``.dvc`` file, or an output in dvc.lock."""
    parts = Path(path).parts
    covering = {Path(*parts[:end]).as_posix() for end in range(1, len(parts) + 1)}
    if any(run_git(root, "cat-file", "-e", f"{rev}:{name}.dvc", check=False).returncode == 0 for name in covering):
        return True
    lock = run_git(root, "show", f"{rev}:dvc.lock", check=False)
    if lock.returncode != 0:
        return False
    stages = (yaml.safe_load(lock.stdout) or {}).get("stages") or {}
    return any(str(entry.get("path", "")).rstrip("/") in covering
               for stage in stages.values() for entry in stage.get("outs") or [])


def _data_hashes(lock_text: str | None) -> dict[str, str]:
    if not lock_text:
        return {}
    lock = yaml.safe_load(lock_text) or {}
    hashes: dict[str, str] = {}
    for stage in (lock.get("stages") or {}).values():
        for entry in stage.get("outs") or []:
            if entry.get("md5"):
                hashes[str(entry["path"])] = str(entry["md5"])
    return dict(sorted(hashes.items()))


def load_snapshot(root: Path, name: str, rev: str | None, metrics_file: str, params_file: str) -> Snapshot:
    """Read a snapshot at rev (a resolved commit), or from the work tree when rev is None."""
    metrics_text = _read_at(root, rev, metrics_file)
    params_text = _read_at(root, rev, params_file)
    try:
        metrics = json.loads(metrics_text) if metrics_text else {}
    except json.JSONDecodeError:
        where = f"{rev[:12]}:{metrics_file}" if rev else metrics_file
        raise InputError(f"{where} is not valid JSON", fix="re-run `mlcd evaluate` to rewrite it") from None
    params = yaml.safe_load(params_text) if params_text else {}
    committed = run_git(root, "log", "-1", "--format=%cI", rev, check=False).stdout.strip() if rev else ""
    return Snapshot(name, rev, metrics if isinstance(metrics, dict) else {},
                    params if isinstance(params, dict) else {}, _data_hashes(_read_at(root, rev, "dvc.lock")),
                    source=f"{metrics_file} at `{rev[:7]}`" if rev else f"{metrics_file} of this run",
                    recorded=committed or None)


_ASSIGNMENT = re.compile(r"^(?P<model>.+)#(?P<stage>[^#]+)#(?P<n>\d+)$")


def latest_assignment(root: Path, model: str, stage: str) -> str | None:
    """The newest GTO-style stage assignment tag `<model>#<stage>#<n>`, if any."""
    tags = run_git(root, "tag", "--list", f"{model}#{stage}#*", check=False).stdout.split()
    numbered = [(int(m["n"]), tag) for tag in tags if (m := _ASSIGNMENT.match(tag)) and m["model"] == model]
    return max(numbered)[1] if numbered else None


def flatten(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(flatten(value, dotted))
        else:
            flat[dotted] = value
    return flat


def changed_params(head: dict[str, Any], base: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """dotted key → (base value, head value) for every param that differs (missing: None)."""
    new, old = flatten(head), flatten(base)
    return {key: (old.get(key), new.get(key)) for key in sorted(set(new) | set(old)) if old.get(key) != new.get(key)}


def changed_data(head: dict[str, str], base: dict[str, str]) -> dict[str, tuple[str | None, str | None]]:
    return {path: (base.get(path), head.get(path)) for path in sorted(set(head) | set(base))
            if base.get(path) != head.get(path)}
