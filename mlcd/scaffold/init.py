"""What `mlcd init` writes into a repository, and how: never over a file the user changed, unless forced.

Every file is compared with what init would write: absent → created, identical → unchanged, different →
a conflict that is left alone (``force`` replaces it). Running init twice changes nothing the second time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mlcd.config import CONFIG_NAME, validate_text
from mlcd.errors import ConfigError, InputError, UsageError
from mlcd.release import DEFAULT_REPOSITORY, Release

if TYPE_CHECKING:  # pandas comes with the train extra; init without --data and upgrade need only the core
    from mlcd.scaffold.contract import InferredContract

WORKFLOWS_DIR = Path(".github") / "workflows"
DEPENDABOT = Path(".github") / "dependabot.yml"
# In the shipped callers, where the release's pin goes: `uses: mlcd-dev/mlcd/.github/workflows/X.yml@RELEASE`
_PLACEHOLDER = re.compile(rf"{re.escape(DEFAULT_REPOSITORY)}/\.github/workflows/([\w.-]+\.yml)@RELEASE")


def workflow_names() -> list[str]:
    """Every caller mlcd ships (``mlcd/scaffold/callers/mlcd-*.yml``): init writes each of them."""
    shipped = resources.files("mlcd.scaffold").joinpath("callers")
    return sorted(entry.name for entry in shipped.iterdir() if entry.name.startswith("mlcd-"))


def called_workflow(name: str) -> str:
    """The reusable workflow of mlcd's that the caller ``name`` uses (``mlcd-pr.yml`` → ``pr.yml``)."""
    text = resources.files("mlcd.scaffold").joinpath("callers", name).read_text(encoding="utf-8")
    found = _PLACEHOLDER.search(text)
    assert found is not None, f"mlcd/scaffold/callers/{name} has no `uses: ...@RELEASE` line"
    return found.group(1)


@dataclass
class InitResult:
    created: list[Path] = field(default_factory=list)
    replaced: list[Path] = field(default_factory=list)
    extended: list[Path] = field(default_factory=list)  # the user's, with lines added
    unchanged: list[Path] = field(default_factory=list)
    conflicts: list[Path] = field(default_factory=list)


def workflow_text(name: str, release: Release) -> str:
    """The caller ``name`` pinned to ``release``: one ``uses:`` of its reusable workflow at the release's commit."""
    text = resources.files("mlcd.scaffold").joinpath("callers", name).read_text(encoding="utf-8")
    workflow = called_workflow(name)
    if release.workflows and workflow not in release.workflows:
        raise UsageError(f"{release.repository}@{release.commit[:12]} (mlcd {release.version}) has no reusable "
                         f"workflow .github/workflows/{workflow}, which {name} calls",
                         fix="pin a release that has it: install a newer mlcd, or pass --ref OWNER/NAME@SHA")
    return _PLACEHOLDER.sub(lambda found: release.workflow_uses(found.group(1)), text)


def dependabot_text() -> str:
    return resources.files("mlcd.scaffold").joinpath("callers", "dependabot.yml").read_text(encoding="utf-8")


def planned_files(root: Path, release: Release, config_text: str | None,
                  extra: Mapping[str, str] | None = None) -> dict[Path, str]:
    """The callers, Dependabot's config, mlcd.yaml when inferred, and ``extra`` (paths relative to root → text)."""
    files = {root / WORKFLOWS_DIR / name: workflow_text(name, release) for name in workflow_names()}
    files[root / DEPENDABOT] = dependabot_text()
    if config_text is not None:
        files[root / CONFIG_NAME] = config_text
    files.update({root / name: text for name, text in (extra or {}).items()})
    return files


def write_files(files: dict[Path, str], force: bool,
                extending: set[Path] | frozenset[Path] = frozenset()) -> InitResult:
    """``extending``: the user's files whose planned text is theirs with lines added (never a conflict)."""
    result = InitResult()
    for path, text in files.items():
        try:
            current = path.read_text(encoding="utf-8") if path.exists() else None
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read {path}: {exc}", fix="check the file's permissions") from None
        if current == text:
            result.unchanged.append(path)
            continue
        if current is not None and not force and path not in extending:
            result.conflicts.append(path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        (result.created if current is None else result.extended if path in extending else result.replaced).append(path)
    return result


@dataclass(frozen=True)
class PipelinePaths:
    """Where the pipeline `mlcd init --train` writes: the splits and the seed's key in params.yaml."""

    train: str
    test: str
    seed_param: str


def config_text(data_path: str, contract: InferredContract, model_name: str,
                pipeline: PipelinePaths | None = None) -> str:
    """A first mlcd.yaml, commented for review; it validates against the schema or this raises."""
    classification = contract.task == "classification"
    data: dict[str, Any] = {"path": data_path}
    if pipeline is not None:
        data["splits"] = {"train": pipeline.train, "test": pipeline.test}
    metrics = ["accuracy", "f1_macro", "log_loss"] if classification else ["rmse", "mae", "r2"]
    headline = metrics[0]
    sections: list[tuple[str, dict[str, Any]]] = [
        ("version", {"version": 1}),
        ("data", {"data": data}),
        ("contract", {"contract": {"label": contract.label, "strict": True, "columns": contract.columns}}),
        ("quality", {"quality": {"max_null_rate": 0.05, "max_duplicate_rate": 0.01}}),
        ("slices", {"slices": contract.slices} if contract.slices else {}),
        ("model", {"model": {"name": model_name, "path": "models/model.skops"}}),
        ("train", {"train": {"seed_param": pipeline.seed_param}} if pipeline is not None else {}),
        ("evaluate", {"evaluate": {"task": contract.task}}),
        ("metrics", {"metrics": dict.fromkeys(metrics)}),
        ("gates", {"gates": {"metrics": {headline: {"max_regression_vs_base": 0.02,
                                                    "max_regression_vs_production": 0.02}}}}),
    ]
    comments = {
        "data": "# Add data.splits (train/test files) when your pipeline writes them; evaluate reads the test split."
                if pipeline is None else
                "# The `split` stage of dvc.yaml (`mlcd split`) writes data.splits; evaluate reads the test split.",
        "contract": "# Inferred from the data by `mlcd init`: review every range and list of allowed values,\n"
                    "# and mark columns the model must not see with `feature: false`.",
        "quality": "# Rules every dataset must meet; `mlcd config schema` lists the others (min_rows, ...).",
        "gates": "# Add absolute thresholds (min/max) once you know what a good model scores.",
    }
    parts = ["# mlcd configuration, written by `mlcd init`. Check it with `mlcd config validate`;\n"
             "# `mlcd config schema` prints every key and its default.\n"]
    for name, section in sections:
        if not section:
            continue
        comment = comments.get(name)
        dumped = _dump(section)
        parts.append((comment + "\n" if comment else "") + dumped)
    text = "\n".join(parts)
    _, problems = validate_text(text, CONFIG_NAME)
    if problems:
        raise ConfigError(f"the mlcd.yaml inferred from {data_path} does not validate: {problems[0].one_line()}",
                          fix="report this as a bug in mlcd init; meanwhile write mlcd.yaml by hand",
                          problems=problems)
    return text


def _dump(section: dict[str, Any]) -> str:
    """Block style, except that a column's spec and a list of names fit on one line each."""
    def flow(value: Any) -> str:
        text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, sort_keys=False, width=10**6)
        return str(text).strip().removesuffix("...").strip()

    lines = []
    for key, value in section.items():
        if key == "contract":
            lines += [f"{key}:", f"  label: {flow(value['label'])}", f"  strict: {flow(value['strict'])}",
                      "  columns:"]
            lines += [f"    {flow(name)}: {flow(spec)}" for name, spec in value["columns"].items()]
        elif key == "slices":
            lines.append(f"{key}: {flow(value)}")
        else:
            dumped = yaml.safe_dump({key: value}, sort_keys=False, allow_unicode=True, default_flow_style=False)
            lines.append(str(dumped).rstrip("\n").replace(": null", ":"))
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class TrainingSetup:
    """What `mlcd init --train` found and did, for the next steps it prints."""

    script: str
    data_path: str
    script_missing: list[str] = field(default_factory=list)  # the script's side of the contract it lacks
    unresolved_imports: list[str] = field(default_factory=list)
    kept_requirements: bool = False  # requirements.txt was there: the user's, left as it is
    params_added: list[str] = field(default_factory=list)  # keys added to the user's params.yaml
    choose_remote: bool = False  # DVC remotes exist, none is the default
    changed_repository: bool = False  # DVC initialised, a remote added or .gitignore lines added


def next_steps(root: Path, result: InitResult, has_config: bool, training: TrainingSetup | None = None) -> list[str]:
    written = [str(p.relative_to(root)) for p in (*result.created, *result.replaced, *result.extended)]
    steps = []
    if not has_config:
        steps.append(f"write {CONFIG_NAME}: `mlcd init --data FILE --label COLUMN` infers a first data contract")
    if training is not None:
        if training.script_missing:
            steps.append(f"make {training.script} " + "; ".join(training.script_missing) +
                         " (dvc.yaml passes these in the environment; see the comment in its `train` stage)")
        if training.unresolved_imports:
            steps.append(f"add the distributions providing {', '.join(training.unresolved_imports)} (imported by "
                         f"{training.script}, not installed here) to requirements.txt")
        if training.params_added:
            steps.append(f"check params.yaml (yours, kept): mlcd init added {', '.join(training.params_added)}, "
                         "which dvc.yaml's split and train stages read")
        if training.kept_requirements:
            steps.append(f"check that requirements.txt (yours, left as it is) lists what {training.script} imports")
        if training.choose_remote:
            steps.append("choose the DVC remote the workflows push to: dvc remote default NAME")
    steps.append("check the config: mlcd config validate")
    if training is not None and (written or training.changed_repository):
        added = [*written, ".dvc", ".dvcignore", ".gitignore", training.data_path, training.script]
        steps.append(f"review and commit: git add {' '.join(dict.fromkeys(added))} && git commit -m 'Add mlcd'")
    elif written:
        steps.append(f"review and commit: git add {' '.join(written)} && git commit -m 'Add mlcd'")
    steps += [
        "in the repository's Settings → Environments, create `staging` and `production` (add required reviewers "
        "to production)",
        "optional repository variables (Settings → Secrets and variables → Actions): MLCD_TRAIN_RUNS_ON, e.g. "
        "'[\"self-hosted\", \"gpu\"]' for a GPU runner; MLCD_REGISTRY and MLCD_IMAGE for a registry other than "
        "GHCR (its token as the secret MLCD_REGISTRY_TOKEN, its user as MLCD_REGISTRY_USER); MLCD_CML_CLOUD to "
        "train pull requests on a cloud GPU runner launched by CML (see mlcd's README)",
        "on a self-hosted runner, run `mlcd doctor` to check Python, Docker, the DVC remote, the GPU and git",
    ]
    if training is not None:
        steps.append("optional: `mlcd train` here, then `git add dvc.lock metrics.json data/split/.gitignore "
                     "models/.gitignore` and commit, so that pull requests compare their model with main's from "
                     "the first one on")
    steps.append("open a pull request: the report appears as a comment, and `mlcd / gates` as a check you can require "
                 "in the branch protection of main")
    return steps
