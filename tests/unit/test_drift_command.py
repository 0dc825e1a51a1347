"""`mlcd drift` over generated prediction logs: exit codes, messages, outputs, windows."""

from __future__ import annotations

import io
import json
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mlcd.output
from mlcd.cli import main
from mlcd.monitoring.log_writer import PredictionLogWriter, make_row

T0 = datetime(2024, 5, 1, tzinfo=timezone.utc)
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
        income:  {dtype: float, nullable: true, min: 0}
        visits:  {dtype: int, min: 0}
        plan:    {dtype: category, allowed: [basic, plus, pro]}
        region:  {dtype: string}
        member:  {dtype: bool}
        signup:  {dtype: datetime, feature: false}
    model: {name: churn-model, path: models/model.skops}
    drift:
      min_rows: 200
    monitoring:
      logs: logs
      max_violation_rate: 0.01
"""


def features(rng: np.random.Generator, rows: int, age_shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame({
        "age": np.clip(rng.normal(45.0 + age_shift, 12.0, rows), 18, 120).round(1),
        "income": np.where(rng.random(rows) < 0.02, np.nan, rng.lognormal(10.5, 0.5, rows).round(2)),
        "visits": rng.poisson(4.0, rows),
        "plan": rng.choice(["basic", "plus", "pro"], rows, p=[0.6, 0.3, 0.1]),
        "region": rng.choice(["north", "south", "east", "west"], rows),
        "member": rng.random(rows) < 0.4,
    })


def write_logs(directory: Path, frame: pd.DataFrame, rng: np.random.Generator, start: datetime = T0) -> None:
    with PredictionLogWriter(directory, clock=start.timestamp, rotate_bytes=200_000) as writer:
        for i, values in enumerate(frame.to_dict("records")):
            proba = float(rng.random())
            writer.log(make_row(model="churn-model", model_version="9f86d081884c", request_id=f"req-{i}",
                                features=_plain(values), prediction="yes" if proba > 0.7 else "no",
                                probabilities={"no": 1 - proba, "yes": proba},
                                ts=start + timedelta(seconds=30 * i)))


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: None if isinstance(v, float) and np.isnan(v) else v for k, v in values.items()}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project whose training split and 2,000 logged rows (every 30 s from T0) share a distribution."""
    rng = np.random.default_rng(11)
    (tmp_path / "mlcd.yaml").write_text(textwrap.dedent(CONFIG), encoding="utf-8")
    (tmp_path / "data").mkdir()
    train = features(rng, 3000)
    train["churn"] = rng.choice(["no", "yes"], 3000, p=[0.7, 0.3])
    train["signup"] = "2023-01-01"
    train.to_csv(tmp_path / "data" / "train.csv", index=False)
    write_logs(tmp_path / "logs", features(rng, 2000), rng)
    return tmp_path


def drift(project: Path, *args: str) -> int:
    return main(["drift", "--config", str(project / "mlcd.yaml"), "--json", str(project / "out" / "drift.json"),
                 "--markdown", str(project / "out" / "drift.md"), *args])


def result(project: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((project / "out" / "drift.json").read_text(encoding="utf-8"))
    return loaded


def test_no_drift_exits_0_with_a_report(project: Path, terminal: io.StringIO) -> None:
    assert drift(project) == 0
    found = result(project)
    assert found["verdict"] == "no drift" and found["drifted"] == [] and not found["failed"]
    assert [c["column"] for c in found["columns"]] == ["age", "income", "visits", "plan", "region", "member"]
    assert found["prediction"]["test"] == "χ²"
    assert found["window"]["rows"] == 2000 and found["reference"]["rows"] == 3000
    assert found["thresholds"]["tests"] == 7 and found["skew"]["violating_rows"] == 0
    assert found["model_versions"] == {"9f86d081884c": 2000}
    assert len(found["buckets"]) == 12 and sum(b["rows"] for b in found["buckets"]) == 2000
    markdown = (project / "out" / "drift.md").read_text(encoding="utf-8")
    assert markdown.startswith("## ✅ mlcd drift: no drift in 6 features and the prediction\n")
    assert "✅ Every one of 2,000 rows keeps the data contract." in markdown
    assert "xychart-beta" in markdown
    text = terminal.getvalue()
    assert "no drift: 7 columns tested over 2,000 rows" in text
    assert "Traceback" not in text


def test_a_shifted_feature_exits_3_and_is_named(project: Path, terminal: io.StringIO) -> None:
    rng = np.random.default_rng(5)
    later = T0 + timedelta(days=1)
    write_logs(project / "logs", features(rng, 2000, age_shift=8.0), rng, start=later)
    assert drift(project, "--since", later.isoformat()) == 3
    found = result(project)
    assert found["verdict"] == "drift" and found["drifted"] == ["age"]
    text = terminal.getvalue()
    assert "DRIFT  age" in text
    last = text.rstrip().splitlines()[-1]
    assert last.startswith("error: drift in 1 of 7 columns: age (fix: see ")
    markdown = (project / "out" / "drift.md").read_text(encoding="utf-8")
    assert markdown.startswith("## ❌ mlcd drift: 1 of 7 columns drifted (age)\n")
    assert 'title "PSI of age per' in markdown


def test_a_bad_log_line_is_one_error_naming_file_and_line(project: Path, terminal: io.StringIO,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = sorted((project / "logs").iterdir())[0]
    rows = path.read_text(encoding="utf-8").splitlines()
    rows[41] = rows[41].replace('"visits":', '"visits":"many","_":')
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert drift(project) == 4
    errors = [line for line in terminal.getvalue().splitlines() if line.startswith("error:")]
    assert errors == [f"error: {path}:42: bad prediction log row: 'visits' is \"many\" (string), expected a number "
                      "(fix: each line must be one JSON object with 'ts' (ISO 8601) and the contract's features; "
                      "see docs/monitoring.md)"]
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err + terminal.getvalue()


def test_rows_that_break_the_contract_fail_as_skew(project: Path, terminal: io.StringIO) -> None:
    rng = np.random.default_rng(9)
    bad = features(rng, 2000)
    bad.loc[::20, "age"] = 250.0
    bad["visits"] = bad["visits"].astype("float64")
    bad.loc[1::40, "visits"] = np.nan
    later = T0 + timedelta(days=1)
    write_logs(project / "logs", bad, rng, start=later)
    assert drift(project, "--since", later.isoformat()) == 3
    found = result(project)
    assert found["verdict"] == "skew" and found["skew"]["violating_rows"] == 150
    age, visits = found["skew"]["findings"]
    assert age == "column 'age': 100 values above max 120 (e.g. 250.0)"
    assert visits.startswith("column 'visits': 50 missing values but nullable is false (e.g. at index 1, 41, 81)")
    assert "error: production rows break the data contract (training/serving skew)" in terminal.getvalue()
    assert "❌ 150 of 2,000 rows (7.50%) break the data contract" in (project / "out" / "drift.md").read_text()


def test_windows_by_time_and_by_count(project: Path, terminal: io.StringIO) -> None:
    since, until = T0 + timedelta(hours=2), T0 + timedelta(hours=10)
    assert drift(project, "--since", since.isoformat(), "--until", until.isoformat()) == 0
    assert result(project)["window"]["rows"] == 960  # every 30 s for 8 hours
    assert result(project)["window"]["first"] == "2024-05-01T02:00:00Z"
    assert drift(project, "--last", "700") == 0
    assert result(project)["window"]["rows"] == 700
    assert result(project)["window"]["last"] == (T0 + timedelta(seconds=30 * 1999)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert drift(project, "--last", "10", "--since", since.isoformat()) == 2
    assert "error: --last cannot be combined with --since or --until" in terminal.getvalue()


def test_too_few_rows_warn_and_exit_0(project: Path, terminal: io.StringIO) -> None:
    assert drift(project, "--last", "50") == 0
    assert result(project)["verdict"] == "not enough data"
    assert "warning: not enough rows to decide: 50 in the window" in terminal.getvalue()
    assert "## ⚠️ mlcd drift: not enough rows to decide" in (project / "out" / "drift.md").read_text()


def test_on_github_it_annotates_summarises_and_sets_outputs(project: Path, monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    later = T0 + timedelta(days=1)
    write_logs(project / "logs", features(rng, 2000, age_shift=8.0), rng, start=later)
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs"
    stream = io.StringIO()
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(outputs)}
    monkeypatch.setattr(mlcd.output, "_default", mlcd.output.Output(stream, env))
    assert drift(project, "--since", later.isoformat()) == 3
    assert summary.read_text(encoding="utf-8").startswith("## ❌ mlcd drift: 1 of 7 columns drifted (age)")
    written = outputs.read_text(encoding="utf-8")
    assert "drifted=true\n" in written and "drifted-columns=age\n" in written
    assert "::error title=drift::'age' drifted: PSI " in stream.getvalue()


def test_predictions_compare_with_a_predictions_file(project: Path, terminal: io.StringIO) -> None:
    pd.DataFrame({"row": range(1000), "y_true": "no",
                  "y_pred": np.where(np.arange(1000) % 10 < 3, "yes", "no")}).to_csv(project / "p.csv", index=False)
    assert drift(project, "--reference-predictions", str(project / "p.csv")) == 0
    assert result(project)["prediction"]["reference_rows"] == 1000
    (project / "q.csv").write_text("row,label\n1,no\n", encoding="utf-8")
    assert drift(project, "--reference-predictions", str(project / "q.csv")) == 4
    assert "has no 'prediction' or 'y_pred' column" in terminal.getvalue()


def test_missing_settings_say_what_to_set(project: Path, terminal: io.StringIO) -> None:
    config = project / "mlcd.yaml"
    config.write_text(config.read_text().replace("  logs: logs\n", "").replace(
        "  splits: {train: data/train.csv, test: data/test.csv}\n", ""), encoding="utf-8")
    assert drift(project) == 2
    assert "error: no prediction logs to read (fix: pass --logs DIR, or set monitoring.logs" in terminal.getvalue()
    assert drift(project, "--logs", str(project / "logs")) == 2
    assert "error: no reference: data.splits.train is not set in mlcd.yaml" in terminal.getvalue()
    assert drift(project, "--logs", str(project / "logs"), "--reference", str(project / "data" / "train.csv")) == 0


def test_if_configured_without_logs_is_a_notice_and_verdict_not_configured(
        project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = project / "mlcd.yaml"
    config.write_text(config.read_text().replace("  logs: logs\n", ""), encoding="utf-8")
    outputs, stream = tmp_path / "outputs", io.StringIO()
    env = {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(outputs)}
    monkeypatch.setattr(mlcd.output, "_default", mlcd.output.Output(stream, env))
    assert drift(project, "--if-configured") == 0
    assert outputs.read_text(encoding="utf-8") == "verdict=not configured\n"
    assert "::notice title=mlcd drift%3A not configured::no prediction logs to measure drift on" in stream.getvalue()
    assert not (project / "out" / "drift.json").exists()
    assert drift(project, "--if-configured", "--logs", str(project / "logs")) == 0  # configured: measured
    assert (project / "out" / "drift.json").exists()


def test_an_empty_window_is_not_enough_data(project: Path, terminal: io.StringIO) -> None:
    assert drift(project, "--since", "2030-01-01T00:00:00Z", "--until", "2030-01-02T00:00:00Z") == 0
    found = result(project)
    assert found["verdict"] == "not enough data" and found["window"]["rows"] == 0
    assert found["window"]["files_read"] == 0
    assert found["window"]["files_total"] == len(list((project / "logs").iterdir()))


def test_a_feature_named_like_a_log_field_is_refused(project: Path, terminal: io.StringIO) -> None:
    config = project / "mlcd.yaml"
    config.write_text(config.read_text().replace("region:", "request_id:"), encoding="utf-8")
    assert drift(project) == 2
    assert "error: contract.columns: request_id clash with the prediction log's own fields" in terminal.getvalue()


def test_run_drift_is_the_library_call_behind_the_command(project: Path) -> None:
    from dataclasses import replace

    from mlcd.config import load_config
    from mlcd.monitoring.run import DriftRequest, run_drift

    rng = np.random.default_rng(5)
    later = T0 + timedelta(days=1)
    write_logs(project / "logs", features(rng, 2000, age_shift=8.0), rng, start=later)
    config = load_config(str(project / "mlcd.yaml"))
    out = mlcd.output.Output(io.StringIO(), {})
    shifted = run_drift(config, DriftRequest(since=later.isoformat()), out)
    assert shifted is not None and shifted.verdict == "drift" and shifted.result.drifted == ("age",)
    failure = shifted.failure("drift.md")
    assert failure is not None and failure.exit_code == 3 and failure.failures[0].startswith("'age' drifted: ")
    assert json.loads(shifted.json())["drifted"] == ["age"]
    steady = run_drift(config, DriftRequest(until=later.isoformat()), out)
    assert steady is not None and steady.verdict == "no drift" and steady.failure("drift.md") is None
    unconfigured = replace(config, monitoring=replace(config.monitoring, logs=None))
    assert run_drift(unconfigured, DriftRequest(if_configured=True), out) is None
