"""A release of mlcd made for real in a scratch repository, as users receive one.

This checkout's files (tracked and untracked, not ignored: the change under test) are committed in a new
repository; ``scripts/release`` of that copy then tags a release there and builds its wheel, exactly as
mlcd's maintainers do. Tests install that wheel, run its ``mlcd init``, and let act resolve each pinned
SHA to a worktree of the scratch repository checked out at that SHA: a pin that names a commit the
release does not have fails the run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import venv
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from mlcd.release import RELEASE_FILE, Release, reusable_workflows, version_key
from testing.repos import ROOT, git

RELEASE_SCRIPT = Path("scripts") / "release"
SAMPLE_SHA = "0123456789abcdef0123456789abcdef01234567"  # a commit SHA for tests that need only its form
REUSABLE = reusable_workflows(ROOT / ".github" / "workflows")


def copy_checkout(target: Path) -> Path:
    """This checkout's files as git sees them (tracked and untracked, not ignored), one commit on main."""
    listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                             check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listing):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            destination = target / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
    git(target, "init", "-q", "-b", "main")
    git(target, "add", "-A")
    git(target, "commit", "-qm", "The change under test")
    return target


def next_version(version: str, part: int = 1) -> str:
    """``0.1.0`` → ``0.2.0`` (part 1, minor) or ``0.1.1`` (part 2, patch)."""
    numbers = list(version_key(version))
    numbers[part] += 1
    numbers[part + 1:] = [0] * (2 - part)
    return ".".join(map(str, numbers))


@dataclass
class ReleasedMlcd:
    """A scratch repository of mlcd with its releases, their wheels, and worktrees at pinned SHAs."""

    repository: Path
    work: Path
    releases: list[Release] = field(default_factory=list)
    wheels: dict[str, Path] = field(default_factory=dict)

    @classmethod
    def from_checkout(cls, work: Path) -> ReleasedMlcd:
        return cls(copy_checkout(work / "mlcd"), work)

    @property
    def latest(self) -> Release:
        return self.releases[-1]

    def current_version(self) -> str:
        text = (self.repository / "mlcd" / "__init__.py").read_text(encoding="utf-8")
        found = re.search(r'__version__ = "([^"]+)"', text)
        assert found is not None
        return found.group(1)

    def release(self, version: str | None = None) -> Release:
        """``scripts/release`` run for real in the scratch repository; the release it made."""
        version = version or next_version(self.current_version())
        dist = self.work / "dist" / version
        result = subprocess.run([sys.executable, str(RELEASE_SCRIPT), version, "--dist", str(dist)],
                                cwd=self.repository, capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            raise RuntimeError(f"scripts/release {version} failed:\n{result.stdout}\n{result.stderr}")
        [wheel] = dist.glob("mlcd-*.whl")
        with zipfile.ZipFile(wheel) as archive:
            release = Release.from_json(json.loads(archive.read(f"mlcd/resources/{RELEASE_FILE}")))
        self.releases.append(release)
        self.wheels[release.version] = wheel
        return release

    def change(self, changelog_line: str) -> None:
        """A commit on main after a release: one more CHANGELOG entry under Unreleased."""
        path = self.repository / "CHANGELOG.md"
        text = path.read_text(encoding="utf-8").replace("## Unreleased\n", f"## Unreleased\n\n- {changelog_line}\n", 1)
        path.write_text(text, encoding="utf-8")
        git(self.repository, "commit", "-qam", changelog_line)

    def worktree(self, sha: str) -> Path:
        """The scratch repository checked out at ``sha`` (a ValueError if it has no such commit)."""
        if not re.fullmatch(r"[0-9a-f]{40}", sha):
            raise ValueError(f"{sha!r} is not a full commit SHA")
        if subprocess.run(["git", "cat-file", "-e", f"{sha}^{{commit}}"], cwd=self.repository,
                          capture_output=True).returncode != 0:
            raise ValueError(f"mlcd has no commit {sha}: the pin names nothing a user could run")
        tree = self.work / "trees" / sha
        if not tree.exists():
            git(self.repository, "worktree", "add", "-q", "--detach", str(tree), sha)
        return tree

    def wheelhouse(self, dependencies: Path) -> Path:
        """A wheelhouse for hermetic image builds: the dependencies' wheels (``scripts/services`` downloads
        them) and every release's mlcd wheel in place of the work tree's, so images hold the released mlcd."""
        target = self.work / "wheelhouse"
        target.mkdir(exist_ok=True)
        for wheel in [*dependencies.glob("*.whl"), *self.wheels.values()]:
            if (wheel.name.startswith("mlcd-") and wheel not in self.wheels.values()) or (target / wheel.name).exists():
                continue
            shutil.copy(wheel, target / wheel.name)
        return target

    def install(self, version: str, target: Path) -> Path:
        """A virtualenv at ``target`` with that release's wheel as its mlcd; the mlcd command in it.

        The dependencies come from this test run's environment (a path entry after the venv's own
        site-packages), so only mlcd itself is the released wheel's.
        """
        if not (target / "bin" / "python").exists():
            venv.create(target, with_pip=False)
        python = target / "bin" / "python"
        site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              check=True, capture_output=True, text=True).stdout.strip()
        ours = subprocess.run([sys.executable, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              check=True, capture_output=True, text=True).stdout.strip()
        Path(site, "mlcd-test-dependencies.pth").write_text(ours + "\n", encoding="utf-8")
        uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
        subprocess.run([uv, "pip", "install", "--quiet", "--python", str(python), "--no-deps", "--reinstall",
                        str(self.wheels[version])], check=True, capture_output=True, text=True,
                       env={**os.environ, "UV_NO_CACHE": "1"})
        return target / "bin" / "mlcd"
