"""``mlcd split``: the seeded train/test split of data.path into data.splits."""

from __future__ import annotations

import argparse

from mlcd.config import load_config
from mlcd.data.split import split_dataset
from mlcd.output import get_output


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    result = split_dataset(config, test_size=args.test_size, seed=args.seed)
    out = get_output()
    out.success(f"split {config.data.path}: {result.train_rows} rows → {config.data.train}, "
                f"{result.test_rows} rows → {config.data.test} (seed {args.seed})")
    if result.unlabelled_rows:
        out.info(f"  {result.unlabelled_rows} row(s) without a label dropped")
    return 0
