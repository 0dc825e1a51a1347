"""The model behind the server and ``mlcd predict``: loaded safely, verified against its lineage, fast on few rows.

Speed on small batches, where fixed costs dominate:

- BLAS and OpenMP are limited to one thread (threadpoolctl) and every ``n_jobs`` in the model is set to 1:
  on a handful of rows, starting threads costs more than it saves.
- A ``Pipeline`` transforms once, then asks its last step for labels and probabilities; ``predict`` and
  ``predict_proba`` on the whole pipeline would run the transforms twice.
- A forest's labels are the argmax of its probabilities (exactly what scikit-learn's ``predict`` does),
  so its trees are walked once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlcd.errors import ModelError
from mlcd.lineage import lineage_path
from mlcd.model import file_sha256, load_model
from mlcd.serving.validation import InputSchema

__all__ = ["LoadedModel", "Predictor", "limit_threads", "load_verified", "recorded_sha256"]

Array = np.ndarray[Any, Any]


@dataclass(frozen=True)
class LoadedModel:
    model: Any
    sha256: str
    verified: bool  # the sha256 matched the one recorded at training


def recorded_sha256(model_path: Path) -> str | None:
    """The model's sha256 recorded in its lineage file; None when there is no lineage file."""
    path = lineage_path(model_path)
    if not path.is_file():
        return None
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))["model"]["sha256"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        recorded = None
    if not isinstance(recorded, str) or not recorded:
        raise ModelError(f"{path} has no model.sha256 to verify {model_path.name} against",
                         fix="retrain with `mlcd train` to write a complete lineage file")
    return recorded


def load_verified(model_path: Path, trusted_types: Iterable[str] = ()) -> LoadedModel:
    """Load the model, refusing it when its sha256 differs from the one in its lineage file."""
    expected = recorded_sha256(model_path)
    model = load_model(model_path, trusted_types, expected_sha256=expected)
    return LoadedModel(model, expected or file_sha256(model_path), expected is not None)


def limit_threads() -> None:
    """One BLAS/OpenMP thread for the calling thread (OpenMP's setting is per thread)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _single_job(model: Any) -> None:
    if not hasattr(model, "get_params") or not hasattr(model, "set_params"):
        return
    try:
        jobs = {key: 1 for key, value in model.get_params(deep=True).items()
                if key.split("__")[-1] == "n_jobs" and value != 1}
        if jobs:
            model.set_params(**jobs)
    except (TypeError, ValueError, AttributeError):
        return  # an estimator with unusual parameters keeps its own settings


class Predictor:
    """Labels (and class probabilities) for columns of contract-valid values."""

    def __init__(self, model: Any, schema: InputSchema, task: str) -> None:
        from sklearn.ensemble._forest import ForestClassifier
        from sklearn.pipeline import Pipeline

        _single_job(model)
        self.model = model
        self.schema = schema
        self.task = task
        final = model
        self._transform: Any = None
        if isinstance(model, Pipeline) and len(model.steps) > 1:
            self._transform = model[:-1]
            final = model.steps[-1][1]
        self._final = final
        self.classes: list[Any] | None = None
        if task == "classification" and hasattr(final, "predict_proba") and hasattr(final, "classes_"):
            self.classes = np.asarray(final.classes_).tolist()
        self._forest = (isinstance(final, ForestClassifier) and getattr(final, "n_outputs_", 1) == 1
                        and self.classes is not None)
        self._kinds = {spec.name: spec.dtype for spec in schema.features}
        self._nullable = {spec.name: spec.nullable for spec in schema.features}

    @property
    def label_datatype(self) -> str:
        """The OIP datatype of the ``predict`` output."""
        if self.task != "classification":
            return "FP64"
        classes = np.asarray(getattr(self._final, "classes_", [])).tolist()
        first = classes[0] if classes else ""
        if isinstance(first, bool):
            return "BOOL"
        return "INT64" if isinstance(first, int) else "FP64" if isinstance(first, float) else "BYTES"

    def frame(self, columns: Mapping[str, list[Any]]) -> Any:
        """The DataFrame the model was trained on would look like this: as pandas reads the CSV."""
        import pandas as pd

        data: dict[str, Any] = {}
        for name, kind in self._kinds.items():
            values = columns[name]
            if kind == "float" or (kind == "int" and None in values):
                data[name] = np.array(values, dtype=np.float64)  # None → NaN
            elif kind == "int":
                data[name] = np.array(values, dtype=np.int64)
            elif kind == "bool" and None not in values:
                data[name] = np.array(values, dtype=bool)
            else:
                array = np.empty(len(values), dtype=object)
                array[:] = [np.nan if v is None else v for v in values]
                data[name] = array
        return pd.DataFrame(data, copy=False)

    def predict(self, columns: Mapping[str, list[Any]], proba: bool = True) -> tuple[Array, Array | None]:
        """(labels, probabilities or None). ``proba`` False skips probabilities where they cost extra."""
        features = self.frame(columns)
        transformed = features if self._transform is None else self._transform.transform(features)
        if self._forest:
            probabilities = np.asarray(self._final.predict_proba(transformed), dtype=np.float64)
            labels = np.asarray(self._final.classes_).take(np.argmax(probabilities, axis=1), axis=0)
            return labels, probabilities
        labels = np.asarray(self._final.predict(transformed))
        if proba and self.classes is not None:
            return labels, np.asarray(self._final.predict_proba(transformed), dtype=np.float64)
        return labels, None
