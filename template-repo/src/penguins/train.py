"""Fit the model on the training split and save it with skops."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import skops.io
from sklearn.pipeline import Pipeline

from penguins.model import build_pipeline
from penguins.settings import Features, load_features, load_params


def train(frame: pd.DataFrame, features: Features, params: Mapping[str, Any]) -> Pipeline:
    model = build_pipeline(features, params)
    model.fit(frame[list(features.columns)], frame[features.label])
    return model


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m penguins.train", description=__doc__)
    parser.add_argument("train", type=Path, help="the training split")
    parser.add_argument("model", type=Path, help="where to write the model (.skops)")
    args = parser.parse_args(argv)

    frame = pd.read_csv(args.train)
    model = train(frame, load_features(), load_params("train"))
    args.model.parent.mkdir(parents=True, exist_ok=True)
    skops.io.dump(model, args.model)
    print(f"train: fitted on {len(frame)} rows -> {args.model}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
