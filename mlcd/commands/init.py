"""``mlcd init``: add mlcd's workflows and a first mlcd.yaml to the repository in the current directory."""

from __future__ import annotations

import argparse
from pathlib import Path

from mlcd.errors import InputError, UsageError
from mlcd.output import get_output
from mlcd.scaffold.actions import ActionsPin
from mlcd.scaffold.init import config_text, next_steps, planned_files, write_files


def run(args: argparse.Namespace) -> int:
    out = get_output()
    root = Path.cwd()
    pin = ActionsPin.parse(args.actions) if args.actions else ActionsPin()
    text = None
    if args.data:
        if not args.label:
            raise UsageError("--data needs --label: the column the model predicts", fix="add --label COLUMN")
        text = _inferred_config(root, args.data, args.label)
    elif args.label:
        raise UsageError("--label needs --data: the file to infer the contract from", fix="add --data FILE")
    result = write_files(planned_files(root, pin, text), force=args.force)
    for verb, paths in (("created", result.created), ("replaced", result.replaced), ("unchanged", result.unchanged)):
        for path in paths:
            out.info(f"  {verb:<9} {path.relative_to(root)}")
    for path in result.conflicts:
        out.warning(f"{path.relative_to(root)} differs from what mlcd init writes (changed by you?): left as it is",
                    title="mlcd init")
    out.info("")
    out.info("Next steps:")
    for number, step in enumerate(next_steps(root, result, (root / "mlcd.yaml").is_file()), 1):
        out.info(f"  {number}. {step}")
    if result.conflicts:
        names = ", ".join(str(p.relative_to(root)) for p in result.conflicts)
        raise UsageError(f"not overwritten: {names}",
                         fix="keep your version, or run `mlcd init --force` to replace it (then `git diff` "
                             "shows what changed)")
    return 0


def _inferred_config(root: Path, data: str, label: str) -> str:
    from mlcd.config.model import DataConfig
    from mlcd.data.io import read_table
    from mlcd.scaffold.contract import infer_contract

    path = Path(data)
    frame = read_table(path, DataConfig(path=data))
    if label not in frame.columns:
        raise InputError(f"{data} has no column '{label}' (it has: {', '.join(map(str, frame.columns))})",
                         fix="pass the label column's exact name to --label")
    relative = path.resolve().relative_to(root.resolve()) if path.resolve().is_relative_to(root.resolve()) else path
    return config_text(relative.as_posix(), infer_contract(frame, label), root.resolve().name)
