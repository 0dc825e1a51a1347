"""`mlcd feedback` over generated prediction logs and labels: metrics, refusals, exit codes, reports."""

from __future__ import annotations

import io
import json
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlcd.cli import main
from mlcd.evaluation.metrics import Predictions, compute_metrics
from mlcd.evaluation.slices import slice_metrics
from mlcd.monitoring.log_writer import PredictionLogWriter, make_row

T0 = datetime(2024, 5, 1, tzinfo=timezone.utc)
ROWS = 300
CONFIG = """\
    version: 1
    data: {path: data.csv}
    contract:
      label: churn
      columns:
        churn:   {dtype: category, allowed: ["no", "yes"]}
        age:     {dtype: float}
        plan:    {dtype: category, allowed: [basic, plus]}
    slices: [plan]
    model: {name: churn-model, path: model.skops}
    metrics: {accuracy: , log_loss: , roc_auc_ovr: }
    gates:
      metrics:
        accuracy: {min: %s}
    drift: {min_rows: 100}
    monitoring: {logs: logs}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """300 logged predictions (one a minute from T0, request ids r0…r299) and the truth for each."""
    rng = np.random.default_rng(5)
    (tmp_path / "mlcd.yaml").write_text(textwrap.dedent(CONFIG % "0.5"), encoding="utf-8")
    yes = rng.random(ROWS)
    truth = np.where(rng.random(ROWS) < yes, "yes", "no")
    plans = rng.choice(["basic", "plus"], ROWS)
    with PredictionLogWriter(tmp_path / "logs", clock=T0.timestamp) as writer:
        for i in range(ROWS):
            writer.log(make_row(model="churn-model", model_version="abc", request_id=f"r{i}",
                                features={"age": 30.0 + i % 40, "plan": str(plans[i])},
                                prediction="yes" if yes[i] > 0.5 else "no",
                                probabilities={"no": 1 - float(yes[i]), "yes": float(yes[i])},
                                ts=T0 + timedelta(minutes=i)))
    pd.DataFrame({"request_id": [f"r{i}" for i in range(ROWS)], "churn": truth}).to_csv(tmp_path / "labels.csv",
                                                                                       index=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def feedback(*args: str) -> int:
    return main(["feedback", "--labels", "labels.csv", *args])


def test_metrics_are_evaluates_on_the_joined_rows(project: Path) -> None:
    assert feedback() == 0
    document = json.loads((project / "feedback-metrics.json").read_text())
    labels = pd.read_csv(project / "labels.csv")
    rows = [json.loads(line) for f in sorted((project / "logs").iterdir()) for line in f.read_text().splitlines()]
    proba = np.array([[r["proba_no"], r["proba_yes"]] for r in rows])
    predictions = Predictions(labels["churn"].to_numpy(), np.array([r["prediction"] for r in rows]), proba,
                              ["no", "yes"])
    assert {k: document[k] for k in ("accuracy", "log_loss", "roc_auc_ovr")} == compute_metrics(
        ["accuracy", "log_loss", "roc_auc_ovr"], predictions)
    assert document["n_holdout"] == ROWS
    assert document["slices"] == slice_metrics({"plan": [r["plan"] for r in rows]}, predictions,
                                               ["accuracy", "log_loss", "roc_auc_ovr"])
    assert set(document["slice_gaps"]["plan"]) == {"accuracy", "log_loss", "roc_auc_ovr"}
    report = json.loads((project / "feedback.json").read_text())
    assert report["verdict"] == "passed" and report["joined_rows"] == ROWS and report["problems"] == []
    assert "## ✅ mlcd feedback: passed" in (project / "feedback.md").read_text()


def test_a_threshold_gate_failing_on_production_traffic_exits_3(project: Path,
                                                                terminal: io.StringIO) -> None:
    (project / "mlcd.yaml").write_text(textwrap.dedent(CONFIG % "0.99"), encoding="utf-8")
    assert feedback() == 3
    assert "gate(s) failed on production traffic: accuracy ≥ 0.99" in terminal.getvalue()
    assert json.loads((project / "feedback.json").read_text())["verdict"] == "below gates"
    assert (project / "feedback-metrics.json").is_file()
    assert feedback("--no-fail") == 0


def test_too_few_joined_rows_refuses_and_says_which_setting(project: Path, terminal: io.StringIO) -> None:
    assert feedback("--since", "2024-05-01T04:00:00Z", "--until", "2024-05-01T05:00:00Z") == 0
    err = terminal.getvalue()
    assert "60 labelled prediction(s) in the window, fewer than drift.min_rows (100)" in err
    assert "240 label id(s) are for predictions logged outside the window" in err  # late, not unmatched
    assert not (project / "feedback-metrics.json").exists()
    report = json.loads((project / "feedback.json").read_text())
    assert report["verdict"] == "not enough data" and report["metrics"] is None
    assert report["counts"]["late_ids"] == 240 and report["counts"]["unmatched_ids"] == 0
    assert feedback("--since", "2024-05-01T04:00:00Z", "--until", "2024-05-01T05:00:00Z", "--min-rows", "500") == 0
    assert "fewer than --min-rows (500)" in terminal.getvalue()


def test_unmatched_duplicate_and_late_labels_each_get_a_line(project: Path) -> None:
    labels = pd.read_csv(project / "labels.csv")
    extra = pd.DataFrame({"request_id": ["ghost-1", "ghost-2", "r0"], "churn": ["no", "yes", labels["churn"][0]]})
    pd.concat([labels, extra]).to_csv(project / "labels.csv", index=False)
    assert feedback("--last", "200") == 0
    report = json.loads((project / "feedback.json").read_text())
    assert report["joined_rows"] == 200
    assert report["counts"] == {"blank": 0, "duplicates": 1, "conflicting_ids": 0, "ambiguous_ids": 0,
                                "late_ids": 100, "unmatched_ids": 2, "unlabelled_predictions": 0}
    assert report["ids"]["unmatched"] == ["ghost-1", "ghost-2"]
    assert "2 label id(s) match no logged prediction: ghost-1, ghost-2" in report["problems"]


def test_conflicting_labels_exit_4_without_a_metric(project: Path, terminal: io.StringIO) -> None:
    labels = pd.read_csv(project / "labels.csv")
    flipped = "yes" if labels["churn"][3] == "no" else "no"
    pd.concat([labels, pd.DataFrame({"request_id": ["r3"], "churn": [flipped]})]).to_csv(project / "labels.csv",
                                                                                        index=False)
    assert feedback() == 4
    assert "labels.csv: 1 id(s) have different labels (r3) (fix: keep one label per id" in terminal.getvalue()
    assert not (project / "feedback-metrics.json").exists()
    assert json.loads((project / "feedback.json").read_text())["verdict"] == "conflicting labels"


def test_labels_keyed_by_a_logged_feature(project: Path) -> None:
    """--key pairs by a column in both files; ages repeat across rows, so every label is ambiguous."""
    pd.DataFrame({"age": [30.0, 31.0], "churn": ["no", "yes"]}).to_csv(project / "labels.csv", index=False)
    assert feedback("--key", "age", "--min-rows", "1") == 0
    report = json.loads((project / "feedback.json").read_text())
    assert report["counts"]["ambiguous_ids"] == 2 and report["ids"]["ambiguous"] == ["30", "31"]
    assert report["verdict"] == "not enough data"


def test_a_missing_column_names_the_file_and_option(project: Path, terminal: io.StringIO) -> None:
    assert feedback("--id-column", "ticket") == 4
    assert "labels.csv has no column 'ticket' (--id-column)" in terminal.getvalue()


def test_compressed_logs_and_parquet_labels_give_the_same_metrics(project: Path) -> None:
    assert feedback() == 0
    plain = json.loads((project / "feedback-metrics.json").read_text())
    rows = [json.loads(line) for f in sorted((project / "logs").iterdir()) for line in f.read_text().splitlines()]
    with PredictionLogWriter(project / "gz", clock=T0.timestamp, compress=True, batch_rows=7) as writer:
        for row in rows:
            writer.log(row)
    pd.read_csv(project / "labels.csv").to_parquet(project / "labels.parquet")
    assert main(["feedback", "--labels", "labels.parquet", "--logs", "gz", "--output", "gz.json"]) == 0
    assert json.loads((project / "gz.json").read_text()) == plain


def test_monitoring_labels_is_the_default_and_the_flags_override_its_pairing(project: Path,
                                                                             terminal: io.StringIO) -> None:
    assert feedback() == 0
    expected = json.loads((project / "feedback-metrics.json").read_text())
    labels = pd.read_csv(project / "labels.csv").rename(columns={"request_id": "ticket"})
    (project / "truth").mkdir()
    labels.iloc[:100].to_csv(project / "truth" / "a.csv", index=False)
    labels.iloc[100:].to_parquet(project / "truth" / "b.parquet")
    config = (project / "mlcd.yaml").read_text(encoding="utf-8")
    configured = "monitoring: {logs: logs, labels: {path: truth, id_column: ticket}}"
    (project / "mlcd.yaml").write_text(config.replace("monitoring: {logs: logs}", configured), encoding="utf-8")
    assert main(["feedback", "--output", "from-config.json"]) == 0
    assert json.loads((project / "from-config.json").read_text()) == expected
    assert main(["feedback", "--id-column", "request_id"]) == 4
    assert "truth/a.csv has no column 'request_id' (--id-column)" in terminal.getvalue()


def test_no_labels_anywhere_says_what_to_set(project: Path, terminal: io.StringIO) -> None:
    assert main(["feedback"]) == 2
    assert "no labels to join" in terminal.getvalue() and "monitoring.labels.path" in terminal.getvalue()
