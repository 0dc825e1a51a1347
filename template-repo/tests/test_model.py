from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import skops.io
from hypothesis import given
from hypothesis import strategies as st
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline

from frames import feature_frames
from penguins.model import build_pipeline
from penguins.settings import Features
from penguins.train import train

TRUSTED_PACKAGES = ("sklearn", "numpy", "scipy")


def _transformers(preprocess: ColumnTransformer) -> dict[str, Any]:
    return {name: transformer for name, transformer, _ in preprocess.transformers}


def test_hyperparameters_come_from_params(features: Features, train_params: dict[str, Any]) -> None:
    params = {**train_params, "seed": 3, "numeric_imputer": "mean", "classifier": {"C": 0.5, "max_iter": 77}}
    model = build_pipeline(features, params)
    classifier = model.named_steps["classify"]
    assert (classifier.C, classifier.max_iter, classifier.random_state) == (0.5, 77, 3)
    numeric = _transformers(model.named_steps["preprocess"])["numeric"]
    assert numeric.named_steps["impute"].strategy == "mean"


def test_preprocessing_covers_exactly_the_feature_columns(
    features: Features, train_params: dict[str, Any]
) -> None:
    preprocess: ColumnTransformer = build_pipeline(features, train_params).named_steps["preprocess"]
    selected = {name: list(columns) for name, _, columns in preprocess.transformers}
    assert selected == {"numeric": list(features.numeric), "categorical": list(features.categorical)}
    encoder = _transformers(preprocess)["categorical"].named_steps["encode"]
    assert encoder.handle_unknown == "ignore"


def test_the_fitted_model_expects_the_feature_columns_in_contract_order(
    fitted: Pipeline, features: Features, contract: dict[str, Any]
) -> None:
    assert list(fitted.feature_names_in_) == list(features.columns)
    assert list(fitted.classes_) == sorted(contract["columns"][features.label]["allowed"])


def test_the_model_learns_the_training_data(
    fitted: Pipeline, sample: pd.DataFrame, features: Features
) -> None:
    accuracy = (fitted.predict(sample[list(features.columns)]) == sample[features.label]).mean()
    assert accuracy >= 0.95


@given(data=st.data())
def test_any_feature_frame_transforms_to_a_finite_matrix_of_fixed_width(
    fitted: Pipeline, sample: pd.DataFrame, features: Features, contract: dict[str, Any], data: st.DataObject
) -> None:
    frame = data.draw(feature_frames(contract, features))
    preprocess = fitted.named_steps["preprocess"]
    width = preprocess.transform(sample[list(features.columns)].head(1)).shape[1]
    matrix = preprocess.transform(frame)
    assert matrix.shape == (len(frame), width)
    assert np.isfinite(matrix).all()


@given(data=st.data())
def test_predictions_are_distributions_over_the_known_classes(
    fitted: Pipeline, features: Features, contract: dict[str, Any], data: st.DataObject
) -> None:
    frame = data.draw(feature_frames(contract, features))
    proba = fitted.predict_proba(frame)
    assert proba.shape == (len(frame), len(fitted.classes_))
    assert ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-9)
    assert list(fitted.predict(frame)) == list(fitted.classes_[proba.argmax(axis=1)])


@given(data=st.data())
def test_a_row_is_scored_the_same_alone_or_in_a_batch(
    fitted: Pipeline, features: Features, contract: dict[str, Any], data: st.DataObject
) -> None:
    frame = data.draw(feature_frames(contract, features))
    alone = np.vstack([fitted.predict_proba(frame.iloc[[row]]) for row in range(len(frame))])
    np.testing.assert_allclose(fitted.predict_proba(frame), alone, rtol=1e-9, atol=1e-12)


@given(data=st.data())
def test_none_and_nan_both_mean_missing(
    fitted: Pipeline, features: Features, contract: dict[str, Any], data: st.DataObject
) -> None:
    frame = data.draw(feature_frames(contract, features))
    as_none = frame.astype(object).where(frame.notna(), None)
    np.testing.assert_array_equal(fitted.predict_proba(as_none), fitted.predict_proba(frame))


def test_training_is_deterministic(
    sample: pd.DataFrame, features: Features, train_params: dict[str, Any], fitted: Pipeline
) -> None:
    again = train(sample, features, train_params)
    frame = sample[list(features.columns)]
    np.testing.assert_array_equal(again.predict_proba(frame), fitted.predict_proba(frame))


def test_the_saved_model_holds_only_trusted_types_and_predicts_the_same(
    fitted: Pipeline, sample: pd.DataFrame, features: Features
) -> None:
    saved = skops.io.dumps(fitted)
    untrusted = skops.io.get_untrusted_types(data=saved)
    assert [name for name in untrusted if name.split(".")[0] not in TRUSTED_PACKAGES] == []
    loaded = skops.io.loads(saved, trusted=untrusted)
    frame = sample[list(features.columns)]
    np.testing.assert_array_equal(loaded.predict_proba(frame), fitted.predict_proba(frame))
