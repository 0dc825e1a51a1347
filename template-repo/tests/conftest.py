from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import settings
from sklearn.pipeline import Pipeline

from penguins.settings import Features, features_from_contract, load_contract, load_params
from penguins.train import train

ROOT = Path(__file__).resolve().parents[1]

# Fitting happens once per module, but the first transform of a session can be slow on a busy CI runner.
settings.register_profile("project", deadline=None, max_examples=50)
settings.load_profile("project")


@pytest.fixture(scope="session")
def contract() -> dict[str, Any]:
    return load_contract(ROOT / "mlcd.yaml")


@pytest.fixture(scope="session")
def features(contract: dict[str, Any]) -> Features:
    return features_from_contract(contract)


@pytest.fixture(scope="session")
def train_params() -> dict[str, Any]:
    return load_params("train", ROOT / "params.yaml")


@pytest.fixture(scope="session")
def sample(features: Features) -> pd.DataFrame:
    """Real rows to fit on: the same CSV the fetch stage copies. With your own data, load a small sample."""
    with resources.files("palmerpenguins").joinpath("data/penguins.csv").open("rb") as handle:
        frame = pd.read_csv(handle)
    return frame.dropna(subset=[features.label]).reset_index(drop=True)


@pytest.fixture(scope="session")
def fitted(sample: pd.DataFrame, features: Features, train_params: dict[str, Any]) -> Pipeline:
    return train(sample, features, train_params)
