"""``mlcd init`` as a library call: mlcd's workflow callers and, with ``data``, a first mlcd.yaml inferred
from that file; with ``train``, also the DVC pipeline around that script (dvc.yaml, params.yaml,
requirements.txt, DVC initialised with a default remote)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from mlcd.config import CONFIG_NAME
from mlcd.errors import InputError, UsageError
from mlcd.output import Output
from mlcd.release import installed_release, release_for_ref
from mlcd.scaffold.init import (
    InitResult,
    PipelinePaths,
    TrainingSetup,
    config_text,
    next_steps,
    planned_files,
    write_files,
)


@dataclass(frozen=True)
class InitRequest:
    data: str | None = None  # a data file to infer the contract from (with label)
    label: str | None = None
    train: str | None = None  # a training script to build the DVC pipeline around (with data and label)
    ref: str | None = None  # OWNER/NAME@SHA to pin instead of the installed release
    force: bool = False  # replace files that differ from what init writes


@dataclass(frozen=True)
class InitOutcome:
    root: Path
    result: InitResult
    next_steps: list[str]

    def conflicts_error(self) -> UsageError | None:
        """The error for files init left alone because they differ from what it writes; None when none did."""
        if not self.result.conflicts:
            return None
        names = ", ".join(str(p.relative_to(self.root)) for p in self.result.conflicts)
        return UsageError(f"not overwritten: {names}",
                          fix="keep your version, or run `mlcd init --force` to replace it (then `git diff` "
                              "shows what changed)")


def run_init(root: Path, request: InitRequest, out: Output) -> InitOutcome:
    """Write what init writes into the repository at ``root``, saying what each file became on ``out``."""
    text = None
    if request.train and not request.data:
        raise UsageError("--train needs --data and --label: the pipeline splits that file by that column",
                         fix="add --data FILE --label COLUMN")
    if request.data:
        if not request.label:
            raise UsageError("--data needs --label: the column the model predicts", fix="add --label COLUMN")
        text = _inferred_config(root, request.data, request.label, pipeline=bool(request.train))
    elif request.label:
        raise UsageError("--label needs --data: the file to infer the contract from", fix="add --data FILE")
    release = release_for_ref(request.ref) if request.ref else installed_release()
    training: TrainingSetup | None = None
    extra: dict[str, str] = {}
    if request.train:
        assert request.data and request.label  # checked above
        training, extra = _training(root, request.train, request.data, request.label)
    result = write_files(planned_files(root, release, text, extra), force=request.force,
                         extending={root / "params.yaml"} if training is not None and training.params_added else set())
    for verb, paths in (("created", result.created), ("replaced", result.replaced), ("extended", result.extended),
                        ("unchanged", result.unchanged)):
        for path in paths:
            out.info(f"  {verb:<9} {path.relative_to(root)}")
    if training is not None:
        if training.kept_requirements:
            out.info(f"  {'kept':<9} requirements.txt")
        choose_remote, changed = _setup_dvc(root, out)
        training = replace(training, choose_remote=choose_remote, changed_repository=changed)
    return InitOutcome(root, result, next_steps(root, result, (root / CONFIG_NAME).is_file(), training))


def _relative(root: Path, name: str, option: str) -> str:
    path = Path(name).resolve()
    if not path.is_relative_to(root.resolve()):
        raise UsageError(f"{option} {name} is outside the repository ({root})",
                         fix="move the file into the repository and give its path from there")
    return path.relative_to(root.resolve()).as_posix()


def _training(root: Path, script: str, data: str, label: str) -> tuple[TrainingSetup, dict[str, str]]:
    from mlcd.scaffold import pipeline

    pipeline.require_git_root(root)
    script_path = Path(script)
    if not script_path.is_file():
        raise InputError(f"--train {script}: no such file", fix="give the path of your training script")
    script_text = script_path.read_text(encoding="utf-8", errors="replace")
    script_name = _relative(root, script, "--train")
    data_name = _relative(root, data, "--data")
    extra = {"dvc.yaml": pipeline.dvc_yaml(data_name, script_name, label)}
    params = root / "params.yaml"
    params_added: list[str] = []
    if params.is_file():  # the user's: kept, and given the keys the pipeline reads where it lacks them
        extended, params_added = pipeline.extend_params(params.read_text(encoding="utf-8"), "params.yaml")
        if params_added:
            extra["params.yaml"] = extended
    else:
        extra["params.yaml"] = pipeline.PARAMS_YAML
    kept = (root / "requirements.txt").exists()
    unresolved: list[str] = []
    if not kept:
        modules = pipeline.imported_modules(script_text, script_name)
        local = pipeline.local_modules(root) | pipeline.local_modules(script_path.resolve().parent)
        requirements = pipeline.requirements_for(modules, local)
        extra["requirements.txt"] = requirements.text(script_name)
        unresolved = requirements.unresolved
    training = TrainingSetup(script_name, data_name, pipeline.script_findings(script_text), unresolved, kept,
                             params_added=params_added)
    return training, extra


def _setup_dvc(root: Path, out: Output) -> tuple[bool, bool]:
    """DVC initialised with a default remote, the .gitignore lines: (the user must pick a remote, any changed)."""
    from mlcd.scaffold import pipeline

    setup = pipeline.setup_dvc(root)
    if setup.initialised:
        out.info(f"  {'created':<9} .dvc/ (dvc init)")
    if setup.remote_added:
        out.info(f"  {'added':<9} the default DVC remote '{pipeline.LOCAL_REMOTE}': {pipeline.LOCAL_REMOTE_DIR}/ "
                 "(git-ignored; the workflows cache it between jobs)")
    added = pipeline.add_gitignore_lines(root)
    if added:
        out.info(f"  {'added':<9} {len(added)} line(s) to .gitignore")
    return setup.remote_missing, bool(setup.initialised or setup.remote_added or added)


def _inferred_config(root: Path, data: str, label: str, *, pipeline: bool) -> str:
    from mlcd.config.model import DataConfig
    from mlcd.data.io import read_table
    from mlcd.scaffold.contract import infer_contract
    from mlcd.scaffold.pipeline import SEED_PARAM, TEST_SPLIT, TRAIN_SPLIT

    path = Path(data)
    frame = read_table(path, DataConfig(path=data))
    if label not in frame.columns:
        raise InputError(f"{data} has no column '{label}' (it has: {', '.join(map(str, frame.columns))})",
                         fix="pass the label column's exact name to --label")
    relative = path.resolve().relative_to(root.resolve()) if path.resolve().is_relative_to(root.resolve()) else path
    paths = PipelinePaths(TRAIN_SPLIT, TEST_SPLIT, SEED_PARAM) if pipeline else None
    return config_text(relative.as_posix(), infer_contract(frame, label), root.resolve().name, paths)
