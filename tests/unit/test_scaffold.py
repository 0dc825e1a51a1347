"""mlcd init: the callers it writes pin the release's reusable workflows, it is idempotent, it never
overwrites a changed file without --force, a source checkout refuses to guess a pin, and the mlcd.yaml it
infers from data validates."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from mlcd import __version__
from mlcd.cli import main
from mlcd.config import validate_text
from mlcd.release import Release
from mlcd.scaffold.contract import infer_contract
from mlcd.scaffold.init import called_workflow, workflow_names, workflow_text
from testing.release import REUSABLE
from testing.release import SAMPLE_SHA as SHA

ROOT = Path(__file__).resolve().parents[2]


def test_every_caller_calls_one_reusable_workflow_with_no_more_permissions_than_it_uses() -> None:
    for name in workflow_names():
        caller = yaml.safe_load(workflow_text(name, Release(__version__, SHA)))
        [job] = caller["jobs"].values()
        assert job["uses"] == f"mlcd-dev/mlcd/.github/workflows/{called_workflow(name)}@{SHA}"
        assert called_workflow(name) in REUSABLE
        called = yaml.safe_load((ROOT / ".github" / "workflows" / called_workflow(name)).read_text())
        needed: dict[str, str] = {}
        for called_job in called["jobs"].values():
            for scope, level in (called_job.get("permissions") or {}).items():
                needed[scope] = "write" if "write" in (level, needed.get(scope)) else level
        assert job["permissions"] == needed, name
        lines = workflow_text(name, Release(__version__, SHA)).splitlines()
        # short: one uses: line, and the permissions it needs (zizmor wants each explained)
        assert len([line for line in lines if not line.startswith("#")]) <= 19, name


def test_init_pins_the_installed_release(released: Release, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 0
    text = (tmp_path / ".github" / "workflows" / "mlcd-pr.yml").read_text()
    assert f"uses: mlcd-dev/mlcd/.github/workflows/pr.yml@{SHA} # v{__version__}\n" in text
    assert yaml.safe_load((tmp_path / ".github" / "dependabot.yml").read_text())["updates"][0][
        "package-ecosystem"] == "github-actions"


def test_init_from_a_source_checkout_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("mlcd.output._default", None)
    assert main(["init"]) == 2
    err = capsys.readouterr().err
    assert "not a release" in err and "--ref OWNER/NAME@SHA" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / ".github").exists()
    assert main(["init", "--ref", "acme/mlcd-fork@" + "a" * 40]) == 0
    text = (tmp_path / ".github" / "workflows" / "mlcd-deliver.yml").read_text()
    assert f"uses: acme/mlcd-fork/.github/workflows/deliver.yml@{'a' * 40} # v{__version__}\n" in text
    assert main(["init", "--ref", "acme/mlcd-fork@main"]) == 2
    assert "is not OWNER/NAME@SHA" in capsys.readouterr().err


def test_a_release_without_a_workflow_a_caller_needs_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    from mlcd.errors import UsageError

    old = Release("0.1.0", SHA, "mlcd-dev/mlcd", ("pr.yml",))
    with pytest.raises(UsageError, match=r"has no reusable workflow \.github/workflows/deliver\.yml"):
        workflow_text("mlcd-deliver.yml", old)


def test_init_is_idempotent_and_keeps_changed_files(released: Release, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch, penguins_csv: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(penguins_csv, tmp_path / "penguins.csv")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("mlcd.output._default", None)  # a fresh Output writes to this test's captured stderr
    assert main(["init", "--data", "penguins.csv", "--label", "species"]) == 0
    capsys.readouterr()
    assert main(["init", "--data", "penguins.csv", "--label", "species"]) == 0
    assert capsys.readouterr().err.count("unchanged") == len(workflow_names()) + 2  # dependabot.yml, mlcd.yaml
    changed = tmp_path / ".github" / "workflows" / "mlcd-pr.yml"
    changed.write_text(changed.read_text() + "# my change\n")
    assert main(["init"]) == 2
    err = capsys.readouterr().err
    assert "mlcd-pr.yml" in err and "--force" in err
    assert changed.read_text().endswith("# my change\n")
    assert main(["init", "--force"]) == 0
    assert not changed.read_text().endswith("# my change\n")


def test_inferred_contract_of_the_penguins_validates_and_reads_right(penguins_csv: Path) -> None:
    from mlcd.scaffold.init import config_text

    contract = infer_contract(pd.read_csv(penguins_csv), "species")
    assert contract.task == "classification"
    columns = contract.columns
    assert columns["species"] == {"dtype": "category", "allowed": ["Adelie", "Chinstrap", "Gentoo"]}
    assert columns["sex"]["nullable"] is True and columns["sex"]["allowed"] == ["female", "male"]
    mass = columns["body_mass_g"]
    assert mass["dtype"] == "float" and mass["min"] < 2700 and mass["max"] > 6300  # observed 2700–6300, widened
    assert columns["year"] == {"dtype": "int", "min": 2006, "max": 2010}
    _, problems = validate_text(config_text("data/penguins.csv", contract, "penguins"), "mlcd.yaml")
    assert problems == []


def test_a_numeric_label_with_many_values_is_regression() -> None:
    frame = pd.DataFrame({"x": range(100), "y": [i * 1.5 for i in range(100)]})
    contract = infer_contract(frame, "y")
    assert contract.task == "regression" and contract.columns["y"]["dtype"] == "float"
    assert contract.columns["x"]["min"] == 0  # never negative: the margin stops at zero
