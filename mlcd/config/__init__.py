"""Loading mlcd.yaml, and the precedence of settings.

Precedence, written once (:func:`flag_or_env`): a command-line flag > its environment variable > mlcd.yaml >
the default. For the file itself: ``--config PATH`` > ``$MLCD_CONFIG`` > ``mlcd.yaml`` in the current
directory or the nearest parent. Defaults are in the shipped JSON schema (``mlcd/resources/mlcd.schema.json``).
"""

from __future__ import annotations

import contextlib
import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlcd.config.deprecated import Deprecation, deprecations, migrate
from mlcd.config.model import DEFAULT_DIRECTIONS, ColumnSpec, Config, Contract, Direction, build_config
from mlcd.config.validate import Path_, parse_yaml, schema_default, schema_problems
from mlcd.errors import ConfigError, Location

__all__ = [
    "CONFIG_NAME",
    "DEFAULT_DIRECTIONS",
    "Checked",
    "ColumnSpec",
    "Config",
    "Contract",
    "Deprecation",
    "Direction",
    "check_text",
    "find_config",
    "flag_or_env",
    "load_config",
    "validate_text",
    "warn_deprecated",
]

CONFIG_NAME = "mlcd.yaml"
CLASSIFICATION_METRICS = {"accuracy", "balanced_accuracy", "f1_macro", "precision_macro", "recall_macro",
                          "log_loss", "roc_auc_ovr"}
REGRESSION_METRICS = {"rmse", "mae", "r2"}


def flag_or_env(flag: object | None, flag_name: str, env: Mapping[str, str],
                variable: str) -> tuple[str, str] | None:
    """(value, where it came from: the flag's or the variable's name) of a setting: the flag's when given, else
    the environment variable's when set and not blank; None when neither is, and mlcd.yaml (or the default)
    decides."""
    if flag is not None:
        return str(flag), flag_name
    value = env.get(variable, "").strip()
    return (value, variable) if value else None


def find_config(explicit: str | None = None, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Path:
    chosen = flag_or_env(explicit, "--config", os.environ if env is None else env, "MLCD_CONFIG")
    if chosen:
        path = Path(chosen[0])
        if not path.is_file():
            raise ConfigError(f"config file {chosen[0]} ({chosen[1]}) does not exist",
                              fix=f"pass an existing file to {chosen[1]}")
        return path
    here = (cwd or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / CONFIG_NAME
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"no {CONFIG_NAME} in {here} or any parent directory",
        fix="run `mlcd init` to write one, or pass --config PATH",
    )


@dataclass(frozen=True)
class Checked:
    """A config document as written, every problem in it (each at its file:line:column; none: valid), and
    the deprecated keys it uses."""

    data: dict[str, Any]
    problems: list[ConfigError]
    deprecated: list[Deprecation] = field(default_factory=list)


def check_text(text: str, filename: str) -> Checked:
    try:
        data, positions = parse_yaml(text, filename)
    except ConfigError as problem:
        return Checked({}, [problem])
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return Checked({}, [ConfigError("the file must be a mapping of keys to values",
                                        location=Location(filename, 1, 1), fix="start with `version: 1`")])
    problems = schema_problems(data, positions, filename)
    deprecated: list[Deprecation] = []
    # where the structure is wrong, the schema problems above already say so
    with contextlib.suppress(KeyError, TypeError, AttributeError):
        problems += _reference_problems(data, positions, filename)
        deprecated, both = deprecations(data, positions, filename)
        problems += both
    return Checked(data, problems, deprecated)


def validate_text(text: str, filename: str) -> tuple[dict[str, Any], list[ConfigError]]:
    """Every problem in a config document, each at its file:line:column. Empty list: valid."""
    checked = check_text(text, filename)
    return checked.data, checked.problems


def load_config(explicit: str | None = None, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Config:
    path = find_config(explicit, env, cwd)
    filename = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {filename}: {exc}", fix="check the file's permissions and encoding") from None
    checked = check_text(text, filename)
    problems = checked.problems
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more: run `mlcd config validate`)" if len(problems) > 1 else ""
        raise ConfigError(first.message + more, location=first.location, fix=first.fix, problems=problems)
    warn_deprecated(checked.deprecated)
    return build_config(migrate(checked.data), path.resolve().parent, filename)


def warn_deprecated(keys: list[Deprecation]) -> None:
    """One warning per deprecated key (a ``::warning`` annotation at its line on GitHub)."""
    if not keys:
        return
    from mlcd.output import get_output

    out = get_output()
    for key in keys:
        out.warning(f"{key.message} (fix: {key.fix})", key.location, title="mlcd.yaml: deprecated key")


def _reference_problems(
    data: dict[str, Any], positions: dict[Path_, tuple[int, int]], filename: str
) -> list[ConfigError]:
    """Checks the schema cannot express: names that must refer to declared columns or metrics."""
    problems: list[ConfigError] = []
    columns = list(data["contract"]["columns"])
    metrics = list(data.get("metrics") or schema_default("metrics"))

    def at(path: Path_) -> Location:
        line, col = positions.get(path, (0, 0))
        return Location(filename, line or None, col or None)

    def refer(path: Path_, name: str, known: list[str], section: str) -> None:
        if name in known:
            return
        hint = difflib.get_close_matches(name, known, n=1)
        fix = f"did you mean '{hint[0]}'?" if hint else f"declare it under {section} first"
        label = ".".join(str(p) for p in path if p != "<key>")
        problems.append(ConfigError(f"{label}: '{name}' is not declared in {section}", location=at(path), fix=fix))

    refer(("contract", "label"), data["contract"]["label"], columns, "contract.columns")
    for i, name in enumerate(data["contract"].get("unique", [])):
        refer(("contract", "unique", i), name, columns, "contract.columns")
    for i, name in enumerate(data.get("slices", [])):
        refer(("slices", i), name, columns, "contract.columns")
    for i, name in enumerate(data.get("drift", {}).get("columns", [])):
        refer(("drift", "columns", i), name, columns, "contract.columns")
    for name in data.get("quality", {}).get("max_null_rate_per_column", {}):
        refer(("quality", "max_null_rate_per_column", name, "<key>"), name, columns, "contract.columns")
    gates = data.get("gates", {})
    for name in gates.get("metrics", {}):
        refer(("gates", "metrics", name, "<key>"), name, metrics, "metrics")
    for name in gates.get("max_slice_gap", {}):
        refer(("gates", "max_slice_gap", name, "<key>"), name, metrics, "metrics")
    for name, spec in data["contract"]["columns"].items():
        low, high = spec.get("min"), spec.get("max")
        if low is not None and high is not None and low > high:
            problems.append(ConfigError(f"contract.columns.{name}: min {low} is larger than max {high}",
                                        location=at(("contract", "columns", name)), fix="swap min and max"))
    for environment, spec in (data.get("deploy", {}).get("environments") or {}).items():
        for kind in ("docker", "kubernetes"):
            env = spec.get(kind, {}).get("env") or {}
            where = ("deploy", "environments", environment, kind, "env")
            if "MLCD_PORT" in env:
                problems.append(ConfigError(f"{'.'.join(where)}.MLCD_PORT: the {kind} target sets the port itself",
                                            location=at((*where, "MLCD_PORT", "<key>")),
                                            fix="remove it; package.port is the port the server listens on"))
            if "MLCD_PREDICTION_LOG" in env and spec[kind].get("prediction_log"):
                problems.append(ConfigError(
                    f"{'.'.join(where)}.MLCD_PREDICTION_LOG: {kind}.prediction_log sets it already",
                    location=at((*where, "MLCD_PREDICTION_LOG", "<key>")), fix="keep one of the two"))
    labels = data.get("monitoring", {}).get("labels") or {}
    if "id_column" in labels and "key" in labels:
        problems.append(ConfigError("monitoring.labels: id_column and key are both set",
                                    location=at(("monitoring", "labels", "key", "<key>")),
                                    fix="keep one: id_column pairs by the logged request id, key by a feature column"))
    if "key" in labels:
        refer(("monitoring", "labels", "key"), labels["key"], columns, "contract.columns")
    task = data.get("evaluate", {}).get("task", "classification")
    wrong = REGRESSION_METRICS if task == "classification" else CLASSIFICATION_METRICS
    for name in metrics:
        if name in wrong:
            problems.append(ConfigError(f"metrics.{name}: not a {task} metric", location=at(("metrics", name, "<key>")),
                                        fix="remove it, or set evaluate.task to the task it belongs to"))
    return problems
