"""Joining late labels to logged predictions: what is paired, and every kind of label left out."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlcd.monitoring.feedback import LABEL, Join, feedback_predictions, id_text, join_labels, slice_groups


def log(ids: list[object], predictions: list[object] | None = None) -> pd.DataFrame:
    return pd.DataFrame({"request_id": ids, "prediction": predictions or ["a"] * len(ids)})


def labels(ids: list[object], values: list[object]) -> pd.DataFrame:
    return pd.DataFrame({"request_id": ids, "y": values})


def join(logged: pd.DataFrame, given: pd.DataFrame) -> Join:
    return join_labels(logged, given, "request_id", "request_id", "y")


def test_each_label_pairs_with_its_logged_row_in_log_order() -> None:
    joined = join_labels(log(["r1", "r2", "r3"], ["a", "b", "a"]), labels(["r3", "r1"], ["b", "a"]),
                         "request_id", "request_id", "y")
    assert joined.rows["request_id"].tolist() == ["r1", "r3"]
    assert joined.rows[LABEL].tolist() == ["a", "b"]
    assert joined.rows["prediction"].tolist() == ["a", "a"]
    assert joined.unlabelled == 1 and joined.problems() == []


def test_identical_duplicates_count_once_and_say_so() -> None:
    joined = join(log(["r1", "r2"]), labels(["r1", "r1", "r2"], ["a", "a", "b"]))
    assert len(joined.rows) == 2 and joined.duplicates == 1
    assert joined.problems() == ["1 repeated label row(s) with the same id and label: counted once"]


def test_conflicting_labels_are_never_joined() -> None:
    joined = join(log(["r1", "r2"]), labels(["r1", "r1", "r2"], ["a", "b", "b"]))
    assert joined.conflicts == {"r1": ["a", "b"]}
    assert joined.rows["request_id"].tolist() == ["r2"]
    assert joined.problems() == ["1 id(s) have different labels: r1: a vs b"]
    assert joined.unlabelled == 0  # r1 has labels, just not one that can be trusted


def test_an_id_on_several_logged_rows_cannot_be_paired() -> None:
    joined = join_labels(log(["batch", "batch", "r2"]), labels(["batch", "r2"], ["a", "b"]),
                         "request_id", "request_id", "y")
    assert joined.ambiguous == ["batch"]
    assert joined.rows["request_id"].tolist() == ["r2"]
    assert "1 id(s) name more than one logged prediction, so their labels cannot be paired: batch" in joined.problems()


def test_ids_that_match_nothing_are_counted_and_listed() -> None:
    ids = [f"x{i}" for i in range(7)]
    joined = join_labels(log(["r1"]), labels(["r1", *ids], ["a"] * 8), "request_id", "request_id", "y")
    assert joined.unmatched == ids and len(joined.rows) == 1
    assert joined.problems() == ["7 label id(s) match no logged prediction in the window: x0, x1, x2, x3, x4 "
                                 "(and 2 more)"]


def test_rows_without_an_id_or_a_label_are_left_out() -> None:
    joined = join_labels(log(["r1", "r2"]), labels(["r1", None, "r2"], ["a", "b", None]), "request_id", "request_id",
                         "y")
    assert joined.blank == 2 and joined.rows["request_id"].tolist() == ["r1"]


def test_ids_join_whichever_way_each_file_typed_them() -> None:
    assert id_text(pd.Series([17, 18])).tolist() == ["17", "18"]
    assert id_text(pd.Series([17.0, np.nan])).tolist() == ["17", None]
    assert id_text(pd.Series(["17", None])).tolist() == ["17", None]
    joined = join_labels(pd.DataFrame({"customer": [17.0, 18.0], "prediction": [1.0, 0.0]}),
                         pd.DataFrame({"customer": [18, 17], "y": [0, 1]}), "customer", "customer", "y")
    assert joined.rows["customer"].tolist() == [17.0, 18.0] and joined.rows[LABEL].tolist() == [1, 0]


def test_predictions_take_the_labels_type_and_the_logged_class_order() -> None:
    rows = pd.DataFrame({"prediction": [1.0, 0.0], LABEL: [1, 1], "proba_0": [0.2, 0.9], "proba_1": [0.8, 0.1]})
    predictions, note = feedback_predictions(rows, "prediction", ["proba_0", "proba_1"], pd.Series([0, 1]))
    assert note is None
    assert predictions.y_pred.dtype == np.int64 and predictions.y_pred.tolist() == [1, 0]
    assert predictions.classes == [0, 1]
    assert predictions.proba is not None and predictions.proba.tolist() == [[0.2, 0.8], [0.9, 0.1]]


def test_rows_logged_without_probabilities_drop_them_with_a_note() -> None:
    rows = pd.DataFrame({"prediction": ["a", "b"], LABEL: ["a", "a"], "proba_a": [0.7, np.nan],
                         "proba_b": [0.3, np.nan]})
    predictions, note = feedback_predictions(rows, "prediction", ["proba_a", "proba_b"], pd.Series(["a"]))
    assert predictions.proba is None
    assert note is not None and note.startswith("1 joined row(s) were logged without probabilities")


def test_integer_slices_logged_as_numbers_group_like_the_holdout() -> None:
    rows = pd.DataFrame({"visits": [1.0, 2.0, np.nan], "plan": ["a", None, "b"]})
    groups = slice_groups(rows, ["visits", "plan", "absent"], integer=["visits"])
    assert groups == {"visits": [1, 2, None], "plan": ["a", None, "b"]}
