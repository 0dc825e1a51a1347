"""``mlcd data update``: the newest version of the DVC-tracked data (imports updated, the rest pulled)."""

from __future__ import annotations

import argparse

from mlcd.config import load_config
from mlcd.output import get_output
from mlcd.retrain import update_data


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    out = get_output()
    with out.group(f"Newest data version in {config.root}"):
        update = update_data(config.root)
    if not update.imports and not update.pulled:
        out.info("no .dvc files: the pipeline's own stages bring the data (dvc repro runs them)")
    if update.imports:
        out.success(f"updated to the source's newest version: {', '.join(update.imports)}")
    if update.pulled:
        out.success(f"pulled the version this commit names: {', '.join(update.pulled)}")
    out.set_output("updated", ",".join(update.imports))
    return 0
