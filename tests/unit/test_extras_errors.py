"""A command whose extra is not installed says which one, in one line, exit 2: mlcd.cli.EXTRA_MODULES.

Each subprocess hides one distribution (``sys.modules[name] = None`` makes importing it fail as if it
were not installed), so these run in the test virtualenv, which has every extra.
"""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from mlcd.cli import EXTRA_MODULES, missing_extra
from mlcd.packaging.requirements import normalize, requirement_name
from testing.configs import MINIMAL_CONFIG

EXTRAS = ("train", "serve", "package")


def _extra_distributions(extra: str) -> set[str]:
    return {requirement_name(spec) for spec in metadata.requires("mlcd") or []
            if f'extra == "{extra}"' in spec}


def _installed_by(extra: str) -> set[str]:
    """The extra's distributions and what they require."""
    direct = _extra_distributions(extra)
    return direct | {requirement_name(spec) for name in direct for spec in metadata.requires(name) or []
                     if "extra ==" not in spec}


def test_every_module_of_every_extra_is_in_the_table() -> None:
    modules = metadata.packages_distributions()
    for extra in EXTRAS:
        distributions = _extra_distributions(extra)
        assert distributions, extra
        for module, providers in modules.items():
            if not module.startswith("_") and distributions & {normalize(p) for p in providers}:
                assert extra in EXTRA_MODULES.get(module, ()), f"{module} ({extra}) is missing from EXTRA_MODULES"


def test_the_table_names_only_extras_that_install_the_module() -> None:
    modules = metadata.packages_distributions()
    for module, extras in EXTRA_MODULES.items():
        providers = {normalize(p) for p in modules[module]}
        for extra in extras:
            assert providers & _installed_by(extra), f"mlcd[{extra}] does not install {module}"


def test_only_missing_modules_of_extras_are_mapped(monkeypatch: pytest.MonkeyPatch) -> None:
    assert missing_extra(ModuleNotFoundError(name="not_a_dependency_of_mlcd"), "mlcd train") is None
    assert missing_extra(ModuleNotFoundError(name="pandas.no_such_module"), "mlcd train") is None  # pandas is here
    assert missing_extra(ModuleNotFoundError(), "mlcd train") is None
    monkeypatch.setitem(sys.modules, "pandas", None)
    serve = missing_extra(ModuleNotFoundError(name="pandas.core"), "mlcd serve")
    drift = missing_extra(ModuleNotFoundError(name="pandas"), "mlcd drift")
    assert serve is not None and drift is not None
    assert serve.one_line() == "mlcd serve needs the 'serve' extra: pandas is not installed " \
                               "(fix: pip install 'mlcd[serve]')"
    assert drift.exit_code == 2 and drift.fix == "pip install 'mlcd[train]'"


def _mlcd_without(module: str, *argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    code = (f"import sys; sys.modules[{module!r}] = None\n"
            "from mlcd.cli import main\n"
            "raise SystemExit(main(sys.argv[1:]))")
    return subprocess.run([sys.executable, "-c", code, *argv], cwd=cwd, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"}, timeout=60)


@pytest.mark.parametrize(("module", "command", "arguments", "extra"), [
    ("dvc", "train", [], "train"),  # dvc runs as `python -m dvc`: checked before it starts
    ("pandas", "data test", [], "train"),
    ("uvicorn", "serve", [], "serve"),
    ("docker", "smoke", ["mlcd-test:none"], "package"),
    ("docker", "shadow", ["--image", "mlcd-test:none", "--logs", "logs"], "package"),  # the image's replay only
])
def test_a_command_without_its_extra_fails_in_one_line(tmp_path: Path, module: str, command: str,
                                                       arguments: list[str], extra: str) -> None:
    (tmp_path / "mlcd.yaml").write_text(MINIMAL_CONFIG)
    (tmp_path / "data.csv").write_text("x,y\n1.0,a\n")
    result = _mlcd_without(module, *command.split(), *arguments, cwd=tmp_path)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error")]
    assert (result.returncode, errors) == (2, [
        f"error: mlcd {command} needs the '{extra}' extra: {module} is not installed "
        f"(fix: pip install 'mlcd[{extra}]')"]), result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_module_that_is_no_extras_is_not_disguised(tmp_path: Path) -> None:
    result = _mlcd_without("yaml", "config", "validate", cwd=tmp_path)
    assert result.returncode == 1 and "ModuleNotFoundError" in result.stderr and "extra" not in result.stderr
