"""Snapshots: the metrics, params and data hashes of a model at one git revision (or the work tree)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlcd import git
from mlcd.errors import InputError, MlcdError


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
    committed = git.show(root, rev, path)
    return committed if committed is not None else _read_with_dvc(root, rev, path)


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
    if any(git.run(root, "cat-file", "-e", f"{rev}:{name}.dvc", check=False).returncode == 0 for name in covering):
        return True
    lock = git.run(root, "show", f"{rev}:dvc.lock", check=False)
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
    committed = git.commit_time(root, rev) if rev else None
    return Snapshot(name, rev, metrics if isinstance(metrics, dict) else {},
                    params if isinstance(params, dict) else {}, _data_hashes(_read_at(root, rev, "dvc.lock")),
                    source=f"{metrics_file} at `{rev[:7]}`" if rev else f"{metrics_file} of this run",
                    recorded=committed or None)


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
