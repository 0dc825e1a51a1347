"""What `mlcd upgrade` changes: every pin of mlcd's workflows and actions in a repository's workflow files,
moved to one release, and nothing else.

Every file is read and parsed before any is written, so a file that cannot be parsed, or a pin of a
workflow the release does not have, stops the upgrade with nothing changed.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from mlcd.errors import ConfigError, InputError, Location, UsageError
from mlcd.release import (
    Pin,
    Release,
    changelog,
    changes_between,
    find_pins,
    installed_release,
    release_for_ref,
    repin,
    version_key,
)
from mlcd.scaffold.init import WORKFLOWS_DIR


@dataclass(frozen=True)
class FileUpgrade:
    path: Path
    text: str
    moved: tuple[Pin, ...]


def _read_workflow(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}",
                         fix="check the file's permissions and encoding (UTF-8)") from None
    try:
        yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        location = Location(str(path), mark.line + 1, mark.column + 1) if mark is not None else Location(str(path))
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"not valid YAML ({problem}); nothing was upgraded", location=location,
                          fix="fix the file (GitHub would not run it either), then run mlcd upgrade again") from None
    return text


def _check_pins(path: Path, pins: list[Pin], release: Release) -> None:
    for pin in pins:
        workflow = pin.path.rsplit("/", 1)[1]
        if pin.path.startswith(".github/workflows/") and release.workflows and workflow not in release.workflows:
            raise UsageError(f"{pin.repository}/{pin.path} does not exist in mlcd {release.version}; nothing was "
                             "upgraded", location=Location(str(path), pin.line),
                             fix=f"call one of {', '.join(release.workflows)} (`mlcd init --force` writes the "
                                 "current callers)")


def plan_upgrade(root: Path, release: Release) -> list[FileUpgrade]:
    """The workflow files under ``root`` whose pins of ``release.repository`` move to ``release``."""
    directory = root / WORKFLOWS_DIR
    files = sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")])
    texts = {path: _read_workflow(path) for path in files}
    pinned = {path: list(find_pins(text, release.repository)) for path, text in texts.items()}
    if not any(pinned.values()):
        raise UsageError(f"no workflow in {WORKFLOWS_DIR} uses {release.repository}'s workflows or actions",
                         fix="run `mlcd init` to add mlcd's workflows")
    upgrades = []
    for path, pins in pinned.items():
        _check_pins(path, pins, release)
        text, moved = repin(texts[path], release.repository, release.commit, release.comment)
        if moved:
            upgrades.append(FileUpgrade(path, text, tuple(moved)))
    return upgrades


def oldest_version(upgrades: list[FileUpgrade]) -> str | None:
    """The oldest release the moved pins named (their ``# vX.Y.Z`` comments), for the changelog."""
    versions = [pin.version for upgrade in upgrades for pin in upgrade.moved if pin.version]
    return min(versions, key=version_key) if versions else None


def write_upgrades(upgrades: list[FileUpgrade]) -> None:
    """Each file replaced whole (a temporary file renamed over it), keeping its permissions."""
    for upgrade in upgrades:
        mode = upgrade.path.stat().st_mode
        handle, temporary = tempfile.mkstemp(dir=upgrade.path.parent, prefix=f".{upgrade.path.name}.")
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(upgrade.text)
        os.chmod(temporary, mode)
        os.replace(temporary, upgrade.path)


@dataclass(frozen=True)
class Upgrade:
    release: Release
    files: list[FileUpgrade]  # empty: every pin already names the release
    changes: str | None  # the CHANGELOG sections in between; None when this install has no changelog


def upgrade(root: Path, ref: str | None, *, dry_run: bool = False) -> Upgrade:
    """Move every pin of mlcd's workflows under ``root`` to the installed release (or ``ref``), touching
    nothing else, unless ``dry_run``; with the changelog sections between the oldest pin and the release."""
    release = release_for_ref(ref) if ref else installed_release()
    files = plan_upgrade(root, release)
    if files and not dry_run:
        write_upgrades(files)
    notes = changelog()
    changes = changes_between(notes, oldest_version(files), release.version) if notes and files else None
    return Upgrade(release, files, changes if notes else None)
