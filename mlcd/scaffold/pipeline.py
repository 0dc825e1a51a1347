"""The pipeline `mlcd init --train SCRIPT` gives a repository that holds only data and a training script:
dvc.yaml (split → the script → evaluate), params.yaml, a requirements.txt pinned from the script's
imports, the .gitignore lines for what the pipeline and mlcd write, and DVC with a local default remote.

The script's side of the contract, passed in the environment of its stage:

``MLCD_TRAIN_DATA``  the training split (CSV), every column of the data
``MLCD_LABEL``       the label column
``MLCD_SEED``        ``train.seed`` from params.yaml
``MLCD_MODEL_PATH``  where to write the model with ``skops.io.dump``: one scikit-learn estimator that
                     takes a DataFrame of the contract's feature columns (all but the label, unless marked
                     ``feature: false``) and predicts the label
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import yaml

from mlcd.errors import InputError, ToolFailed, UsageError

TRAIN_SPLIT = "data/split/train.csv"
TEST_SPLIT = "data/split/test.csv"
MODEL_PATH = "models/model.skops"
SEED_PARAM = "train.seed"
LOCAL_REMOTE = "local"
LOCAL_REMOTE_DIR = ".dvc-storage"  # in the repository's root (git-ignored), where the workflows cache it
SCRIPT_ENV = ("MLCD_TRAIN_DATA", "MLCD_LABEL", "MLCD_SEED", "MLCD_MODEL_PATH")

# Written by the pipeline, mlcd and DVC on every run; never committed.
GITIGNORE_LINES = (
    "/.dvc-storage/",
    "/predictions.csv",
    "/gates.json",
    "/data-test.json",
    "/data-test.md",
    "/comparison.json",
    "/report.md",
    "__pycache__/",
)


def dvc_yaml(data_path: str, script: str, label: str) -> str:
    # DVC removes a stage's outputs before it runs, but never makes their directory.
    train_cmd = " ".join([
        f"mkdir -p {Path(MODEL_PATH).parent.as_posix()} &&",
        f"MLCD_TRAIN_DATA={TRAIN_SPLIT}", f"MLCD_LABEL={shlex.quote(label)}", "MLCD_SEED=${train.seed}",
        f"MLCD_MODEL_PATH={MODEL_PATH}", "python", shlex.quote(script),
    ])
    return f"""\
# The pipeline `mlcd train` runs (`dvc repro`), written by `mlcd init --train`. Its paths match
# mlcd.yaml; its tunables are in params.yaml, and changing one reruns exactly the stages that read it.
stages:
  split:
    # A seeded split, stratified by the label: the test split is the holdout mlcd evaluates on.
    cmd: mlcd split --test-size ${{split.test_size}} --seed ${{split.seed}}
    deps:
      - {data_path}
    params:
      - mlcd.yaml:
          - contract.label
    outs:
      - {TRAIN_SPLIT}
      - {TEST_SPLIT}

  train:
    # Your script reads the training split from $MLCD_TRAIN_DATA (label column $MLCD_LABEL), seeds
    # with $MLCD_SEED, and writes the model with skops.io.dump to $MLCD_MODEL_PATH.
    cmd: {train_cmd}
    deps:
      - {TRAIN_SPLIT}
      - {script}
    params:
      - train
    outs:
      - {MODEL_PATH}

  evaluate:
    # --no-fail: a failed gate is recorded in gates.json instead of stopping `dvc repro`.
    cmd: mlcd evaluate --no-fail
    deps:
      - {MODEL_PATH}
      - {TEST_SPLIT}
      - mlcd.yaml
    metrics:
      - metrics.json:
          cache: false
    outs:
      - predictions.csv:
          cache: false
      - gates.json:
          cache: false
"""


PARAMS_YAML = """\
# The tunables of dvc.yaml (written by `mlcd init --train`): each stage lists what it reads, so changing a
# value reruns exactly the stages that depend on it.
split:
  test_size: 0.2    # share of the labelled rows held out for evaluation
  seed: 42          # the split's own seed: changing train.seed never changes the holdout
train:
  seed: 42          # given to the training script as MLCD_SEED; put its hyper-parameters here too
"""


# What the generated pipeline reads from params.yaml: section → (key, default, comment)
PIPELINE_PARAMS: dict[str, list[tuple[str, object, str]]] = {
    "split": [("test_size", 0.2, "share of the labelled rows held out for evaluation"),
              ("seed", 42, "the split's own seed: changing train.seed never changes the holdout")],
    "train": [("seed", 42, "given to the training script as MLCD_SEED")],
}


def extend_params(text: str, name: str = "params.yaml") -> tuple[str, list[str]]:
    """The user's params.yaml with the keys the generated pipeline reads added where missing, every other
    line as it was; and the dotted keys added. A file it cannot extend line by line is an InputError."""
    try:
        loaded = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark is not None else name
        raise InputError(f"{where}: not valid YAML, so mlcd init cannot add the pipeline's parameters to it",
                         fix="fix the file, then run `mlcd init` again") from None
    if not isinstance(loaded, dict):
        raise InputError(f"{name} is not a mapping of parameters", fix=f"make {name} a YAML mapping")
    lines = text.splitlines()
    added: list[str] = []
    for section, keys in PIPELINE_PARAMS.items():
        present = loaded.get(section)
        if present is not None and not isinstance(present, dict):
            raise InputError(f"{name}: '{section}' is not a mapping, and the generated pipeline reads "
                             f"{', '.join(f'{section}.{key}' for key, _, _ in keys)}",
                             fix=f"rename your '{section}' key, then run `mlcd init` again")
        missing = [(key, value, comment) for key, value, comment in keys if key not in (present or {})]
        if not missing:
            continue
        new = [f"  {key}: {value}  # {comment} (added by mlcd init)" for key, value, comment in missing]
        header = next((number for number, line in enumerate(lines) if re.match(rf"{section}:\s*(#.*)?$", line)), None)
        if present is None:
            lines += [f"{section}:", *new]
        elif header is None:
            raise InputError(f"{name}: '{section}' is written in flow style, so mlcd init cannot add "
                             f"{', '.join(f'{section}.{key}' for key, _, _ in missing)} to it",
                             fix=f"write '{section}' in block style (one key per line), or add those keys yourself")
        else:
            lines[header + 1:header + 1] = new
        added += [f"{section}.{key}" for key, _, _ in missing]
    return "\n".join(lines) + "\n", added


def script_findings(text: str) -> list[str]:
    """What the training script does not (visibly) do of its side of the contract, one line each."""
    missing = []
    if "MLCD_TRAIN_DATA" not in text:
        missing.append("read the training split from the file named by the environment variable MLCD_TRAIN_DATA")
    if "MLCD_MODEL_PATH" not in text:
        missing.append("write the model to the path in MLCD_MODEL_PATH")
    if "skops" not in text:
        missing.append("save the model with skops (skops.io.dump), the only format mlcd loads")
    return missing


def imported_modules(text: str, filename: str) -> set[str]:
    """Top-level names of the modules a script imports (relative imports are the project's own)."""
    try:
        tree = ast.parse(text, filename=filename)
    except SyntaxError as exc:
        raise UsageError(f"{filename}:{exc.lineno}: cannot parse the training script: {exc.msg}",
                         fix="give --train a Python script that runs") from None
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@dataclass(frozen=True)
class Requirements:
    pins: list[str]  # name==version, sorted
    unresolved: list[str] = field(default_factory=list)  # imported modules no installed distribution provides

    def text(self, script: str) -> str:
        lines = [f"# What {script} needs, pinned to the versions it was written with (`mlcd init --train` read its",
                 "# imports). mlcd, and with it DVC, pandas, scikit-learn and skops, is installed by the mlcd setup",
                 "# action; pin those here too if your model depends on their exact versions.",
                 *self.pins]
        lines += [f"# {module}: imported by {script}, but no installed distribution provides it; add it here"
                  for module in self.unresolved]
        return "\n".join(lines) + "\n"


def requirements_for(modules: set[str], local: set[str],
                     distributions: dict[str, list[str]] | None = None) -> Requirements:
    """Pins for the third-party modules among ``modules`` (standard library and ``local`` ones are left out).

    ``distributions`` maps a module to the distributions providing it (default: this interpreter's).
    """
    provided = metadata.packages_distributions() if distributions is None else distributions
    pins: set[str] = set()
    unresolved = []
    for module in sorted(modules - set(sys.stdlib_module_names) - local - {"__future__"}):
        names = provided.get(module)
        if not names:
            unresolved.append(module)
            continue
        for name in names:
            try:
                pins.add(f"{name}=={metadata.version(name)}")
            except metadata.PackageNotFoundError:
                unresolved.append(module)
    return Requirements(sorted(pins, key=str.lower), unresolved)


def local_modules(root: Path) -> set[str]:
    """Modules of the project itself: importable from the repository root."""
    names = {path.stem for path in root.glob("*.py")}
    names |= {path.parent.name for path in root.glob("*/__init__.py")}
    return names


def missing_lines(current: str, wanted: tuple[str, ...]) -> list[str]:
    present = {line.strip() for line in current.splitlines()}
    return [line for line in wanted if line not in present]


def add_gitignore_lines(root: Path) -> list[str]:
    """Append the lines .gitignore lacks; returns them (none on a second run)."""
    path = root / ".gitignore"
    current = path.read_text(encoding="utf-8") if path.is_file() else ""
    lines = missing_lines(current, GITIGNORE_LINES)
    if lines:
        separator = "" if not current or current.endswith("\n") else "\n"
        header = "" if current else "# Written by the pipeline and mlcd on every run (`mlcd init --train`)\n"
        path.write_text(current + separator + header + "\n".join(lines) + "\n", encoding="utf-8")
    return lines


@dataclass
class DvcSetup:
    initialised: bool = False
    remote_added: bool = False
    remote_missing: bool = False  # remotes exist, none is the default: the user picks one


def require_git_root(root: Path) -> None:
    if not (root / ".git").exists():
        raise UsageError(f"{root} is not the root of a git repository, which DVC and the workflows need",
                         fix="run `git init` (or change to the repository's root) first")


def setup_dvc(root: Path) -> DvcSetup:
    """``dvc init`` where there is no .dvc/, and the local default remote where there is no remote."""
    require_git_root(root)
    result = DvcSetup()
    if not (root / ".dvc").is_dir():
        _dvc(root, "init", "--quiet")
        result.initialised = True
    if not _dvc(root, "remote", "default").strip():
        if _dvc(root, "remote", "list").strip():
            result.remote_missing = True
        else:
            _dvc(root, "remote", "add", "--default", LOCAL_REMOTE, LOCAL_REMOTE_DIR)
            result.remote_added = True
    return result


def _dvc(root: Path, *args: str) -> str:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    completed = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=root, env=env, capture_output=True,
                               text=True, check=False)
    if completed.returncode != 0 and args[:2] != ("remote", "default"):
        message = (completed.stderr or completed.stdout).strip().splitlines()
        raise ToolFailed(f"`dvc {' '.join(args)}` failed: {message[-1] if message else completed.returncode}",
                         fix="run it yourself in the repository's root to see DVC's whole message")
    return completed.stdout if completed.returncode == 0 else ""
