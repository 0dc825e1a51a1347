"""A seeded train/test split of the raw data (``mlcd split``): the first stage of the pipeline `mlcd init
--train` writes. Rows without a label are dropped (they can be neither learned from nor scored); a
classification split is stratified by the label, so every class keeps its share in both parts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mlcd.config import Config
from mlcd.data.io import read_table
from mlcd.errors import CheckFailed, ConfigError, UsageError


@dataclass(frozen=True)
class SplitResult:
    train: Path
    test: Path
    train_rows: int
    test_rows: int
    unlabelled_rows: int


def split_frame(frame: pd.DataFrame, label: str, *, test_size: float, seed: int,
                stratify: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) of the labelled rows, each in the original row order."""
    from sklearn.model_selection import train_test_split

    if not 0 < test_size < 1:
        raise UsageError(f"--test-size {test_size} is not a fraction between 0 and 1",
                         fix="give the held-out share of the rows, e.g. 0.2")
    labelled = frame[frame[label].notna()]
    classes = labelled[label].value_counts()
    if stratify and len(classes) and classes.min() < 2:
        rare = ", ".join(map(str, classes[classes < 2].index))
        raise CheckFailed(f"label {label!r} has a class with a single row ({rare}): it cannot be in both parts",
                          fix="collect more rows of that class or drop it from the data")
    try:
        train, test = train_test_split(labelled, test_size=test_size, random_state=seed,
                                       stratify=labelled[label] if stratify else None)
    except ValueError as exc:
        raise CheckFailed(f"cannot split {len(labelled)} labelled rows with --test-size {test_size}: {exc}",
                          fix="add rows, or change the test size") from None
    return train.sort_index(), test.sort_index()


def split_dataset(config: Config, *, test_size: float, seed: int) -> SplitResult:
    if config.data.train is None or config.data.test is None:
        raise ConfigError(f"{config.source}: data.splits is not set, so there is nowhere to write the split",
                          fix="add data.splits: {train: data/split/train.csv, test: data/split/test.csv}")
    frame = read_table(config.resolve(config.data.path), config.data)
    label = config.contract.label
    if label not in frame.columns:
        raise CheckFailed(f"{config.data.path} has no column {label!r} (contract.label)",
                          fix="set contract.label in mlcd.yaml to the column the model predicts")
    train, test = split_frame(frame, label, test_size=test_size, seed=seed,
                              stratify=config.evaluate.task == "classification")
    paths = config.resolve(config.data.train), config.resolve(config.data.test)
    for part, path in zip((train, test), paths, strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() in (".parquet", ".pq"):
            part.to_parquet(path, index=False)
        else:
            part.to_csv(path, index=False, sep=config.data.csv.delimiter, encoding=config.data.csv.encoding)
    return SplitResult(paths[0], paths[1], len(train), len(test), len(frame) - len(train) - len(test))
