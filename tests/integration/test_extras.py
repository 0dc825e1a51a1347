"""`pip install mlcd` without extras: a fresh virtualenv with mlcd's wheel and only its core dependencies
runs the commands that need no more, and a command that needs an extra names it in one line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlcd import __version__
from testing.repos import ROOT, make_template_repo

pytestmark = pytest.mark.integration

CORE = {"yaml", "jsonschema", "requests", "numpy"}
EXTRAS = {"dvc", "gto", "pandas", "pyarrow", "pandera", "sklearn", "skops", "scipy", "fsspec", "starlette",
          "uvicorn", "orjson", "prometheus_client", "docker"}


def _run(*command: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv holding mlcd, built from this checkout, installed as `pip install mlcd` would."""
    tmp = tmp_path_factory.mktemp("core")
    source = tmp / "source"  # a copy: building in the checkout would leave build/ there, and stale files in it
    shutil.copytree(ROOT / "mlcd", source / "mlcd", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    built = _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", tmp / "dist", source,
                 cwd=tmp)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp / "dist").glob("mlcd-*.whl")
    venv = tmp / "venv"
    assert _run(sys.executable, "-m", "venv", venv, cwd=tmp).returncode == 0
    installed = _run(venv / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check", wheel,
                     cwd=tmp)
    assert installed.returncode == 0, installed.stderr
    return venv


def _mlcd(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("GITHUB_", "MLCD_"))}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}/usr/bin{os.pathsep}/bin", NO_COLOR="1")
    return _run(venv / "bin" / "mlcd", *args, cwd=cwd, env=env)


def test_the_core_installs_no_extra(core_venv: Path, tmp_path: Path) -> None:
    code = ("import importlib.util, sys\n"
            "print(' '.join(sorted(m for m in sys.argv[1:] if importlib.util.find_spec(m))))")
    found = _run(core_venv / "bin" / "python", "-c", code, *sorted(CORE | EXTRAS), cwd=tmp_path)
    assert found.stdout.split() == sorted(CORE)


def test_version_config_and_comment_run_with_the_core_only(core_venv: Path, tmp_path: Path) -> None:
    version = _mlcd(core_venv, "--version", cwd=tmp_path)
    assert (version.returncode, version.stdout) == (0, f"mlcd {__version__}\n")
    validate = _mlcd(core_venv, "config", "validate", str(ROOT / "template-repo" / "mlcd.yaml"), cwd=tmp_path)
    assert validate.returncode == 0, validate.stderr
    assert "comment" in _mlcd(core_venv, "comment", "--help", cwd=tmp_path).stdout
    (tmp_path / "report.md").write_text("## Gates passed\n")
    comment = _mlcd(core_venv, "comment", "--body", "report.md", cwd=tmp_path)  # no token: into a file
    assert comment.returncode == 0, comment.stderr
    assert (tmp_path / "mlcd-comment.md").read_text() == "## Gates passed\n"


def test_train_names_the_train_extra_in_one_line(core_venv: Path, tmp_path: Path) -> None:
    project = make_template_repo(tmp_path / "project")
    result = _mlcd(core_venv, "train", cwd=project)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if "error" in line] == [
        "error: mlcd train needs the 'train' extra: dvc is not installed (fix: pip install 'mlcd[train]')"]


def test_init_and_upgrade_run_with_the_core_only(core_venv: Path, tmp_path: Path) -> None:
    """`pip install mlcd` then `mlcd init` / `mlcd upgrade` in a repository: no data science stack needed."""
    first, second = "1" * 40, "2" * 40
    init = _mlcd(core_venv, "init", "--ref", f"mlcd-dev/mlcd@{first}", cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    upgrade = _mlcd(core_venv, "upgrade", "--ref", f"mlcd-dev/mlcd@{second}", cwd=tmp_path)
    assert upgrade.returncode == 0, upgrade.stderr
    caller = (tmp_path / ".github" / "workflows" / "mlcd-pr.yml").read_text()
    assert f"pr.yml@{second} # v" in caller and first not in caller
