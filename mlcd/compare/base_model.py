"""The base commit's model scored on this run's holdout: predictions paired row by row with the head's, for
the noise tests, and base numbers measured on the same rows as the head's (never a stale metrics file)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlcd.compare.snapshot import BaselineUnreadable, read_file_at
from mlcd.config import Config
from mlcd.errors import MlcdError
from mlcd.evaluation.importance import Importance, permutation_importances
from mlcd.evaluation.metrics import Predictions
from mlcd.evaluation.run import labelled_holdout, read_predictions, score_model, write_predictions


@dataclass(frozen=True)
class BaseScoring:
    """The base model's predictions on the head's holdout, or None and why they could not be made."""

    predictions: Predictions | None
    detail: str  # the whole story, for the report's note
    summary: str = ""  # why not paired, short enough to repeat in each gate's reason
    importance: Importance | None = None  # the base model's permutation importance on the same rows
    importance_note: str = ""  # why there is none

    def note(self) -> str | None:
        """The report's line on how the noise tests were paired; None when there was no base at all."""
        if not self.detail:
            return None
        if self.predictions is not None:
            return f"paired row by row with {self.detail}"
        return f"unpaired, on the head's rows alone: {self.detail}"


def score_base_model(config: Config, base_commit: str) -> BaseScoring:
    """Fetch the model file as it was at ``base_commit`` (git or DVC) and score this run's holdout with it.
    Failing that, say why: the comparison then falls back to the base's recorded numbers, unpaired."""
    model_path = config.model.path
    short = base_commit[:7]
    try:
        content = read_file_at(config.root, base_commit, model_path)
        if content is None:
            return BaseScoring(None, f"the base commit `{short}` has no {model_path}",
                               f"the base commit has no {model_path}")
        frame = labelled_holdout(config)
        with tempfile.TemporaryDirectory(prefix="mlcd-base-") as scratch:
            model_file = Path(scratch) / Path(model_path).name
            model_file.write_bytes(content)
            scored = score_model(config, model_file, frame)
            importance, importance_note = base_importance(config, model_file, frame)
            # Through the predictions file, so that labels read exactly as the head's predictions.csv does.
            predictions = read_predictions(write_predictions(Path(scratch) / "base-predictions.csv", scored))
    except BaselineUnreadable as exc:
        return BaseScoring(None, f"the base model could not be read: {exc.one_line()}",
                           "the base model could not be read")
    except MlcdError as exc:
        return BaseScoring(None, f"the base model could not score this holdout: {exc.one_line()}",
                           "the base model could not score this holdout")
    assert predictions is not None
    return BaseScoring(predictions, f"the base commit's model (`{short}`) scored on this run's holdout "
                                    f"({len(predictions.y_true)} rows)", importance=importance,
                       importance_note=importance_note)


def base_importance(config: Config, model_file: Path, frame: Any) -> tuple[Importance | None, str]:
    """The base model's permutation importance, or None and why (the comparison does not depend on it)."""
    if config.compare.importance_repeats <= 0:
        return None, "compare.importance_repeats is 0"
    try:
        return permutation_importances(config, model_file, frame, config.compare.importance_repeats), ""
    except MlcdError as exc:
        return None, f"the base model's importance could not be measured: {exc.one_line()}"
