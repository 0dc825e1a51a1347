"""The one reader of the file `mlcd data test --json` writes (data-test.json), for the gates of `mlcd compare`
and `mlcd promote` and for the reports."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, overload

from mlcd.errors import InputError

__all__ = ["ResultFile", "read_result"]


@dataclass(frozen=True)
class ResultFile:
    """A data test's result as written: ``document`` is :func:`mlcd.data.report.to_json`'s."""

    path: Path
    document: dict[str, Any]

    @property
    def passed(self) -> bool:
        return bool(self.document["passed"])


@overload
def read_result(path: Path, *, if_present: Literal[False] = False) -> ResultFile: ...
@overload
def read_result(path: Path, *, if_present: bool) -> ResultFile | None: ...
def read_result(path: Path, *, if_present: bool = False) -> ResultFile | None:
    """The result in ``path``; an InputError says why there is none. With ``if_present``, a file that does
    not exist is None: the PR workflow passes the path whether or not the data test could write it."""
    if if_present and not path.exists():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"the data test result {path} does not exist",
                         fix="run `mlcd data test` first, or leave out --data-test") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read the data test result {path}: {exc}",
                         fix="re-run `mlcd data test` to write it again") from None
    if not isinstance(document, dict) or not isinstance(document.get("passed"), bool):
        raise InputError(f"{path} is not a data test result: it has no true or false 'passed'",
                         fix="pass the file `mlcd data test --json FILE` wrote") from None
    return ResultFile(path, document)
