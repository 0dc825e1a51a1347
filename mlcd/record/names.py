"""Promotion tags' names and messages, made and parsed with GTO's own helpers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from mlcd.errors import ConfigError, UsageError

Action = Literal["register", "assign", "unassign"]
FORMAT = 1


def check_model_name(model: str) -> None:
    from gto.constants import fullname_re

    if not fullname_re.match(model):
        raise ConfigError(
            f"model.name '{model}' cannot name a GTO artifact: promotion tags need letters, digits, '-' and '_', "
            "starting and ending with a letter or digit",
            fix="rename the model in mlcd.yaml (e.g. replace '.' with '-')",
        )


def check_stage_name(stage: str) -> None:
    from gto.constants import check_string_is_valid

    if not check_string_is_valid(stage):  # type: ignore[no-untyped-call]
        raise ConfigError(f"environment '{stage}' cannot be a GTO stage name",
                          fix="use letters, digits, '-' and '_', starting and ending with a letter or digit")


def normalise_version(text: str) -> str:
    """``1.2.0`` or ``v1.2.0`` → ``v1.2.0``; anything that is not semantic versioning is refused."""
    from gto.versions import SemVer

    version = text if text.startswith("v") else f"v{text}"
    if not SemVer.is_valid(version):  # type: ignore[no-untyped-call]
        raise UsageError(f"'{text}' is not a version like v1.2.0", fix="give a semantic version, e.g. v1.2.0")
    return version


def _tag_name(action: Action, model: str, *, version: str | None = None, stage: str | None = None,
              cancel: bool = False) -> str:
    from gto.constants import Action as GtoAction
    from gto.tag import name_tag

    if action == "register":
        return str(name_tag(GtoAction.REGISTER, model, version=version, simple=True))
    kind = GtoAction.UNASSIGN if cancel else GtoAction.ASSIGN
    return str(name_tag(kind, model, stage=stage, simple=True))


def registration_tag(model: str, version: str) -> str:
    return _tag_name("register", model, version=version)


def assignment_tag(model: str, stage: str, number: int) -> str:
    return f"{_tag_name('assign', model, stage=stage)}#{number}"


def unassignment_tag(model: str, stage: str, number: int) -> str:
    return f"{_tag_name('unassign', model, stage=stage, cancel=True)}#{number}"


@dataclass(frozen=True)
class TagName:
    action: Action
    model: str
    version: str | None = None
    stage: str | None = None
    number: int | None = None


def parse_tag_name(tag: str) -> TagName | None:
    """A GTO tag name's parts; None for any other tag (and for GTO's deprecation tags)."""
    from gto.constants import COUNTER, NAME, STAGE, VERSION
    from gto.constants import Action as GtoAction
    from gto.tag import parse_name

    parsed = parse_name(tag, raise_on_fail=False)
    actions: dict[Any, Action] = {GtoAction.REGISTER: "register", GtoAction.ASSIGN: "assign",
                                  GtoAction.UNASSIGN: "unassign"}
    if not parsed or parsed.get("action") not in actions:
        return None
    return TagName(actions[parsed["action"]], parsed[NAME], parsed.get(VERSION), parsed.get(STAGE),
                   parsed.get(COUNTER))


# --- messages ---------------------------------------------------------------------------------------


def summary_line(action: Action, model: str, version: str, stage: str | None = None) -> str:
    """The sentence GTO itself writes for the action, so ``gto history`` reads the same for both tools."""
    if action == "register":
        return f"Registering artifact {model} version {version}"
    if action == "assign":
        return f"Assigning stage {stage} to artifact {model} version {version}"
    return f"Unassigning stage '{stage}' to artifact '{model}' version '{version}'"


def tag_message(summary: str, data: Mapping[str, Any]) -> str:
    body = yaml.safe_dump({"mlcd": FORMAT, **data}, sort_keys=False, allow_unicode=True, width=1000)
    return f"{summary}\n\n{body}"


def parse_message(message: str) -> tuple[str, dict[str, Any]]:
    """(summary, evidence) of a tag message; evidence is empty for tags mlcd did not write."""
    summary, _, rest = message.strip().partition("\n\n")
    try:
        data = yaml.safe_load(rest) if rest.strip() else None
    except yaml.YAMLError:
        data = None
    if not isinstance(data, dict) or data.get("mlcd") != FORMAT:
        return summary.strip(), {}
    data.pop("mlcd")
    return summary.strip(), data


def tag_refs(model: str) -> list[str]:
    """The ref patterns of every promotion tag of ``model`` (registrations, then stage tags)."""
    from gto.constants import name_to_tag

    tagged = name_to_tag(model)  # type: ignore[no-untyped-call]
    return [f"refs/tags/{tagged}@*", f"refs/tags/{tagged}#*"]
