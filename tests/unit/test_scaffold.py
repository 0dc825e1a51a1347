"""mlcd init: the workflows it writes are template-repo's, it is idempotent, it never overwrites a
changed file without --force, and the mlcd.yaml it infers from data validates."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from mlcd.cli import main
from mlcd.config import validate_text
from mlcd.scaffold.actions import ACTIONS_REF, ACTIONS_REPOSITORY, ActionsPin
from mlcd.scaffold.contract import infer_contract
from mlcd.scaffold.init import workflow_names, workflow_text

ROOT = Path(__file__).resolve().parents[2]


def test_template_repo_holds_exactly_what_init_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(ROOT / "template-repo" / "mlcd.yaml", tmp_path / "mlcd.yaml")
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 0
    written = sorted(p.name for p in (tmp_path / ".github" / "workflows").iterdir())
    template = ROOT / "template-repo" / ".github" / "workflows"
    assert written == sorted(p.name for p in template.iterdir()) == workflow_names()
    for name in written:
        assert (tmp_path / ".github" / "workflows" / name).read_text() == (template / name).read_text()
        assert (ROOT / "workflows" / name).read_text() == (template / name).read_text()


def test_workflows_use_mlcds_actions_at_the_pinned_commit() -> None:
    text = workflow_text("mlcd-pr.yml", ActionsPin())
    assert f"uses: {ACTIONS_REPOSITORY}/actions/setup@{ACTIONS_REF} # mlcd v" in text
    fork = workflow_text("mlcd-pr.yml", ActionsPin.parse("acme/mlcd-fork@" + "a" * 40))
    assert f"{ACTIONS_REPOSITORY}/" not in fork and "acme/mlcd-fork/actions/setup@" + "a" * 40 in fork


def test_init_is_idempotent_and_keeps_changed_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    penguins_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(penguins_csv, tmp_path / "penguins.csv")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("mlcd.output._default", None)  # a fresh Output writes to this test's captured stderr
    assert main(["init", "--data", "penguins.csv", "--label", "species"]) == 0
    capsys.readouterr()
    assert main(["init", "--data", "penguins.csv", "--label", "species"]) == 0
    assert capsys.readouterr().err.count("unchanged") == len(workflow_names()) + 1  # and mlcd.yaml
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
