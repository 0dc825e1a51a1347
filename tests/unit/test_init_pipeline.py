"""mlcd init --train: the pipeline it writes around a bare training script (dvc.yaml, params.yaml, the
requirements pinned from the script's imports, DVC with a local remote, .gitignore), idempotently, and the
next steps naming exactly what is left; and mlcd split, the pipeline's first stage."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pandas as pd
import pytest
import yaml

from mlcd.cli import main
from mlcd.config import load_config
from mlcd.data.split import split_frame
from mlcd.errors import CheckFailed, UsageError
from mlcd.scaffold import pipeline
from testing.release import SAMPLE_SHA

CONFORMING = '''\
import os
import pathlib

import pandas as pd
import skops.io
from sklearn.linear_model import LogisticRegression

from . import helpers
import features

frame = pd.read_csv(os.environ["MLCD_TRAIN_DATA"])
skops.io.dump(LogisticRegression(), os.environ["MLCD_MODEL_PATH"])
'''


@pytest.fixture
def repo(tmp_path: Path, penguins_csv: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=tmp_path, check=True)
    shutil.copy(penguins_csv, tmp_path / "data.csv")
    (tmp_path / "train.py").write_text(CONFORMING.replace("import features\n", ""))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("mlcd.output._default", None)  # a fresh Output writes to this test's captured stderr
    return tmp_path


def init(*extra: str) -> int:
    return main(["init", "--data", "data.csv", "--label", "species", "--train", "train.py",
                 "--ref", f"mlcd-dev/mlcd@{SAMPLE_SHA}", *extra])


def steps(err: str) -> list[str]:
    return re.findall(r"^\s+\d+\. (.+)$", err, re.MULTILINE)


def test_split_is_seeded_stratified_and_drops_unlabelled_rows(penguins_csv: Path) -> None:
    frame = pd.read_csv(penguins_csv)
    frame.loc[[0, 1], "species"] = None
    train, test = split_frame(frame, "species", test_size=0.25, seed=7, stratify=True)
    again_train, _ = split_frame(frame, "species", test_size=0.25, seed=7, stratify=True)
    other_train, _ = split_frame(frame, "species", test_size=0.25, seed=8, stratify=True)
    assert len(train) + len(test) == len(frame) - 2 and not set(train.index) & set(test.index)
    assert train.index.equals(again_train.index) and not train.index.equals(other_train.index)
    shares = test["species"].value_counts(normalize=True) - train["species"].value_counts(normalize=True)
    assert shares.abs().max() < 0.02  # every class keeps its share in both parts
    assert list(test.index) == sorted(test.index)


def test_split_refuses_what_cannot_be_split() -> None:
    frame = pd.DataFrame({"x": range(10), "y": ["a"] * 9 + ["b"]})
    with pytest.raises(CheckFailed, match="single row"):
        split_frame(frame, "y", test_size=0.2, seed=1, stratify=True)
    with pytest.raises(UsageError, match="between 0 and 1"):
        split_frame(frame, "y", test_size=1.5, seed=1, stratify=False)


def test_imports_become_pinned_requirements_without_stdlib_or_local_modules() -> None:
    modules = pipeline.imported_modules(CONFORMING, "train.py")
    assert modules == {"os", "pathlib", "pandas", "skops", "sklearn", "features"}
    requirements = pipeline.requirements_for(modules | {"nosuchmodule"}, {"features"},
                                             {"pandas": ["pandas"], "sklearn": ["scikit-learn"], "skops": ["skops"]})
    assert requirements.pins == [f"pandas=={metadata.version('pandas')}",
                                 f"scikit-learn=={metadata.version('scikit-learn')}",
                                 f"skops=={metadata.version('skops')}"]
    assert requirements.unresolved == ["nosuchmodule"]
    assert "# nosuchmodule: imported by train.py" in requirements.text("train.py")
    with pytest.raises(UsageError, match=r"train\.py:1"):
        pipeline.imported_modules("def (:\n", "train.py")


def test_script_findings_name_what_a_bare_script_lacks() -> None:
    assert pipeline.script_findings(CONFORMING) == []
    bare = pipeline.script_findings("import pickle\npickle.dump(model, open('model.pkl', 'wb'))\n")
    assert [finding.split()[0] for finding in bare] == ["read", "write", "save"]
    assert "MLCD_TRAIN_DATA" in bare[0] and "MLCD_MODEL_PATH" in bare[1] and "skops" in bare[2]


def test_dvc_yaml_runs_split_then_the_script_then_evaluate() -> None:
    stages = yaml.safe_load(pipeline.dvc_yaml("raw/my data.csv", "src/train.py", "the label"))["stages"]
    assert list(stages) == ["split", "train", "evaluate"]
    assert stages["split"]["deps"] == ["raw/my data.csv"]
    assert stages["split"]["outs"] == [pipeline.TRAIN_SPLIT, pipeline.TEST_SPLIT]
    assert "MLCD_LABEL='the label'" in stages["train"]["cmd"] and stages["train"]["cmd"].endswith("python src/train.py")
    assert stages["train"]["outs"] == [pipeline.MODEL_PATH]
    params = yaml.safe_load(pipeline.PARAMS_YAML)
    assert params["split"] == {"test_size": 0.2, "seed": 42} and params["train"] == {"seed": 42}


def test_gitignore_lines_are_added_once_after_the_users_own(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("/secrets.env")
    assert pipeline.add_gitignore_lines(tmp_path) == list(pipeline.GITIGNORE_LINES)
    text = (tmp_path / ".gitignore").read_text()
    assert text.startswith("/secrets.env\n/.dvc-storage/\n")
    assert pipeline.add_gitignore_lines(tmp_path) == [] and (tmp_path / ".gitignore").read_text() == text


def test_init_train_writes_the_pipeline_and_is_idempotent(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert init() == 0
    err = capsys.readouterr().err
    for name in ("dvc.yaml", "params.yaml", "requirements.txt", "mlcd.yaml", ".dvcignore"):
        assert (repo / name).is_file(), name
    assert "url = ../.dvc-storage" in (repo / ".dvc" / "config").read_text()
    assert "remote = local" in (repo / ".dvc" / "config").read_text()
    config = load_config(str(repo / "mlcd.yaml"))
    assert (config.data.train, config.data.test) == (pipeline.TRAIN_SPLIT, pipeline.TEST_SPLIT)
    assert config.train.seed_param == pipeline.SEED_PARAM and config.holdout_path == pipeline.TEST_SPLIT
    requirements = (repo / "requirements.txt").read_text()
    assert f"scikit-learn=={metadata.version('scikit-learn')}" in requirements and "\nos" not in requirements
    listed = steps(err)
    assert listed[0] == "check the config: mlcd config validate"
    assert listed[1].startswith("review and commit: git add ") and " dvc.yaml params.yaml requirements.txt .dvc " \
        ".dvcignore .gitignore data.csv train.py && git commit" in listed[1]
    assert not any(step.startswith(("make train.py", "add the distributions", "choose the DVC remote"))
                   for step in listed)

    before = {path: path.read_bytes() for path in repo.rglob("*") if path.is_file() and ".git" not in path.parts}
    assert init() == 0
    err = capsys.readouterr().err
    after = {path: path.read_bytes() for path in repo.rglob("*") if path.is_file() and ".git" not in path.parts}
    assert before == after
    assert not re.search(r"^  (created|added|replaced) ", err, re.MULTILINE) and "review and commit" not in err


def test_init_train_keeps_the_users_requirements_and_names_what_the_script_lacks(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "requirements.txt").write_text("scikit-learn\n")
    (repo / "train.py").write_text("import pickle\nimport xgboost\n")
    assert init() == 0
    err = capsys.readouterr().err
    assert (repo / "requirements.txt").read_text() == "scikit-learn\n"
    assert "kept      requirements.txt" in err
    listed = steps(err)
    assert listed[0].startswith("make train.py read the training split") and "MLCD_MODEL_PATH" in listed[0]
    assert listed[1].startswith("check that requirements.txt (yours")
    changed = repo / "dvc.yaml"
    changed.write_text(changed.read_text().replace("python train.py", "python train.py --fast"))
    assert init() == 2
    assert "--fast" in changed.read_text()


def test_init_train_names_imports_nothing_installed_provides(repo: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "train.py").write_text(CONFORMING.replace("import features\n", "import nosuchmodule_xyz\n"))
    assert init() == 0
    listed = steps(capsys.readouterr().err)
    assert any(step.startswith("add the distributions providing nosuchmodule_xyz") for step in listed)
    assert "# nosuchmodule_xyz: imported by train.py" in (repo / "requirements.txt").read_text()


def test_init_train_needs_data_label_and_a_git_repository(tmp_path: Path, penguins_csv: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copy(penguins_csv, tmp_path / "data.csv")
    (tmp_path / "train.py").write_text(CONFORMING)
    assert main(["init", "--train", "train.py"]) == 2
    assert init() == 2  # not a git repository: DVC and the workflows need one
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv", "train.py"]  # nothing written


def test_mlcd_split_writes_the_configured_splits(repo: Path) -> None:
    assert init() == 0
    assert main(["split", "--test-size", "0.25", "--seed", "3"]) == 0
    train = pd.read_csv(repo / pipeline.TRAIN_SPLIT)
    test = pd.read_csv(repo / pipeline.TEST_SPLIT)
    assert len(train) + len(test) == 344 and abs(len(test) / 344 - 0.25) < 0.01
    assert list(train.columns) == list(pd.read_csv(repo / "data.csv").columns)


def test_an_existing_dvc_project_keeps_its_remotes(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=repo, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "remote", "add", "team", "s3://bucket/dvc"], cwd=repo, check=True)
    config = (repo / ".dvc" / "config").read_text()
    assert init() == 0
    assert (repo / ".dvc" / "config").read_text() == config  # no second remote, no default chosen for the user
    assert "choose the DVC remote the workflows push to: dvc remote default NAME" in steps(capsys.readouterr().err)


USERS_PARAMS = """\
# our hyper-parameters
train:
  C: 0.5          # regularisation
  max_iter: 300
features: [bill_length_mm, island]
"""


def test_an_existing_params_yaml_is_kept_and_given_the_keys_the_pipeline_reads(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "params.yaml").write_text(USERS_PARAMS)
    assert init() == 0
    text = (repo / "params.yaml").read_text()
    for line in USERS_PARAMS.splitlines():
        assert line in text.splitlines()  # every line of the user's, untouched
    params = yaml.safe_load(text)
    assert params["train"] == {"seed": 42, "C": 0.5, "max_iter": 300}
    assert params["split"] == {"test_size": 0.2, "seed": 42}
    err = capsys.readouterr().err
    assert "extended  params.yaml" in err
    assert ("check params.yaml (yours, kept): mlcd init added split.test_size, split.seed, train.seed, which "
            "dvc.yaml's split and train stages read") in steps(err)
    assert init() == 0  # again: nothing left to add, nothing changed
    assert (repo / "params.yaml").read_text() == text
    assert main(["split"]) == 0  # the pipeline's first stage runs on it


def test_a_params_yaml_init_cannot_extend_is_one_line_and_nothing_written(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "params.yaml").write_text("train: {C: 0.5}\n")
    assert init() == 4  # an input the user must fix: named, with the fix
    err = capsys.readouterr().err
    assert "params.yaml: 'train' is written in flow style" in err and "fix:" in err
    assert (repo / "params.yaml").read_text() == "train: {C: 0.5}\n"
    assert not (repo / "dvc.yaml").exists()
    (repo / "params.yaml").write_text("train: [unclosed\n")
    assert init() == 4
    assert "params.yaml:2: not valid YAML" in capsys.readouterr().err
