"""The actions/cache stand-in's store: immutable entries in a local directory, matched as upstream does.

An entry is one tar of the given paths (GNU tar, as upstream uses), stored relative to the workspace (so
a path under $RUNNER_TEMP restores under the restoring job's $RUNNER_TEMP: names keep their `../`), under
its key and a version that hashes the path list: the same key saved with other paths is another entry,
as on GitHub.
Restore: the exact key, else each restore-keys prefix in order, newest matching entry first.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def store() -> Path:
    root = os.environ.get("ACT_STANDIN_CACHE") or str(Path(os.environ["RUNNER_TOOL_CACHE"]) / "actions-cache")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def version(paths: list[str]) -> str:
    """Upstream hashes the paths as written; here a path is written per job (act gives every job its own
    $RUNNER_TEMP), so the paths count as the workspace-relative names the entry stores."""
    workspace = os.environ["GITHUB_WORKSPACE"]
    relative = [p if not os.path.isabs(p.lstrip("!")) else ("!" if p.startswith("!") else "")
                + os.path.relpath(p.lstrip("!"), workspace) for p in paths]
    return hashlib.sha256("\n".join(relative).encode()).hexdigest()[:16]


def entry_dir(key: str, paths: list[str]) -> Path:
    return store() / hashlib.sha256(f"{version(paths)}\n{key}".encode()).hexdigest()


def output(name: str, value: str) -> None:
    with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as handle:
        handle.write(f"{name}={value}\n")


def resolve(paths: list[str], workspace: Path) -> list[Path]:
    included: set[Path] = set()
    excluded: set[Path] = set()
    for pattern in paths:
        negate = pattern.startswith("!")
        pattern = os.path.expanduser(pattern[1:] if negate else pattern)
        base = pattern if os.path.isabs(pattern) else str(workspace / pattern)
        found = {Path(p) for p in glob.glob(base, recursive=True)}
        (excluded if negate else included).update(found)
    return sorted(p for p in included if not any(p == e or e in p.parents for e in excluded))


def save() -> int:
    workspace = Path(os.environ["GITHUB_WORKSPACE"])
    key, paths = os.environ["INPUT_KEY"], lines(os.environ["INPUT_PATH"])
    target = entry_dir(key, paths)
    if (target / "entry.tar").is_file():
        print(f"cache stand-in: an entry with key {key} exists already; entries are immutable, not saved")
        return 0
    files = resolve(paths, workspace)
    if not files:
        print(f"::warning::cache stand-in: no files match {paths}; nothing saved")
        return 0
    target.mkdir(parents=True, exist_ok=True)
    partial = target / "entry.tar.partial"
    names = [os.path.relpath(path, workspace) for path in files]
    subprocess.run(["tar", "--create", "--file", str(partial), "--absolute-names", "--directory", str(workspace),
                    "--", *names], check=True)
    partial.rename(target / "entry.tar")
    (target / "meta.json").write_text(json.dumps({"key": key, "version": version(paths), "saved": time.time()}))
    size = (target / "entry.tar").stat().st_size
    print(f"cache stand-in: saved {key} ({len(files)} paths, {size / 2**20:.1f} MiB)")
    return 0


def find(key: str, prefixes: list[str], paths: list[str]) -> str | None:
    if (entry_dir(key, paths) / "entry.tar").is_file():
        return key
    wanted = version(paths)
    entries = []
    for meta_file in store().glob("*/meta.json"):
        meta = json.loads(meta_file.read_text())
        if meta["version"] == wanted:
            entries.append((meta["saved"], meta["key"]))
    for prefix in prefixes:
        matching = sorted((e for e in entries if e[1].startswith(prefix)), reverse=True)
        if matching:
            return matching[0][1]
    return None


def restore() -> int:
    workspace = Path(os.environ["GITHUB_WORKSPACE"])
    key, paths = os.environ["INPUT_KEY"], lines(os.environ["INPUT_PATH"])
    matched = find(key, lines(os.environ.get("INPUT_RESTORE_KEYS", "")), paths)
    output("cache-hit", "true" if matched == key else "false")
    if matched is None:
        if os.environ.get("INPUT_FAIL_ON_CACHE_MISS") == "true":
            print(f"::error::cache stand-in: no entry for key {key}")
            return 1
        print(f"cache stand-in: no entry for {key}")
        return 0
    output("cache-matched-key", matched)
    if os.environ.get("INPUT_LOOKUP_ONLY") == "true":
        return 0
    subprocess.run(["tar", "--extract", "--file", str(entry_dir(matched, paths) / "entry.tar"), "--absolute-names",
                    "--unlink-first", "--directory", str(workspace)], check=True)
    print(f"cache stand-in: restored {matched}")
    return 0


if __name__ == "__main__":
    sys.exit({"save": save, "restore": restore}[sys.argv[1]]())
