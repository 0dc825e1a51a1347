"""The model: one scikit-learn Pipeline holding every transform, so serving repeats training exactly.

It takes a DataFrame of the feature columns with the dtypes pandas gives them when reading the CSV
(missing values as NaN). Unseen categories are encoded as all zeros rather than rejected. Only
scikit-learn classes are used, so the saved file loads with skops' trusted types alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from penguins.settings import Features


def build_preprocessor(features: Features, params: Mapping[str, Any]) -> ColumnTransformer:
    numeric = Pipeline(
        [
            ("impute", SimpleImputer(strategy=params["numeric_imputer"])),
            ("scale", StandardScaler()),
        ]
    )
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy=params["categorical_imputer"])),
            # None (e.g. a JSON null in a request) is missing too, not a category of its own
            ("impute_none", SimpleImputer(missing_values=None, strategy=params["categorical_imputer"])),
            ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]
    )
    return ColumnTransformer(
        [
            ("numeric", numeric, list(features.numeric)),
            ("categorical", categorical, list(features.categorical)),
        ],
        remainder="drop",
    )


def build_pipeline(features: Features, params: Mapping[str, Any]) -> Pipeline:
    classifier = LogisticRegression(random_state=params["seed"], **params["classifier"])
    return Pipeline([("preprocess", build_preprocessor(features, params)), ("classify", classifier)])
