"""mlcd upgrade: every pin of mlcd's workflows moves to the installed release and nothing else in the user's
files changes; a file it cannot parse, or a pin of a workflow the release lacks, stops it with one line and
nothing written; the changelog between the two releases is printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlcd import __version__
from mlcd.cli import main
from mlcd.release import Release, changes_between, find_pins, repin
from testing.release import SAMPLE_SHA as SHA

OLD = "f" * 40
USERS_CALLER = f"""\
# my team's notes: keep python at 3.12
name: mlcd / pull request
on:
  pull_request:
    paths-ignore: ["docs/**"]  # our own edit
permissions: {{}}
jobs:
  mlcd:
    uses: mlcd-dev/mlcd/.github/workflows/pr.yml@{OLD} # v0.1.0
    permissions:
      contents: read
      pull-requests: write
    with:
      python: "3.12"
  lint:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8 # v5.0.0
      - uses: mlcd-dev/mlcd/actions/setup@{OLD} # mlcd v0.1.0
"""


@pytest.fixture
def repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "mlcd-pr.yml").write_text(USERS_CALLER)
    (workflows / "other.yml").write_text("name: other\non: push\njobs: {}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("mlcd.output._default", None)
    return tmp_path


def test_repin_moves_only_the_pins() -> None:
    text, moved = repin(USERS_CALLER, "mlcd-dev/mlcd", SHA, "v9.9.9")
    assert [pin.path for pin in moved] == [".github/workflows/pr.yml", "actions/setup"]
    changed = [(old, new) for old, new in zip(USERS_CALLER.splitlines(), text.splitlines(), strict=True)
               if old != new]
    assert changed == [
        (f"    uses: mlcd-dev/mlcd/.github/workflows/pr.yml@{OLD} # v0.1.0",
         f"    uses: mlcd-dev/mlcd/.github/workflows/pr.yml@{SHA} # v9.9.9"),
        (f"      - uses: mlcd-dev/mlcd/actions/setup@{OLD} # mlcd v0.1.0",
         f"      - uses: mlcd-dev/mlcd/actions/setup@{SHA} # v9.9.9"),
    ]
    assert repin(text, "mlcd-dev/mlcd", SHA, "v9.9.9") == (text, [])
    assert [pin.version for pin in find_pins(USERS_CALLER, "mlcd-dev/mlcd")] == ["0.1.0", "0.1.0"]


def test_upgrade_keeps_the_users_edits_and_moves_the_pins(released: Release, repository: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    other = repository / ".github" / "workflows" / "other.yml"
    before = other.read_bytes()
    assert main(["upgrade"]) == 0
    caller = (repository / ".github" / "workflows" / "mlcd-pr.yml").read_text()
    assert caller == USERS_CALLER.replace(f"@{OLD} # v0.1.0", f"@{SHA} # v{__version__}").replace(
        f"@{OLD} # mlcd v0.1.0", f"@{SHA} # v{__version__}")
    assert other.read_bytes() == before
    err = capsys.readouterr().err
    assert f"mlcd-pr.yml: moved 2 pin(s) from ffffffffffff (v0.1.0) to {SHA[:12]} (v{__version__})" in err
    assert main(["upgrade"]) == 0
    assert "every pin already names" in capsys.readouterr().err


def test_an_unparseable_file_stops_the_upgrade_with_nothing_written(released: Release, repository: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    broken = repository / ".github" / "workflows" / "broken.yml"
    broken.write_text("name: broken\njobs:\n  a: [unclosed\n")
    caller = repository / ".github" / "workflows" / "mlcd-pr.yml"
    assert main(["upgrade"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "broken.yml:4:1: not valid YAML" in err and "nothing was upgraded" in err and "fix:" in err
    assert caller.read_text() == USERS_CALLER


def test_a_pin_of_a_workflow_the_release_lacks_stops_the_upgrade(released: Release, repository: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    caller = repository / ".github" / "workflows" / "mlcd-pr.yml"
    caller.write_text(USERS_CALLER.replace("workflows/pr.yml", "workflows/pull-request.yml"))
    assert main(["upgrade"]) == 2
    err = capsys.readouterr().err
    assert "mlcd-pr.yml:9: mlcd-dev/mlcd/.github/workflows/pull-request.yml does not exist" in err
    assert "@" + OLD in caller.read_text()


def test_nothing_to_upgrade_says_run_init(released: Release, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("mlcd.output._default", None)
    assert main(["upgrade"]) == 2
    assert "run `mlcd init`" in capsys.readouterr().err


def test_a_source_checkout_needs_a_ref(repository: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["upgrade"]) == 2
    assert "not a release" in capsys.readouterr().err
    assert main(["upgrade", "--ref", "mlcd-dev/mlcd@" + SHA, "--dry-run"]) == 0
    assert "would move 2 pin(s)" in capsys.readouterr().err
    assert "@" + OLD in (repository / ".github" / "workflows" / "mlcd-pr.yml").read_text()


def test_changes_between_two_releases() -> None:
    changelog = ("# Changelog\n\n## Unreleased\n\n- next\n\n## 0.3.0 — d\n\n- c\n\n## 0.2.0 — d\n\n- b\n\n"
                 "## 0.1.0\n\n- a\n")
    assert changes_between(changelog, "0.1.0", "0.3.0") == "## 0.3.0 — d\n\n- c\n\n## 0.2.0 — d\n\n- b"
    assert changes_between(changelog, "0.2.0", "0.2.0") == ""
    assert changes_between(changelog, None, "0.1.0") == "## 0.1.0\n\n- a"


def test_a_release_record_of_another_version_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from mlcd.release import RELEASE_FILE

    record = Path(__file__).resolve().parents[2] / "mlcd" / "resources" / RELEASE_FILE
    assert not record.exists()
    record.write_text(json.dumps(Release("0.0.1", SHA).to_json()))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("mlcd.output._default", None)
    try:
        assert main(["init"]) == 2
    finally:
        record.unlink()
    err = capsys.readouterr().err
    assert f"the release record says mlcd 0.0.1, but this mlcd is {__version__}" in err
    assert not (tmp_path / ".github").exists()
