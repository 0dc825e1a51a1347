"""Split the raw data into train and test sets, stratified by the label.

Rows without a label cannot be learned from or scored, so they are dropped here; rows with missing
features are kept, because the model imputes them.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from penguins.settings import load_features, load_params


def split(frame: pd.DataFrame, label: str, test_size: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    labelled = frame.dropna(subset=[label])
    train, test = train_test_split(labelled, test_size=test_size, random_state=seed, stratify=labelled[label])
    return train, test


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m penguins.prepare", description=__doc__)
    parser.add_argument("raw", type=Path, help="the raw CSV")
    parser.add_argument("train", type=Path, help="where to write the training split")
    parser.add_argument("test", type=Path, help="where to write the held-out test split")
    args = parser.parse_args(argv)

    params = load_params("prepare")
    frame = pd.read_csv(args.raw)
    train, test = split(frame, load_features().label, params["test_size"], params["seed"])
    for part, path in ((train, args.train), (test, args.test)):
        path.parent.mkdir(parents=True, exist_ok=True)
        part.to_csv(path, index=False)
    dropped = len(frame) - len(train) - len(test)
    print(
        f"prepare: {len(train)} train rows -> {args.train}, {len(test)} test rows -> {args.test}, "
        f"{dropped} rows without a label dropped"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
