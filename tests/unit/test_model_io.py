from __future__ import annotations

import operator
import zipfile
from pathlib import Path

import numpy as np
import pytest
import skops.io
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from mlcd.errors import ModelError
from mlcd.model import file_sha256, load_model


def fitted(path: Path, *steps: object) -> Path:
    X = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.9, 0.1]])
    y = np.array([0, 1, 0, 1])
    skops.io.dump(make_pipeline(*steps, LogisticRegression()).fit(X, y), path)
    return path


def test_sklearn_model_loads_and_predicts(tmp_path: Path) -> None:
    path = fitted(tmp_path / "m.skops", StandardScaler())
    model = load_model(path, expected_sha256=file_sha256(path))
    assert model.predict(np.array([[0.0, 1.0]])).shape == (1,)


def test_untrusted_function_is_refused_with_the_fix(tmp_path: Path) -> None:
    assert load_model(fitted(tmp_path / "ok.skops", FunctionTransformer(np.log1p))) is not None
    path = fitted(tmp_path / "other.skops", FunctionTransformer(operator.neg))
    with pytest.raises(ModelError, match=r"operator\.neg") as info:
        load_model(path)
    assert info.value.fix and "model.trusted_types" in info.value.fix
    [name] = [t for t in skops.io.get_untrusted_types(file=path) if "neg" in t]
    assert load_model(path, extra_trusted=[name]) is not None


def test_tampered_file_is_refused(tmp_path: Path) -> None:
    path = fitted(tmp_path / "m.skops", StandardScaler())
    recorded = file_sha256(path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("extra.txt", "tampered")
    with pytest.raises(ModelError, match="was recorded"):
        load_model(path, expected_sha256=recorded)


def test_not_a_model_file(tmp_path: Path) -> None:
    path = tmp_path / "junk.skops"
    path.write_bytes(b"\x00\x01not a zip")
    with pytest.raises(ModelError, match="not a skops model file"):
        load_model(path)
    with pytest.raises(ModelError, match="does not exist"):
        load_model(tmp_path / "missing.skops")
