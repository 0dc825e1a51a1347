"""The opt-in CML cloud runner of the pull-request workflow: only when vars.MLCD_CML_CLOUD is set and never
for a fork, without GITHUB_TOKEN permissions, and registered with the very label the train job asks for;
train, evaluate and the report still run when it is skipped."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "pr.yml"
RUNS_AFTER_A_SKIP = "${{ !failure() && !cancelled() }}"


def jobs() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    return dict(loaded["jobs"])


def test_the_cloud_runner_is_opt_in_never_for_forks_and_holds_no_token() -> None:
    job = jobs()["cloud-runner"]
    assert "vars.MLCD_CML_CLOUD != ''" in job["if"]
    assert "github.event.pull_request.head.repo.full_name == github.repository" in job["if"]
    assert job["permissions"] == {}
    [setup, launch] = job["steps"]
    assert re.fullmatch(r"iterative/setup-cml@[0-9a-f]{40}", setup["uses"])
    assert "--single" in launch["run"] and "--idle-timeout" in launch["run"]
    assert launch["env"]["REPO_TOKEN"] == "${{ secrets.MLCD_CML_TOKEN }}"


def test_train_runs_on_the_label_the_cloud_runner_registers() -> None:
    workflow = jobs()
    label = workflow["cloud-runner"]["steps"][1]["env"]["LABEL"]
    assert label == "mlcd-cml-${{ github.run_id }}-${{ github.run_attempt }}"
    train = workflow["train"]
    assert train["needs"] == "cloud-runner"
    requested = re.search(r"format\('\[\"self-hosted\", \"(mlcd-cml-\{0\}-\{1\})\"\]', github\.run_id, "
                          r"github\.run_attempt\)", train["runs-on"])
    assert requested is not None, train["runs-on"]
    assert requested.group(1).replace("{0}", "${{ github.run_id }}").replace("{1}", "${{ github.run_attempt }}") \
        == label
    # a fork's pull request never reaches the cloud runner or MLCD_TRAIN_RUNS_ON
    assert train["runs-on"].startswith(
        "${{ fromJSON(github.event.pull_request.head.repo.full_name == github.repository && (")


def test_a_skipped_cloud_runner_skips_nothing_downstream() -> None:
    workflow = jobs()
    for name in ("train", "evaluate", "gates"):
        assert workflow[name]["if"] == RUNS_AFTER_A_SKIP, name
