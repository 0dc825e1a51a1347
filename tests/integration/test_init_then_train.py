"""The pipeline `mlcd init --train` writes, run for real: a repository holding only a CSV and a training
script trains (split → the script → evaluate) with lineage, passes its data test, and a second
`mlcd train` reuses every stage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from testing.fresh import make_fresh_repo
from testing.release import SAMPLE_SHA
from testing.repos import mlcd

pytestmark = pytest.mark.integration


def test_init_train_then_mlcd_train(tmp_path: Path, penguins_csv: Path) -> None:
    repo = make_fresh_repo(tmp_path / "fresh", penguins_csv)
    result = mlcd(repo, "init", "--data", "data.csv", "--label", "species", "--train", "train.py",
                  "--ref", f"mlcd-dev/mlcd@{SAMPLE_SHA}")
    assert result.returncode == 0, result.stderr

    result = mlcd(repo, "train")
    assert result.returncode == 0, result.stderr
    lineage = json.loads((repo / "models" / "model.lineage.json").read_text())
    assert lineage["seed"] == 42 and {"data.csv", "data/split/train.csv", "models/model.skops"} <= set(lineage["data"])
    metrics = json.loads((repo / "metrics.json").read_text())
    assert metrics["accuracy"] > 0.9
    assert json.loads((repo / "gates.json").read_text())
    assert mlcd(repo, "data", "test").returncode == 0

    again = mlcd(repo, "train")
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("didn't change, skipping") == 3, again.stderr
