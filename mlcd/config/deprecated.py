"""Keys mlcd.yaml may still have from an older mlcd. A moved key is read from its old place with a warning
(set in both places, it is an error); a retired one is ignored with a warning. Each warning names the key,
its line, and what to write instead."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from mlcd.errors import ConfigError, Location

__all__ = ["MOVED", "RETIRED", "Deprecation", "deprecations", "migrate"]

Key = tuple[str, str]

# old key → new key, same meaning: `mlcd data test` and `mlcd drift` share one drift rule and one section
MOVED: dict[Key, Key] = {
    ("monitoring", "alpha"): ("drift", "alpha"),
    ("monitoring", "min_effect"): ("drift", "min_effect"),
    ("monitoring", "min_rows"): ("drift", "min_rows"),
    ("monitoring", "bins"): ("drift", "bins"),
}
_RULE = "drift.alpha is the false-alarm rate over every column tested (default 0.05)"
# key → what decides instead: the data test's own drift rule, which the calibrated rule of `mlcd drift` replaced
RETIRED: dict[Key, str] = {
    ("drift", "psi_threshold"): "drift.min_effect.psi is the PSI a numeric column must reach (default 0.1)",
    ("drift", "ks_pvalue"): _RULE,
    ("drift", "chi2_pvalue"): _RULE,
}


@dataclass(frozen=True)
class Deprecation:
    """A deprecated key a config document uses: shown as a warning, never an error."""

    message: str
    fix: str
    location: Location


def _dotted(key: Key) -> str:
    return ".".join(key)


def _given(data: dict[str, Any], key: Key) -> bool:
    section = data.get(key[0])
    return isinstance(section, dict) and key[1] in section


def deprecations(data: dict[str, Any], positions: dict[Any, tuple[int, int]],
                 filename: str) -> tuple[list[Deprecation], list[ConfigError]]:
    """The deprecated keys ``data`` uses, and an error for each moved key that is set in both places."""

    def at(key: Key) -> Location:
        line, column = positions.get((*key, "<key>"), (0, 0))
        return Location(filename, line or None, column or None)

    warnings: list[Deprecation] = []
    errors: list[ConfigError] = []
    for old, new in MOVED.items():
        if not _given(data, old):
            continue
        if _given(data, new):
            errors.append(ConfigError(f"{_dotted(old)} and {_dotted(new)} are both set: {_dotted(old)} is the "
                                      f"deprecated name of {_dotted(new)}", location=at(old),
                                      fix=f"remove {_dotted(old)}"))
        else:
            warnings.append(Deprecation(f"{_dotted(old)} is deprecated: it is {_dotted(new)} now, the drift rule of "
                                        "both `mlcd data test` and `mlcd drift`", f"move it to {_dotted(new)}",
                                        at(old)))
    for key, instead in RETIRED.items():
        if _given(data, key):
            warnings.append(Deprecation(f"{_dotted(key)} is no longer read: a column drifts when Holm's procedure "
                                        "rejects it at drift.alpha and its effect reaches drift.min_effect",
                                        f"remove it; {instead}", at(key)))
    return warnings, errors


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with the moved keys in their new place and the retired ones left out: what
    :func:`mlcd.config.model.build_config` reads."""
    moved = copy.deepcopy(data)
    for old, new in MOVED.items():
        if _given(moved, old):
            moved.setdefault(new[0], {})[new[1]] = moved[old[0]].pop(old[1])
    for key in RETIRED:
        if _given(moved, key):
            del moved[key[0]][key[1]]
    return moved
