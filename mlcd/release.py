"""Which release of mlcd is installed, and the pins that name a release in workflow files.

A release (``scripts/release``) writes ``mlcd/resources/release.json`` into its wheel and sdist: the
version, the commit its tag names, the repository, and the reusable workflows that commit holds, plus the
CHANGELOG. `mlcd init` and `mlcd upgrade` pin the callers they write to that commit. An mlcd installed from
a source checkout has no such file, and says so instead of pinning to a guess.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from mlcd import __version__
from mlcd.errors import UsageError

RELEASE_FILE = "release.json"
CHANGELOG_FILE = "CHANGELOG.md"
DEFAULT_REPOSITORY = "mlcd-dev/mlcd"

_SHA = re.compile(r"[0-9a-f]{40}")
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
# `OWNER/NAME/actions/X@REF # comment` or `OWNER/NAME/.github/workflows/X.yml@REF # comment` after `uses:`
PIN = re.compile(
    r"(?P<lead>\buses:[ \t]*[\"']?)"
    r"(?P<repository>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)/"
    r"(?P<path>actions/[A-Za-z0-9_.-]+|\.github/workflows/[A-Za-z0-9_.-]+\.ya?ml)"
    r"@(?P<ref>[A-Za-z0-9_./-]+)(?P<quote>[\"']?)"
    r"(?P<comment>[ \t]+#[^\n]*)?"
)
_VERSION_IN_COMMENT = re.compile(r"v(\d+\.\d+\.\d+\S*)")
_CHANGELOG_HEADING = re.compile(r"^## (\S+)", re.MULTILINE)
_WORKFLOW_CALL = re.compile(r"^on:\s*\n\s+workflow_call:", re.MULTILINE)


@dataclass(frozen=True)
class Release:
    """What a released mlcd pins: ``repository/.github/workflows/<workflow>@commit # v<version>``."""

    version: str
    commit: str
    repository: str = DEFAULT_REPOSITORY
    workflows: tuple[str, ...] = ()

    @property
    def comment(self) -> str:
        return f"v{self.version}"

    def workflow_uses(self, workflow: str) -> str:
        return f"{self.repository}/.github/workflows/{workflow}@{self.commit} # {self.comment}"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Release:
        return cls(version=str(data["version"]), commit=str(data["commit"]),
                   repository=str(data.get("repository", DEFAULT_REPOSITORY)),
                   workflows=tuple(str(name) for name in data.get("workflows", ())))

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "commit": self.commit, "repository": self.repository,
                "workflows": list(self.workflows)}


def reusable_workflows(directory: Path) -> tuple[str, ...]:
    """The workflow files in ``directory`` that other workflows can call (``on: workflow_call``)."""
    return tuple(sorted(path.name for path in directory.glob("*.yml")
                        if _WORKFLOW_CALL.search(path.read_text(encoding="utf-8"))))


def installed_release() -> Release:
    """The release this mlcd was built as, or a UsageError naming the fix."""
    try:
        text = resources.files("mlcd").joinpath("resources", RELEASE_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"this mlcd ({__version__}) was installed from a source checkout, not a release, so it "
                         "knows no commit to pin mlcd's workflows to",
                         fix="install a released mlcd (pip install mlcd), or name the commit: "
                             "--ref OWNER/NAME@SHA") from None
    release = Release.from_json(json.loads(text))
    if release.version != __version__:
        raise UsageError(f"the release record says mlcd {release.version}, but this mlcd is {__version__}",
                         fix="reinstall mlcd from one release's wheel")
    return release


def release_for_ref(text: str) -> Release:
    """``OWNER/NAME@SHA`` (``--ref``): a fork, or a commit that is not this mlcd's release."""
    repository, _, ref = text.partition("@")
    if not _REPOSITORY.fullmatch(repository) or not _SHA.fullmatch(ref):
        raise UsageError(f"--ref {text!r} is not OWNER/NAME@SHA",
                         fix=f"give the repository holding mlcd's workflows and a full 40-character commit SHA, "
                             f"e.g. {DEFAULT_REPOSITORY}@{'0' * 40}")
    try:
        installed = installed_release()
        workflows = installed.workflows
    except UsageError:
        workflows = ()
    return Release(version=__version__, commit=ref, repository=repository, workflows=workflows)


def changelog() -> str | None:
    """The CHANGELOG a release ships, or None (a source checkout)."""
    try:
        return resources.files("mlcd").joinpath("resources", CHANGELOG_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


@dataclass(frozen=True)
class Pin:
    """One ``uses:`` of a workflow or action of ``repository`` at ``ref``, on ``line`` of its file."""

    repository: str
    path: str
    ref: str
    comment: str
    line: int

    @property
    def version(self) -> str | None:
        found = _VERSION_IN_COMMENT.search(self.comment)
        return found.group(1) if found else None

    @property
    def is_sha(self) -> bool:
        return bool(_SHA.fullmatch(self.ref))


def _pin(found: re.Match[str], text: str) -> Pin:
    return Pin(found["repository"], found["path"], found["ref"], (found["comment"] or "").strip(),
               text.count("\n", 0, found.start()) + 1)


def find_pins(text: str, repository: str | None = None) -> Iterator[Pin]:
    """Every ``uses:`` of an action or reusable workflow (of ``repository`` only, when given)."""
    for found in PIN.finditer(text):
        if repository is not None and found["repository"].lower() != repository.lower():
            continue
        yield _pin(found, text)


def repin(text: str, repository: str, commit: str, comment: str) -> tuple[str, list[Pin]]:
    """``text`` with every pin of ``repository`` at ``commit # comment``; the pins that changed.

    Only the pins move: every other character of the file, comments and the user's edits included, stays.
    """
    changed: list[Pin] = []
    parts: list[str] = []
    position = 0
    for found in PIN.finditer(text):
        if found["repository"].lower() != repository.lower():
            continue
        new = f"{found['repository']}/{found['path']}@{commit}{found['quote']} # {comment}"
        old = text[found.start("repository"):found.end()]
        if old == new:
            continue
        parts += [text[position:found.start("repository")], new]
        position = found.end()
        changed.append(_pin(found, text))
    parts.append(text[position:])
    return "".join(parts), changed


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def changes_between(text: str, old: str | None, new: str) -> str:
    """The CHANGELOG's sections for the versions after ``old`` up to ``new`` (every one when old is None)."""
    headings = list(_CHANGELOG_HEADING.finditer(text))
    kept = []
    for index, heading in enumerate(headings):
        name = heading.group(1)
        if not re.fullmatch(r"\d+\.\d+\.\d+", name):
            continue
        if version_key(name) > version_key(new) or (old is not None and version_key(name) <= version_key(old)):
            continue
        end = headings[index + 1].start() if index + 1 < len(headings) else len(text)
        kept.append(text[heading.start():end].strip())
    return "\n\n".join(kept)
