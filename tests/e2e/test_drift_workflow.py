"""The continuous-training workflows that `mlcd init` writes, run for real with act against the
OpenAPI-validated GitHub stand-in.

mlcd-drift.yml runs on ``schedule``, whose payload GitHub's webhook schemas do not describe (GitHub sends
no webhook for it), so the scheduled run gets the minimal payload Actions gives a scheduled run
(``{"schedule": CRON}``); its second run is a ``workflow_dispatch``, validated like every other payload.
The DVC remote is a directory outside the repository, as a bucket would be: the workflows read the
training data through DVC, never from the test's work tree.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mlcd.monitoring.log_writer import make_row
from testing import webhooks
from testing.act import Act, ActRun
from testing.github_standin import GitHubStandin
from testing.repos import git, mlcd, tool_env

from .conftest import REPO

pytestmark = pytest.mark.e2e

FEATURES = ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"]


def use_remote_outside(repo: Path, storage: Path) -> None:
    """The DVC remote becomes a directory outside the repository (the stand-in for a bucket), holding
    every output of main's pipeline."""
    run_dvc(repo, "remote", "modify", "local", "url", str(storage))
    run_dvc(repo, "push", "--quiet")
    git(repo, "commit", "-qm", "DVC remote outside the repository", "--", ".dvc/config")


def run_dvc(repo: Path, *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, capture_output=True, text=True,
                          env=tool_env(), timeout=600, check=False)
    assert done.returncode == 0, f"dvc {' '.join(args)}: {done.stdout}{done.stderr}"


def write_prediction_log(repo: Path, directory: Path, shifts: dict[str, float], rows: int = 600,
                         seed: int = 0) -> None:
    """Rows like the training data, with ``shifts`` added to numeric features, as `mlcd serve` logs them."""
    frame = pd.read_csv(repo / "data" / "prepared" / "train.csv")
    picked = frame.sample(n=rows, replace=True, random_state=seed)
    model = yaml.safe_load((repo / "mlcd.yaml").read_text())["model"]["name"]
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / f"predictions-20260101-000000-{seed}.jsonl").open("w", encoding="utf-8") as handle:
        for number, (_, record) in enumerate(picked.iterrows()):
            features = {name: (None if pd.isna(record[name]) else record[name]) for name in FEATURES}
            for name, shift in shifts.items():
                if features[name] is not None:
                    features[name] = float(features[name]) + shift
            row = make_row(model=model, model_version="0123456789ab", request_id=f"r{seed}-{number}",
                           features=features, prediction=record["species"])
            handle.write(json.dumps(row) + "\n")


def report_times(name: str, run: ActRun) -> None:
    print(f"act {name}: exit {run.returncode} in {run.seconds:.1f}s; log {run.log}")
    for step, seconds in sorted(run.step_seconds().items(), key=lambda item: -item[1])[:8]:
        print(f"  {seconds:7.1f}s  {step}")


@pytest.fixture
def monitored(user_repo: Path, github_standin: GitHubStandin, tmp_path: Path) -> tuple[Path, GitHubStandin]:
    use_remote_outside(user_repo, tmp_path / "dvc-remote")
    github_standin.add_repository(REPO)
    github_standin.add_workflow(REPO, "mlcd-retrain.yml", ["reason"])
    github_standin.permissions["actions"] = "write"
    return user_repo, github_standin


def write_shifted_labels(repo: Path, path: Path, wrong: float, seed: int = 0, rows: int = 600) -> None:
    """The truth that arrives later for the rows :func:`write_prediction_log` logged with ``seed``: another
    species than the one predicted for a ``wrong`` share of them (the world moved, the inputs did not)."""
    frame = pd.read_csv(repo / "data" / "prepared" / "train.csv")
    predicted = frame.sample(n=rows, replace=True, random_state=seed)["species"].to_numpy()
    species = sorted(frame["species"].unique())
    flip = np.random.default_rng(seed).random(rows) < wrong
    truth = [species[(species.index(p) + 1) % len(species)] if f else p for p, f in zip(predicted, flip, strict=True)]
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"request_id": [f"r{seed}-{n}" for n in range(rows)], "species": truth}).to_csv(path, index=False)


def test_labels_below_the_gates_open_the_issue_then_drift_updates_it_and_each_starts_retraining(
        act: Act, monitored: tuple[Path, GitHubStandin], tmp_path: Path) -> None:
    repo, standin = monitored
    logs, labels = tmp_path / "prediction-logs", tmp_path / "labels"
    write_prediction_log(repo, logs, {})  # inputs as in training: no drift
    write_shifted_labels(repo, labels / "day-1.csv", wrong=0.3)
    workflow = repo / ".github" / "workflows" / "mlcd-drift.yml"
    settings = {"env": {"GITHUB_API_URL": standin.url}, "secrets": {"GITHUB_TOKEN": standin.token},
                "variables": {"MLCD_PREDICTION_LOGS": str(logs), "MLCD_LABELS": str(labels)}}

    scheduled = act.run("schedule", {"schedule": "23 5 * * *"}, repo, workflow, **settings)
    report_times("schedule", scheduled)
    assert scheduled.returncode == 0, scheduled.output[-8000:]

    stored = standin.repositories[REPO]
    [(number, issue)] = stored.issues.items()
    assert issue["state"] == "open" and issue["labels"] == ["mlcd-drift"]
    title = str(issue["title"])
    below = re.fullmatch(r"mlcd: production ([a-z0-9_]+(?:, [a-z0-9_]+)*) below the gates on labelled traffic", title)
    assert below and "accuracy" in below[1].split(", "), title
    body = str(issue["body"])
    assert body.startswith("<!-- mlcd:drift -->\n## ❌ mlcd drift: production accuracy")
    assert "### ❌ mlcd feedback: below gates" in body and "600 labelled prediction(s) of 600 logged" in body
    assert stored.dispatches == [{"workflow": "mlcd-retrain.yml", "ref": "main",
                                  "inputs": {"reason": f"production {below[1]} below the gates, "
                                                       f"https://github.com/{REPO}/issues/{number}"}}]

    write_prediction_log(repo, logs, {"flipper_length_mm": 15.0}, seed=1)  # the next day: the inputs moved
    event = webhooks.workflow_dispatch(REPO, workflow=".github/workflows/mlcd-drift.yml")
    again = act.run("workflow_dispatch", event, repo, workflow, **settings)
    report_times("workflow_dispatch (drift)", again)
    assert again.returncode == 0, again.output[-8000:]

    assert list(stored.issues) == [number], "the second run must update the issue, not open another"
    assert str(stored.issues[number]["title"]) == "mlcd: drift in production inputs (flipper_length_mm)"
    assert "xychart-beta" in str(stored.issues[number]["body"])
    assert len(standin.calls("issues/create")) == 1 and len(standin.calls("issues/update")) == 1
    assert stored.dispatches[1]["inputs"]["reason"].startswith(
        f"drift in production; production {below[1]} below the gates, https://github.com/{REPO}/issues/")


def test_retraining_on_a_new_data_version_opens_a_pull_request(act: Act, monitored: tuple[Path, GitHubStandin],
                                                               tmp_path: Path) -> None:
    repo, standin = monitored
    # The user's data is versioned with `dvc add` (the template's README, "Use your own data").
    pipeline = yaml.safe_load((repo / "dvc.yaml").read_text())
    del pipeline["stages"]["fetch"]
    (repo / "dvc.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    run_dvc(repo, "add", "--quiet", "data/raw/penguins.csv")
    assert mlcd(repo, "train").returncode == 0
    run_dvc(repo, "push", "--quiet")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "Track the raw data with dvc add")
    # A new data version, pushed without retraining: the Gentoo penguins of 2009 are gone.
    raw = pd.read_csv(repo / "data" / "raw" / "penguins.csv")
    raw[~((raw["species"] == "Gentoo") & (raw["year"] == 2009))].to_csv(repo / "data" / "raw" / "penguins.csv",
                                                                         index=False)
    run_dvc(repo, "add", "--quiet", "data/raw/penguins.csv")
    run_dvc(repo, "push", "--quiet", "data/raw/penguins.csv.dvc")
    git(repo, "commit", "-qm", "New data version", "--", "data/raw/penguins.csv.dvc")
    main = git(repo, "rev-parse", "HEAD").strip()
    lock_before = (repo / "dvc.lock").read_text()

    event = webhooks.workflow_dispatch(REPO, workflow=".github/workflows/mlcd-retrain.yml",
                                       inputs={"reason": "new penguins"})
    run = act.run("workflow_dispatch", event, repo, repo / ".github" / "workflows" / "mlcd-retrain.yml",
                  env={"GITHUB_API_URL": standin.url}, secrets={"GITHUB_TOKEN": standin.token})
    report_times("workflow_dispatch (retrain)", run)
    assert run.returncode == 0, run.output[-8000:]

    [pull] = standin.repositories[REPO].pulls.values()
    assert (pull["head"], pull["base"], pull["state"]) == ("mlcd/retrain", "main", "open")
    assert pull["title"] == "Retrain the model on the newest data"
    assert pull["body"].startswith("> Retrained by mlcd: new penguins\n")
    assert "| accuracy ↑ |" in pull["body"]
    branch = git(repo, "rev-parse", "refs/heads/mlcd/retrain").strip()
    assert git(repo, "rev-parse", f"{branch}^").strip() == main
    changed = set(git(repo, "diff", "--name-only", main, branch).split())
    assert changed == {"dvc.lock", "metrics.json"}
    assert git(repo, "show", f"{branch}:dvc.lock") != lock_before
    assert git(repo, "log", "-1", "--format=%an", branch).strip() == "github-actions[bot]"
