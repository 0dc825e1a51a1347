"""Continuous training in real git and DVC: the newest data version (`dvc pull` of `dvc add` files; imports
told apart), the retrained state proposed as one commit pushed to a bare remote (the checkout untouched),
and the drift reference's revision (the newest production tag)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlcd.config import load_config
from mlcd.errors import InputError
from mlcd.monitoring.reference import reference_revision
from mlcd.retrain import data_files, is_import, push_proposal, update_data
from testing.promotion import MODEL, commit, make_project, record_promotion
from testing.repos import git, tool_env

pytestmark = pytest.mark.integration

ENV = {"GITHUB_ACTIONS": "true"}


def dvc(repo: Path, *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, capture_output=True, text=True,
                          env=tool_env(), check=False, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with a committed dvc.lock and metrics.json, and a bare remote as origin."""
    remote = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n")
    (work / "metrics.json").write_text('{"accuracy": 0.9}\n')
    (work / "params.yaml").write_text("seed: 1\n")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "trained")
    git(work, "remote", "add", "origin", str(remote))
    git(work, "push", "-q", "origin", "main")
    return work


def test_nothing_changed_is_nothing_to_propose(repo: Path) -> None:
    proposal = push_proposal(repo, "origin", "mlcd/retrain", "Retrain\n", ENV)

    assert proposal.commit is None and proposal.changed == []
    assert git(repo, "ls-remote", "origin", "refs/heads/mlcd/retrain") == ""


def test_retrained_files_are_one_commit_on_head_pushed_as_the_branch(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    (repo / "metrics.json").write_text('{"accuracy": 0.95}\n')
    (repo / "dvc.lock").write_text("schema: '2.0'\nstages: {train: {}}\n")
    (repo / "untracked.txt").write_text("not part of the proposal\n")
    status_before = git(repo, "status", "--porcelain")

    proposal = push_proposal(repo, "origin", "mlcd/retrain", "Retrain the model\n", ENV)

    assert proposal.changed == ["dvc.lock", "metrics.json"]
    remote_sha = git(repo, "ls-remote", "origin", "refs/heads/mlcd/retrain").split()[0]
    assert remote_sha == proposal.commit
    assert git(repo, "rev-parse", f"{proposal.commit}^").strip() == head
    assert git(repo, "show", f"{proposal.commit}:metrics.json") == '{"accuracy": 0.95}\n'
    assert git(repo, "diff", "--name-only", head, str(proposal.commit)).split() == ["dvc.lock", "metrics.json"]
    assert git(repo, "log", "-1", "--format=%an <%ae>|%s", str(proposal.commit)).strip() == \
        "github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>|Retrain the model"
    assert git(repo, "status", "--porcelain") == status_before  # index and work tree as they were
    assert git(repo, "rev-parse", "HEAD").strip() == head

    (repo / "metrics.json").write_text('{"accuracy": 0.96}\n')  # a later run replaces the branch
    again = push_proposal(repo, "origin", "mlcd/retrain", "Retrain the model\n", ENV)
    assert git(repo, "ls-remote", "origin", "refs/heads/mlcd/retrain").split()[0] == again.commit
    assert git(repo, "rev-parse", f"{again.commit}^").strip() == head


def test_data_update_pulls_the_version_the_commit_names(tmp_path: Path) -> None:
    work = tmp_path / "project"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    dvc(work, "init", "-q")
    dvc(work, "remote", "add", "-d", "storage", str(tmp_path / "storage"))
    (work / "dvc.yaml").write_text("stages: {}\n")
    (work / "data").mkdir()
    (work / "data" / "rows.csv").write_text("a,b\n1,2\n")
    dvc(work, "add", "-q", "data/rows.csv")
    dvc(work, "push", "-q")
    (work / "data" / "rows.csv").unlink()
    dvc(work, "gc", "--workspace", "--force", "-q")
    (work / "source.csv.dvc").write_text("deps:\n- path: https://example.com/source.csv\nouts:\n- path: source.csv\n")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "data")

    assert data_files(work) == ["data/rows.csv.dvc", "source.csv.dvc"]
    assert is_import(work, "source.csv.dvc") and not is_import(work, "data/rows.csv.dvc")
    (work / "source.csv.dvc").unlink()  # an import would need its source; pulling is what is tested here
    git(work, "commit", "-qam", "no import")

    update = update_data(work)

    assert (update.imports, update.pulled) == ([], ["data/rows.csv.dvc"])
    assert (work / "data" / "rows.csv").read_text() == "a,b\n1,2\n"


def test_drift_reference_revision_is_the_newest_production_tag(tmp_path: Path) -> None:
    project = make_project(tmp_path, "version: 1\ndata: {path: data.csv}\ncontract:\n  label: species\n  columns:\n"
                                     f"    species: {{dtype: category}}\nmodel: {{name: {MODEL}, path: m.skops}}\n")
    config = load_config(str(project / "mlcd.yaml"))
    first = git(project, "rev-parse", "HEAD").strip()
    assert reference_revision(config, "production").commit == first
    assert "no production tag yet" in reference_revision(config, "production").describe

    record_promotion(project, MODEL, "v0.0.1", first, 1)
    second = commit(project, "retrained")
    record_promotion(project, MODEL, "v0.0.2", second, 2)
    commit(project, "not in production")

    chosen = reference_revision(config, "production")
    assert (chosen.commit, chosen.describe) == (second, f"{MODEL}#production#2 ({second[:12]})")
    assert reference_revision(config, first).commit == first
    with pytest.raises(InputError):
        reference_revision(config, "no-such-revision")
