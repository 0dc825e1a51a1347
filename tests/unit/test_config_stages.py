"""mlcd config stages: deploy.stages as the delivery workflow's stage jobs read them (step outputs
stage-1 … stage-N on Actions), and a clear refusal past the workflow's number of stage jobs."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlcd.cli import main
from mlcd.config.model import MAX_DELIVERY_STAGES
from testing.configs import MINIMAL_CONFIG


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("mlcd.output._default", None)
    return tmp_path


def test_the_default_stages_become_step_outputs(project: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    (project / "mlcd.yaml").write_text(MINIMAL_CONFIG)
    outputs = project / "outputs"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    assert main(["config", "stages"]) == 0
    assert outputs.read_text().splitlines() == ["stage-1=staging", "stage-2=production", "count=2"]


def test_more_stages_than_the_workflow_runs_are_refused(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stages = [f"s{number}" for number in range(MAX_DELIVERY_STAGES + 1)]
    (project / "mlcd.yaml").write_text(MINIMAL_CONFIG + f"deploy: {{stages: [{', '.join(stages)}]}}\n")
    assert main(["config", "stages"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"deploy.stages has {len(stages)} stages" in err and "mlcd.yaml" in err and "fix:" in err
