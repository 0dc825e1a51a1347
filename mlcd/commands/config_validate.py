from __future__ import annotations

import argparse
from pathlib import Path

from mlcd.config import check_text, find_config, warn_deprecated
from mlcd.errors import ConfigError, InputError
from mlcd.output import get_output


def run(args: argparse.Namespace) -> int:
    path = Path(args.file) if args.file else find_config(args.config)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path} does not exist", fix="pass the path of your mlcd.yaml") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}", fix="check the file's permissions and encoding") from None
    checked = check_text(text, str(path))
    problems = checked.problems
    if len(problems) == 1:
        raise problems[0]  # file:line:column, the key, and the fix
    if problems:
        raise ConfigError(f"{path}: {len(problems)} problems", problems=problems)
    warn_deprecated(checked.deprecated)
    deprecated = f", with {len(checked.deprecated)} deprecated key(s) to update" if checked.deprecated else ""
    get_output().success(f"{path}: valid{deprecated}")
    return 0
