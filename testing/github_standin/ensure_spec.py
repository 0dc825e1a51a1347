"""Install GitHub's official OpenAPI description (npm ``@octokit/openapi``, pinned) into the test cache.

Run it directly to prefetch (``python -m testing.github_standin.ensure_spec``); the stand-in's fixtures call
:func:`ensure_spec` themselves.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

PACKAGE = "@octokit/openapi"
VERSION = "23.0.2"
SPEC_FILE = "generated/api.github.com.json"
# sha256 of SPEC_FILE in VERSION: the package is pinned by content, not only by name and version.
SPEC_SHA256 = "829b4bebb19a53133289f7b0bc819f4f1118115821db2ca9f25e9ee995a7da2a"
DEFAULT_CACHE = Path(__file__).resolve().parents[2] / "tests" / ".cache"


class SpecUnavailable(RuntimeError):
    pass


def ensure_spec(cache_dir: Path = DEFAULT_CACHE) -> Path:
    """The path of ``api.github.com.json``, installing ``PACKAGE@VERSION`` under ``cache_dir`` if missing."""
    package_dir = cache_dir / "node_modules" / PACKAGE
    spec = package_dir / SPEC_FILE
    if _installed_version(package_dir) != VERSION or not spec.is_file():
        _npm_install(cache_dir)
    digest = hashlib.sha256(spec.read_bytes()).hexdigest()
    if digest != SPEC_SHA256:
        raise SpecUnavailable(
            f"{spec} has sha256 {digest}, not the pinned {SPEC_SHA256}: delete {cache_dir} and run again; if "
            f"it persists, {PACKAGE}@{VERSION} changed upstream"
        )
    return spec


def _installed_version(package_dir: Path) -> str | None:
    try:
        version = json.loads((package_dir / "package.json").read_text(encoding="utf-8")).get("version")
    except (OSError, ValueError):
        return None
    return version if isinstance(version, str) else None


def _npm_install(cache_dir: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise SpecUnavailable(f"npm is needed to install {PACKAGE}@{VERSION} (e.g. `apt-get install npm`)")
    cache_dir.mkdir(parents=True, exist_ok=True)
    command = [npm, "install", "--prefix", str(cache_dir), "--no-save", "--no-package-lock", "--ignore-scripts",
               "--no-audit", "--no-fund", "--loglevel=error", f"{PACKAGE}@{VERSION}"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SpecUnavailable(f"`{' '.join(command[1:])}` failed ({result.returncode}): {result.stderr.strip()}")


if __name__ == "__main__":
    try:
        print(ensure_spec())
    except SpecUnavailable as exc:
        sys.exit(f"error: {exc}")
