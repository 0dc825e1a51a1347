"""argv → a command module's ``run(args) -> int``; every MlcdError is caught here and only here.

Command modules are imported when their command runs, so ``mlcd --help`` and ``mlcd --version``
never import pandas, scikit-learn or DVC, and a command whose extra (``pip install 'mlcd[train]'``) is not
installed says which one in one line.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
from collections.abc import Callable, Sequence

from mlcd.arguments import build_parser
from mlcd.errors import MlcdError, UsageError

EXIT_INTERRUPTED = 130

# The modules mlcd imports from its extras' distributions (pyproject.toml), and the extras that install
# them (threadpoolctl comes with scikit-learn). tests/unit/test_extras_errors.py holds it to the metadata.
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "dvc": ("train",), "gto": ("train",), "pandera": ("train",), "pyarrow": ("train",), "fsspec": ("train",),
    "pandas": ("train", "serve"), "sklearn": ("train", "serve"), "threadpoolctl": ("train", "serve"),
    "skops": ("train", "serve"), "scipy": ("train", "serve"),
    "starlette": ("serve",), "uvicorn": ("serve",), "httptools": ("serve",), "uvloop": ("serve",),
    "orjson": ("serve",), "prometheus_client": ("serve",),
    "docker": ("package",),
}


def missing_extra(exc: ModuleNotFoundError, command: str) -> UsageError | None:
    """The error for ``command`` (``mlcd serve``) missing a module of an extra that is not installed: the
    extra named like the command if it installs the module, else the first that does. None for any other
    missing module, such as a submodule that an installed distribution lacks."""
    top = (exc.name or "").partition(".")[0]
    extras = EXTRA_MODULES.get(top)
    if extras is None or importlib.util.find_spec(top) is not None:
        return None
    name = command.rpartition(" ")[2]
    extra = name if name in extras else extras[0]
    return UsageError(f"{command} needs the '{extra}' extra: {top} is not installed",
                      fix=f"pip install 'mlcd[{extra}]'")


def _run(module_name: str, args: argparse.Namespace) -> int:
    try:
        run: Callable[[argparse.Namespace], int] = importlib.import_module(module_name).run
        return run(args)
    except ModuleNotFoundError as exc:
        error = missing_extra(exc, getattr(args, "_prog", "mlcd"))
        if error is None:
            raise
        raise error from exc


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    module_name: str | None = getattr(args, "_module", None)
    if module_name is None:
        parser.print_help()
        return 2
    debug = os.environ.get("MLCD_DEBUG") == "1"
    from mlcd.output import get_output

    out = get_output()
    try:
        return _run(module_name, args)
    except MlcdError as exc:
        if debug:
            raise
        problems = getattr(exc, "problems", None) or []
        if len(problems) > 1:
            for problem in problems:
                out.error(problem.message + (f" (fix: {problem.fix})" if problem.fix else ""), problem.location)
        else:
            text = exc.message + (f" (fix: {exc.fix})" if exc.fix else "")
            out.error(text, exc.location)
        return exc.exit_code
    except KeyboardInterrupt:
        out.error("interrupted")
        return EXIT_INTERRUPTED
