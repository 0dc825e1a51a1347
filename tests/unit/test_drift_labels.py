"""`mlcd drift` with labels configured: the production metrics on the window's labelled predictions join
the verdict (below gates), the report and the decision to retrain, which the drift workflow only reads."""

from __future__ import annotations

import io
import json
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pandas as pd
import pytest

import mlcd.output
from mlcd.cli import main
from mlcd.config import validate_text
from mlcd.monitoring.log_writer import PredictionLogWriter, make_row

T0 = datetime(2024, 5, 1, tzinfo=timezone.utc)
ROWS = 1000
CONFIG = """\
    version: 1
    data:
      path: data/train.csv
      splits: {train: data/train.csv, test: data/test.csv}
    contract:
      label: churn
      columns:
        churn:   {dtype: category, allowed: ["no", "yes"]}
        age:     {dtype: float, min: 18, max: 120}
        plan:    {dtype: category, allowed: [basic, plus, pro]}
    slices: [plan]
    model: {name: churn-model, path: models/model.skops}
    metrics: {accuracy: }
    gates:
      metrics:
        accuracy: {min: 0.8}
    drift: {min_rows: 200}
    monitoring:
      logs: logs
"""


def features(rng: np.random.Generator, rows: int, age_shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame({"age": np.clip(rng.normal(45.0 + age_shift, 12.0, rows), 18, 120).round(1),
                         "plan": rng.choice(["basic", "plus", "pro"], rows, p=[0.6, 0.3, 0.1])})


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Training data and 1,000 logged predictions (req-0 … req-999, every 30 s from T0) from one
    distribution; predictions.csv holds what was predicted for each request id."""
    rng = np.random.default_rng(3)
    (tmp_path / "mlcd.yaml").write_text(textwrap.dedent(CONFIG), encoding="utf-8")
    (tmp_path / "data").mkdir()
    train = features(rng, 3000)
    train["churn"] = rng.choice(["no", "yes"], 3000, p=[0.7, 0.3])
    train.to_csv(tmp_path / "data" / "train.csv", index=False)
    write_logs(tmp_path, features(rng, ROWS), rng)
    return tmp_path


def write_logs(project: Path, frame: pd.DataFrame, rng: np.random.Generator) -> None:
    predicted = rng.choice(["no", "yes"], len(frame), p=[0.7, 0.3])
    with PredictionLogWriter(project / "logs", clock=T0.timestamp) as writer:
        for i, values in enumerate(frame.to_dict("records")):
            writer.log(make_row(model="churn-model", model_version="9f86d081884c", request_id=f"req-{i}",
                                features=values, prediction=str(predicted[i]), ts=T0 + timedelta(seconds=30 * i)))
    pd.DataFrame({"request_id": [f"req-{i}" for i in range(len(frame))], "predicted": predicted}).to_csv(
        project / "predictions.csv", index=False)


def labels(project: Path, right: float, seed: int = 0) -> pd.DataFrame:
    """The truth for every logged request: the prediction on a ``right`` share of rows, the other label
    on the rest."""
    predicted = pd.read_csv(project / "predictions.csv")
    wrong = np.random.default_rng(seed).random(len(predicted)) >= right
    truth = np.where(wrong, np.where(predicted["predicted"] == "yes", "no", "yes"), predicted["predicted"])
    return pd.DataFrame({"request_id": predicted["request_id"], "churn": truth})


def drift(project: Path, *args: str) -> int:
    return main(["drift", "--config", str(project / "mlcd.yaml"), "--json", str(project / "out" / "drift.json"),
                 "--markdown", str(project / "out" / "drift.md"), *args])


def result(project: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((project / "out" / "drift.json").read_text(encoding="utf-8"))
    return loaded


def on_github(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[io.StringIO, Path, Path]:
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs"
    stream = io.StringIO()
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(outputs)}
    monkeypatch.setattr(mlcd.output, "_default", mlcd.output.Output(stream, env))
    return stream, summary, outputs


def outputs_of(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines() if "=" in line)


def test_labels_that_meet_the_gates_leave_the_verdict_to_drift(project: Path, terminal: io.StringIO) -> None:
    labels(project, right=0.9).to_csv(project / "labels.csv", index=False)
    assert drift(project, "--labels", "labels.csv") == 0
    found = result(project)
    assert found["verdict"] == "no drift" and not found["failed"] and found["retrain"] == []
    feedback = found["feedback"]
    assert feedback["verdict"] == "passed" and feedback["joined_rows"] == ROWS
    expected = (labels(project, right=0.9)["churn"] == pd.read_csv(project / "predictions.csv")["predicted"]).mean()
    assert feedback["metrics"]["accuracy"] == pytest.approx(expected)
    report = (project / "out" / "drift.md").read_text(encoding="utf-8")
    assert report.startswith("## ✅ mlcd drift: no drift") and "\n### ✅ mlcd feedback: passed\n" in report
    assert report.split("\n")[1] == "" and report.split("\n")[2].startswith("**churn-model**")


def test_a_shifted_label_window_fails_below_the_gates_and_asks_for_retraining(
        project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    labels(project, right=0.6).to_csv(project / "labels.csv", index=False)
    stream, summary, outputs = on_github(monkeypatch, tmp_path)
    assert drift(project, "--labels", "labels.csv") == 3
    found = result(project)
    assert found["verdict"] == "below gates" and found["drifted"] == [] and found["failed"]
    assert found["feedback"]["metrics"]["accuracy"] < 0.8
    assert found["retrain"] == ["production accuracy below the gates"]
    written = outputs_of(outputs)
    assert written["verdict"] == "below gates" and written["failing-metrics"] == "accuracy"
    assert written["retrain"] == "true" and written["retrain-reason"] == "production accuracy below the gates"
    summarised = summary.read_text(encoding="utf-8")
    assert summarised.startswith("## ❌ mlcd drift: production accuracy below the gates\n\n**churn-model**")
    assert "::error title=production metrics below a gate::accuracy" in stream.getvalue()


def test_drift_and_labels_below_the_gates_give_both_reasons_and_drift_names_the_issue(
        project: Path, terminal: io.StringIO) -> None:
    rng = np.random.default_rng(8)
    (project / "logs").rename(project / "old-logs")
    write_logs(project, features(rng, ROWS, age_shift=10.0), rng)
    labels(project, right=0.6).to_csv(project / "labels.csv", index=False)
    assert drift(project, "--labels", "labels.csv") == 3
    found = result(project)
    assert found["verdict"] == "drift" and found["drifted"] == ["age"]
    assert found["retrain"] == ["drift in production", "production accuracy below the gates"]


def test_skew_never_asks_for_retraining_even_below_the_gates(project: Path, terminal: io.StringIO) -> None:
    rng = np.random.default_rng(9)
    (project / "logs").rename(project / "old-logs")
    broken = features(rng, ROWS)
    broken.loc[: ROWS // 30, "age"] = np.nan  # 3% of the rows break the contract (age is not nullable)
    write_logs(project, broken, rng)
    labels(project, right=0.6).to_csv(project / "labels.csv", index=False)
    assert drift(project, "--labels", "labels.csv") == 3
    found = result(project)
    assert found["verdict"] == "skew" and found["feedback"]["verdict"] == "below gates"
    assert found["retrain"] == []


def test_configured_labels_in_a_directory_of_csv_and_parquet_files_or_an_fsspec_url(
        project: Path, terminal: io.StringIO) -> None:
    truth = labels(project, right=0.6)
    assert drift(project, "--labels", _write(project / "labels.csv", truth)) == 3
    expected = result(project)["feedback"]["metrics"]

    (project / "labels").mkdir()
    truth.iloc[:400].to_csv(project / "labels" / "2024-05-01.csv", index=False)
    truth.iloc[400:].to_parquet(project / "labels" / "2024-05-02.parquet")
    (project / "labels" / "README.txt").write_text("not labels", encoding="utf-8")
    config = (project / "mlcd.yaml").read_text(encoding="utf-8")
    (project / "mlcd.yaml").write_text(config + "  labels: {path: labels}\n", encoding="utf-8")
    assert drift(project) == 3
    assert result(project)["feedback"]["metrics"] == expected
    assert result(project)["feedback"]["label_rows"] == ROWS

    with fsspec.open("memory://bucket/labels/all.csv", "w") as handle:
        truth.to_csv(handle, index=False)
    assert drift(project, "--labels", "memory://bucket/labels") == 3
    assert result(project)["feedback"]["metrics"] == expected


def _write(path: Path, frame: pd.DataFrame) -> str:
    frame.to_csv(path, index=False)
    return path.name


def test_labels_without_the_id_column_name_the_file_and_the_field(project: Path, terminal: io.StringIO) -> None:
    labels(project, right=0.9).rename(columns={"request_id": "ticket"}).to_csv(project / "labels.csv", index=False)
    config = (project / "mlcd.yaml").read_text(encoding="utf-8")
    (project / "mlcd.yaml").write_text(config + "  labels: {path: labels.csv, id_column: ticket_id}\n",
                                       encoding="utf-8")
    assert drift(project) == 4
    assert "labels.csv has no column 'ticket_id' (monitoring.labels.id_column); it has ticket, churn" in \
        terminal.getvalue()
    assert "Traceback" not in terminal.getvalue()


def test_conflicting_labels_fail_the_run_after_the_report_is_written(project: Path, terminal: io.StringIO) -> None:
    truth = labels(project, right=0.9)
    flipped = truth.iloc[:3].assign(churn=lambda f: np.where(f["churn"] == "yes", "no", "yes"))
    pd.concat([truth, flipped]).to_csv(project / "labels.csv", index=False)
    assert drift(project, "--labels", "labels.csv") == 4
    assert result(project)["feedback"]["verdict"] == "conflicting labels"
    assert "3 id(s) have different labels (req-0, req-1, req-2)" in terminal.getvalue()


def test_id_column_and_key_together_are_one_config_error_at_its_line() -> None:
    text = textwrap.dedent(CONFIG) + "  labels: {path: labels.csv, id_column: ticket, key: age}\n"
    _, problems = validate_text(text, "mlcd.yaml")
    assert [str(p.message) for p in problems] == ["monitoring.labels: id_column and key are both set"]
    assert problems[0].location is not None and problems[0].location.line == 20


@pytest.mark.parametrize(("where", "expected"), [
    ("nosuch://bucket/labels", "cannot open labels nosuch://bucket/labels: "),
    ("missing.csv", "missing.csv do not exist"),
    ("logs", "no labels in "),
])
def test_labels_that_cannot_be_read_are_one_line_naming_where(project: Path, terminal: io.StringIO, where: str,
                                                              expected: str) -> None:
    assert drift(project, "--labels", where) == 4
    printed = terminal.getvalue()
    assert expected in printed and "Traceback" not in printed
    assert not (project / "out" / "drift.json").exists()
