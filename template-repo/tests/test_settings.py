from __future__ import annotations

from typing import Any

import pytest

from penguins.settings import Features, features_from_contract


def test_the_model_uses_every_contract_column_but_the_label_and_non_features(features: Features) -> None:
    assert features.label == "species"
    assert features.columns == (
        "island",
        "bill_length_mm",
        "bill_depth_mm",
        "flipper_length_mm",
        "body_mass_g",
        "sex",
    )
    assert features.numeric == ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g")
    assert features.categorical == ("island", "sex")


def test_columns_keep_contract_order_and_split_by_dtype() -> None:
    contract: dict[str, Any] = {
        "label": "y",
        "columns": {
            "flag": {"dtype": "bool"},
            "y": {"dtype": "category"},
            "count": {"dtype": "int"},
            "id": {"dtype": "string", "feature": False},
            "name": {"dtype": "string"},
            "ratio": {"dtype": "float"},
        },
    }
    assert features_from_contract(contract) == Features(
        label="y",
        columns=("flag", "count", "name", "ratio"),
        numeric=("count", "ratio"),
        categorical=("flag", "name"),
    )


def test_a_dtype_the_model_cannot_use_is_named_with_a_fix() -> None:
    contract = {"label": "y", "columns": {"y": {"dtype": "int"}, "seen_at": {"dtype": "datetime"}}}
    with pytest.raises(ValueError, match=r"'seen_at'.*'datetime'.*feature: false"):
        features_from_contract(contract)
