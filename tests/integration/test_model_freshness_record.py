"""monitoring.max_model_age against a real promotion record: tags dated in the past in a git repository,
read by `mlcd drift` (drift or not, logs or not), and the verdict `mlcd alert` and the drift workflow act on."""

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

from mlcd.cli import main
from mlcd.monitoring.log_writer import PredictionLogWriter, make_row
from testing.promotion import record_promotion
from testing.repos import git

pytestmark = pytest.mark.integration

MODEL = "churn-model"
CONFIG = """\
    version: 1
    data:
      path: data/train.csv
      splits: {train: data/train.csv, test: data/test.csv}
    contract:
      label: churn
      columns:
        churn: {dtype: category, allowed: ["no", "yes"]}
        age:   {dtype: float, min: 18, max: 120}
        plan:  {dtype: category, allowed: [basic, plus, pro]}
    model: {name: churn-model, path: models/model.skops}
    drift: {min_rows: 200}
    monitoring:
      max_model_age: 30d
"""


def features(rng: np.random.Generator, rows: int) -> pd.DataFrame:
    return pd.DataFrame({"age": np.clip(rng.normal(45.0, 12.0, rows), 18, 120).round(1),
                         "plan": rng.choice(["basic", "plus", "pro"], rows, p=[0.6, 0.3, 0.1])})


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A git repository whose training split and 1,000 recent logged rows share a distribution."""
    rng = np.random.default_rng(5)
    (tmp_path / "mlcd.yaml").write_text(textwrap.dedent(CONFIG), encoding="utf-8")
    (tmp_path / "data").mkdir()
    train = features(rng, 2000)
    train["churn"] = rng.choice(["no", "yes"], 2000, p=[0.7, 0.3])
    train.to_csv(tmp_path / "data" / "train.csv", index=False)
    start = datetime.now(timezone.utc) - timedelta(days=1)
    with PredictionLogWriter(tmp_path / "logs", clock=start.timestamp) as writer:
        for i, values in enumerate(features(rng, 1000).to_dict("records")):
            writer.log(make_row(model=MODEL, model_version="9f86d081884c", request_id=f"r{i}", features=values,
                                prediction=str(rng.choice(["no", "yes"], p=[0.7, 0.3])),
                                ts=start + timedelta(seconds=30 * i)))
    git(tmp_path, "init", "-q", "-b", "main")
    return tmp_path


def promoted(project: Path, days_ago: float, version: str = "v0.0.3", number: int = 1) -> None:
    git(project, "commit", "-q", "--allow-empty", "-m", f"train {version}")
    record_promotion(project, MODEL, version, git(project, "rev-parse", "HEAD").strip(), number,
                     at=datetime.now(timezone.utc) - timedelta(days=days_ago))


def drift(project: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    out = project / "out"
    code = main(["drift", "--config", str(project / "mlcd.yaml"), "--json", str(out / "drift.json"),
                 "--markdown", str(out / "drift.md"), *args])
    if not (out / "drift.json").exists():
        return code, {}, ""
    return code, json.loads((out / "drift.json").read_text()), (out / "drift.md").read_text()


REASON = "the production model v0.0.3 is 41 days old, older than monitoring.max_model_age 30d"


def test_an_old_model_fails_without_drift_with_its_own_reason(project: Path, terminal: io.StringIO) -> None:
    promoted(project, 41.5)
    code, found, report = drift(project, "--logs", str(project / "logs"))
    assert code == 3
    assert found["verdict"] == "stale" and found["failed"] and found["drifted"] == []
    assert found["model_age"]["version"] == "v0.0.3" and found["model_age"]["stale"]
    assert found["model_age"]["tag"] == f"{MODEL}@v0.0.3"
    assert f"> ❌ T{REASON[1:]}" in report and "### Features" in report
    title, blank, note, after, body = report.split("\n")[:5]
    assert title.startswith("## ❌ mlcd drift") and blank == after == "" and note.startswith("> ❌ T")
    assert body.startswith("**"), "the note is a paragraph of its own, not the start of a longer quote"
    assert f"error: {REASON} (fix: see " in terminal.getvalue()


def test_without_logs_an_old_model_still_goes_to_the_alert(project: Path, terminal: io.StringIO) -> None:
    promoted(project, 41.5)
    code, found, report = drift(project, "--if-configured")
    assert code == 3 and found["verdict"] == "stale" and found["model_age"]["age_days"] > 41
    assert report.startswith("## ❌ mlcd drift: the production model is stale\n")
    assert REASON[1:] in report


def test_a_retrained_model_is_fresh_again(project: Path, terminal: io.StringIO) -> None:
    promoted(project, 41.5)
    promoted(project, 2, version="v0.0.4", number=2)
    code, found, _ = drift(project, "--logs", str(project / "logs"))
    assert code == 0 and found["verdict"] == "no drift"
    assert found["model_age"]["version"] == "v0.0.4" and not found["model_age"]["stale"]
    assert drift(project, "--if-configured")[0] == 0  # no logs, a fresh model: nothing to say
    assert "no prediction logs to measure drift on" in terminal.getvalue()


def test_no_production_model_has_no_age(project: Path, terminal: io.StringIO) -> None:
    code, found, _ = drift(project, "--logs", str(project / "logs"))
    assert code == 0, terminal.getvalue()
    assert found["verdict"] == "no drift" and found["model_age"] is None
