"""`mlcd promote --if-configured`: in a repository whose mlcd.yaml configures no environment (what
`mlcd init` writes), the delivery workflow's promotion is a notice naming the settings to add, and a
success; without the flag it stays a configuration error."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mlcd.cli import main
from mlcd.config import load_config, validate_text
from mlcd.promotion.context import not_configured

IMAGE = "ghcr.io/acme/penguins@sha256:" + "a" * 64
NEW_REPOSITORY = """\
version: 1
data: {path: data.csv}
contract:
  label: species
  columns:
    species: {dtype: category}
    bill_length_mm: {dtype: float}
model: {name: penguins-classifier, path: models/model.skops}
"""
STAGING_ONLY = NEW_REPOSITORY + """\
deploy:
  environments:
    staging: {target: docker, url: "http://127.0.0.1:8081"}
"""


@pytest.fixture
def on_github(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A fresh Output as a GitHub step sees it: annotations, and the step's output and summary files."""
    outputs, summary = tmp_path / "github-output", tmp_path / "step-summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setattr("mlcd.output._default", None)
    return outputs, summary


def project(root: Path, text: str) -> Path:
    (root / "mlcd.yaml").write_text(text, encoding="utf-8")
    return root / "mlcd.yaml"


def test_a_new_repository_gets_a_notice_the_settings_to_add_and_exit_0(
        tmp_path: Path, on_github: tuple[Path, Path], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    project(tmp_path, NEW_REPOSITORY)
    monkeypatch.chdir(tmp_path)
    assert main(["promote", IMAGE, "--to", "staging", "--if-configured"]) == 0
    outputs, summary = on_github
    err = capsys.readouterr().err
    [notice] = [line for line in err.splitlines() if line.startswith("::notice")]
    assert "title=mlcd promote%3A staging is not configured::" in notice
    assert f"the image {IMAGE} is built and pushed" in notice
    assert "not promoted to staging: mlcd.yaml has no deploy.environments" in notice  # the file, not a work path
    assert "action=not-configured" in outputs.read_text().splitlines()
    text = summary.read_text()
    assert "## Not promoted" in text and "```yaml\ndeploy:\n" in text
    assert not (tmp_path / "promotion-evidence.md").exists()


def test_the_settings_it_suggests_make_a_valid_mlcd_yaml_with_both_stages(tmp_path: Path) -> None:
    missing = not_configured(load_config(str(project(tmp_path, NEW_REPOSITORY))), "production", IMAGE)
    assert missing is not None
    completed = NEW_REPOSITORY + missing.snippet
    _, problems = validate_text(completed, "mlcd.yaml")
    assert problems == []
    deploy = load_config(str(project(tmp_path, completed))).deploy
    assert list(deploy.environments) == ["staging", "production"]
    assert {e.target for e in deploy.environments.values()} == {"docker"}
    assert len({e.url for e in deploy.environments.values()}) == 2  # one port each
    assert not_configured(load_config(str(tmp_path / "mlcd.yaml")), "production") is None


def test_a_partly_configured_repository_is_told_which_environment_is_missing(tmp_path: Path) -> None:
    config = load_config(str(project(tmp_path, STAGING_ONLY)))
    assert not_configured(config, "staging") is None
    missing = not_configured(config, "production")
    assert missing is not None
    assert "has no 'production' (it has staging)" in missing.message
    assert "production: {target: docker" in missing.snippet and "staging:" not in missing.snippet


def test_without_the_flag_an_unconfigured_environment_is_a_configuration_error(
        tmp_path: Path, on_github: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)  # promote locks in git before it plans
    config = project(tmp_path, NEW_REPOSITORY)
    assert main(["promote", IMAGE, "--to", "staging", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "::error" in err and "environment 'staging' is not in deploy.environments" in err
    assert "::notice" not in err
