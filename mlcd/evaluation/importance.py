"""What a model relies on: scikit-learn's permutation importance on the holdout, the drop in the model's
own score (accuracy for a classifier, R² for a regressor) when one feature's values are shuffled.

Seeded, so that two models measured on the same rows are shuffled alike and a change between them is
the models' and not the shuffles'; a few repeats on at most ``MAX_ROWS`` rows keep it to seconds."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mlcd.config import Config
from mlcd.errors import ModelError
from mlcd.model import load_model

__all__ = ["MAX_ROWS", "SEED", "Importance", "permutation_importances"]

MAX_ROWS = 2000
SEED = 0


@dataclass(frozen=True)
class Importance:
    scoring: str  # what drops: "accuracy" or "r2"
    repeats: int
    seed: int
    rows: int
    features: dict[str, dict[str, float]]  # feature -> {"mean": ..., "std": ...}

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def permutation_importances(config: Config, model_path: Path, frame: Any, repeats: int,
                            seed: int = SEED) -> Importance:
    """The permutation importance of every contract feature of the model in ``model_path`` on the labelled
    holdout rows ``frame``."""
    from sklearn.inspection import permutation_importance

    model = load_model(model_path, config.model.trusted_types)
    features = list(config.contract.feature_names)
    rows = min(len(frame), MAX_ROWS)
    try:
        found = permutation_importance(model, frame[features], frame[config.contract.label], n_repeats=repeats,
                                       random_state=seed, max_samples=rows, n_jobs=1)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelError(f"permutation importance failed: {exc}",
                         fix="check that contract.columns matches the columns the model was trained on, or set "
                             "compare.importance_repeats: 0 in mlcd.yaml") from None
    scoring = "accuracy" if config.evaluate.task == "classification" else "r2"
    means, stds = found["importances_mean"], found["importances_std"]
    return Importance(scoring, repeats, seed, rows,
                      {name: {"mean": float(means[i]), "std": float(stds[i])} for i, name in enumerate(features)})
