"""What the stages read besides data: tunables from params.yaml, columns from the contract in mlcd.yaml.

The model's columns come from the data contract, so the columns mlcd checks and evaluates are the
columns the model is trained on: edit the contract and the model follows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PARAMS_FILE = Path("params.yaml")
CONTRACT_FILE = Path("mlcd.yaml")

NUMERIC_DTYPES = frozenset({"int", "float"})
CATEGORICAL_DTYPES = frozenset({"category", "string", "bool"})


@dataclass(frozen=True)
class Features:
    label: str
    columns: tuple[str, ...]  # the model's input, in contract order
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]


def features_from_contract(contract: Mapping[str, Any]) -> Features:
    label = contract["label"]
    columns: list[str] = []
    numeric: list[str] = []
    categorical: list[str] = []
    for name, spec in contract["columns"].items():
        if name == label or not spec.get("feature", True):
            continue
        dtype = spec["dtype"]
        if dtype in NUMERIC_DTYPES:
            numeric.append(name)
        elif dtype in CATEGORICAL_DTYPES:
            categorical.append(name)
        else:
            raise ValueError(
                f"contract column {name!r} has dtype {dtype!r}, which the model cannot use; "
                "derive numeric or categorical columns from it in prepare, or set `feature: false`"
            )
        columns.append(name)
    return Features(
        label=label, columns=tuple(columns), numeric=tuple(numeric), categorical=tuple(categorical)
    )


def load_contract(path: Path = CONTRACT_FILE) -> dict[str, Any]:
    contract: dict[str, Any] = _read_yaml(path)["contract"]
    return contract


def load_features(path: Path = CONTRACT_FILE) -> Features:
    return features_from_contract(load_contract(path))


def load_params(section: str, path: Path = PARAMS_FILE) -> dict[str, Any]:
    params: dict[str, Any] = _read_yaml(path)[section]
    return params


def _read_yaml(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        data: dict[str, Any] = yaml.safe_load(handle)
    return data
