"""Hypothesis strategies for frames of feature values, drawn from the data contract in mlcd.yaml."""

from __future__ import annotations

import io
import string
from collections.abc import Mapping
from typing import Any

import pandas as pd
from hypothesis import strategies as st

from penguins.settings import NUMERIC_DTYPES, Features

MISSING: list[Any] = [float("nan"), None]


def values(spec: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    """Values within the contract, unseen categories, and missing values (in every column: a request may
    omit what the contract requires)."""
    missing = st.sampled_from(MISSING)
    if spec["dtype"] in NUMERIC_DTYPES:
        low, high = spec.get("min", -1e6), spec.get("max", 1e6)
        number = st.integers(int(low), int(high)) if spec["dtype"] == "int" else st.floats(low, high)
        return number | missing
    unseen = st.text(string.ascii_letters, min_size=1, max_size=8).map(lambda text: f"unseen-{text}")
    allowed = st.sampled_from(spec["allowed"]) if spec.get("allowed") else st.nothing()
    return allowed | unseen | missing


@st.composite
def feature_frames(draw: st.DrawFn, contract: Mapping[str, Any], features: Features) -> pd.DataFrame:
    """A frame as the model meets it: read from a CSV (like `mlcd evaluate`), or built from records
    (like a JSON request)."""
    rows = draw(st.integers(min_value=1, max_value=20))
    columns = {
        name: draw(st.lists(values(contract["columns"][name]), min_size=rows, max_size=rows))
        for name in features.columns
    }
    frame = pd.DataFrame(columns)
    if draw(st.booleans()):
        return pd.read_csv(io.StringIO(frame.to_csv(index=False)))
    return frame
