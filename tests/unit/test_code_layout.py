"""How the package is laid out, beyond the import-linter layers (pyproject.toml, run by scripts/test):
command modules adapt one library package each, private names stay inside their package, and modules stay
small enough to read."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "mlcd"
# What every command may use besides its one library package: configuration, errors, output and GitHub
# Actions' context, and the one git wrapper.
FOUNDATION = {"config", "errors", "output", "actions_context", "git"}
MAX_MODULE_LINES = 400


def mlcd_imports(path: Path) -> list[tuple[str, list[str]]]:
    """(imported mlcd module, names imported from it) for every import in the file, lazy ones included."""
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "mlcd":
            if node.module == "mlcd":
                found += [(f"mlcd.{alias.name}", []) for alias in node.names]
            else:
                found.append((node.module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names if alias.name.split(".")[0] == "mlcd"]
    return found


def package_of(module: str) -> str:
    """``mlcd.promotion.saga`` → ``promotion``; ``mlcd.git`` → ``git``."""
    return module.split(".")[1] if "." in module else module


def test_each_command_adapts_one_library_package() -> None:
    wide = {}
    for path in sorted((PACKAGE / "commands").glob("*.py")):
        used = {package_of(module) for module, _ in mlcd_imports(path)} - FOUNDATION - {"commands", "__version__"}
        if len(used) > 1:
            wide[path.name] = sorted(used)
    assert wide == {}


def test_no_private_name_is_imported_from_another_package() -> None:
    crossing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = package_of("mlcd." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts))
        for module, names in mlcd_imports(path):
            private = [name for name in names if name.startswith("_") and not name.startswith("__")]
            if private and package_of(module) != here:
                crossing.append(f"{path.relative_to(PACKAGE.parent)}: {module}.{', '.join(private)}")
            if any(part.startswith("_") and not part.startswith("__") for part in module.split(".")):
                crossing.append(f"{path.relative_to(PACKAGE.parent)}: {module}")
    assert crossing == []


def test_no_module_is_over_the_size_one_can_read() -> None:
    long = {str(path.relative_to(PACKAGE.parent)): lines for path in sorted(PACKAGE.rglob("*.py"))
            if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert long == {}
