"""One reader of what runs where (the promotion record, read as GTO reads it): `compare`, `drift`'s
reference and `status` agree on a hand-made lightweight tag (ignored) and on an unassignment (production
then holds nothing)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlcd import record
from mlcd.config import load_config
from mlcd.monitoring.reference import reference_revision
from testing.configs import MINIMAL_CONFIG
from testing.promotion import record_promotion
from testing.repos import git, mlcd

pytestmark = pytest.mark.integration

def what_each_command_says(repo: Path) -> tuple[str | None, str, str | None]:
    """(compare's production commit, drift's reference commit, status's production version)."""
    assert mlcd(repo, "compare", "--no-fail").returncode == 0
    production = json.loads((repo / "comparison.json").read_text())["production"]
    reference = reference_revision(load_config(repo / "mlcd.yaml"), "production").commit
    status = mlcd(repo, "status", "--json", "--no-fetch")
    assert status.returncode == 0, status.stderr
    current = json.loads(status.stdout)["environments"]["production"]["current"]
    return (production["rev"] if production else None), reference, (current["version"] if current else None)


def test_a_lightweight_tag_and_an_unassignment_are_read_the_same_way_by_every_command(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "mlcd.yaml").write_text(MINIMAL_CONFIG + "metrics: {accuracy:}\n"
                                    "gates: {metrics: {accuracy: {max_regression_vs_production: 0.02}}}\n"
                                    "deploy: {push: false}\n")
    (repo / "metrics.json").write_text('{"accuracy": 0.9}')
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "the model promoted to production")
    promoted = git(repo, "rev-parse", "HEAD").strip()
    record_promotion(repo, "demo", "v0.0.1", promoted, 1)
    (repo / "metrics.json").write_text('{"accuracy": 0.5}')
    git(repo, "commit", "-qam", "a later model, never promoted")
    git(repo, "tag", "demo#production#2")  # lightweight, by hand: GTO and mlcd promote ignore it
    head = git(repo, "rev-parse", "HEAD").strip()

    assert what_each_command_says(repo) == (promoted, promoted, "v0.0.1")

    record.create_tags(repo, [record.NewTag(
        record.unassignment_tag("demo", "production", 3), promoted,
        record.tag_message(record.summary_line("unassign", "demo", "v0.0.1", "production"),
                           {"environment": "production", "version": "v0.0.1"}))],
        record.Identity("release-bot", "bot@localhost"), not_before=record.History.read(repo, "demo").latest_time())

    assert what_each_command_says(repo) == (None, head, None)  # nothing in production: drift reads HEAD
