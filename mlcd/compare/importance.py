"""What the model relies on, head against base: the permutation importance of both models on the same
holdout rows with the same shuffles (:mod:`mlcd.evaluation.importance`), for the report's table."""

from __future__ import annotations

from typing import Any

from mlcd.compare.base_model import BaseScoring
from mlcd.config import Config
from mlcd.errors import MlcdError
from mlcd.evaluation.importance import permutation_importances
from mlcd.evaluation.run import labelled_holdout


def importance_comparison(config: Config, base: BaseScoring) -> dict[str, Any] | None:
    """comparison.json's ``importance``: how the measure was taken, ``head`` and ``base`` (feature → mean
    and std of the drop in score; base None when the base model was not scored here) and a ``note`` on
    what is missing. None when compare.importance_repeats is 0."""
    repeats = config.compare.importance_repeats
    if repeats <= 0:
        return None
    try:
        head = permutation_importances(config, config.resolve(config.model.path), labelled_holdout(config), repeats)
    except MlcdError as exc:
        return {"head": None, "base": None, "note": f"not measured: {exc.one_line()}"}
    document = head.to_json()
    features = document.pop("features")
    if base.importance is not None:
        note = ""
    elif base.importance_note:
        note = base.importance_note
    elif base.detail:
        note = f"the base model was not scored on this holdout ({base.summary or base.detail})"
    else:
        note = "no base to compare with"
    return {**document, "head": features, "base": base.importance.features if base.importance else None,
            "note": note}
