"""What a new user typing the README's commands wrong gets: one line naming the file, field or argument and
the fix, with the exit code the README's table gives, and nothing half done (issue #16)."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from mlcd.cli import main
from testing.configs import MINIMAL_CONFIG

DEPLOY = "deploy: {environments: {staging: {target: docker, url: 'http://127.0.0.1:8081'}}}\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "mlcd.yaml").write_text(MINIMAL_CONFIG + DEPLOY)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("mlcd.output._default", None)
    return tmp_path


def one_error(capsys: pytest.CaptureFixture[str]) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ") and "(fix: " in lines[0] and "Traceback" not in lines[0]
    return lines[0]


def git_repository(path: Path) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)


@pytest.mark.parametrize(("change", "expected"), [
    (("quality:", "qualty:"), "typo.yaml:8:1: qualty: unknown key (fix: did you mean 'quality'?)"),
    (("x: {dtype: float}", "x: {dtype: floaty}"),
     "typo.yaml:7:16: contract.columns.x.dtype: 'floaty' is not one of"),
    (("model: {name: demo, path: model.skops}", "model: {name: demo, path: model.skops"), ": not valid YAML: "),
])
def test_config_validate_with_one_problem_names_it(project: Path, capsys: pytest.CaptureFixture[str],
                                                   change: tuple[str, str], expected: str) -> None:
    text = MINIMAL_CONFIG.replace("model:", "quality: {min_rows: 1}\nmodel:") if change[0] == "quality:" \
        else MINIMAL_CONFIG
    (project / "typo.yaml").write_text(text.replace(*change, 1))
    assert main(["config", "validate", "typo.yaml"]) == 2
    line = one_error(capsys)
    assert expected in line and "problem(s)" not in line


def test_predict_with_a_model_file_that_does_not_exist_says_so(project: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", "models/nope.skops", "in.csv", "out.csv"]) == 4
    assert one_error(capsys).startswith("error: model file models/nope.skops does not exist (fix: ")


def test_promote_without_the_remote_names_the_remote_not_a_lock(project: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    git_repository(project)
    assert main(["promote", "v1.0.0", "--to", "staging"]) == 2
    line = one_error(capsys)
    assert "deploy.remote 'origin' is not a remote of this repository (its remotes: none)" in line
    assert "deploy.push: false" in line and "lock" not in line


def test_a_nonsense_version_is_refused_before_the_lock(project: Path, tmp_path_factory: pytest.TempPathFactory,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    git_repository(project)
    remote = tmp_path_factory.mktemp("remote")
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    subprocess.run(["git", "remote", "add", "origin", str(remote)], cwd=project, check=True)
    assert main(["promote", "nonsense", "--to", "staging"]) == 2
    assert "'nonsense' is not a version like v1.2.0" in one_error(capsys)
    listed = subprocess.run(["git", "ls-remote", str(remote)], capture_output=True, text=True, check=True).stdout
    assert listed == ""  # no lock ref was taken


def test_rollback_of_an_environment_that_is_not_configured_names_it(project: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    git_repository(project)
    assert main(["rollback", "moon"]) == 2
    assert "environment 'moon' is not in deploy.environments" in one_error(capsys)


def test_status_outside_a_git_repository_says_so(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status"]) == 2
    assert "is not in a git repository: mlcd records what runs where as git tags" in one_error(capsys)


def test_serve_on_a_port_in_use_says_so_and_exits(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    assert one_error(capsys).startswith(f"error: cannot listen on 127.0.0.1:{port}: Address already in use (fix: ")
