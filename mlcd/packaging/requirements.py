"""The Python distributions an image needs to serve a model, pinned.

An image runs ``mlcd serve``, which needs mlcd's core dependencies and its ``serve`` extra, read from
the installed mlcd's metadata. The extras of the CI jobs (``train``: DVC, pandera, pyarrow, GTO, …;
``package``: the Docker SDK) stay out, which keeps hundreds of megabytes out of every image.
Each is pinned to the version the model was trained with when the lineage records it, else to the
version installed here, else left to mlcd's own requirement.

``python -m mlcd.packaging.requirements`` prints the pinned list, e.g. to fill a wheelhouse::

    pip download --only-binary=:all: --dest wheels $(python -m mlcd.packaging.requirements)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata

SERVE = "serve"

_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_EXTRA = re.compile(r"""\bextra\s*==\s*["']([^"']+)["']""")


def normalize(name: str) -> str:
    """PEP 503 normalized distribution name: ``Scikit_Learn`` → ``scikit-learn``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    match = _NAME.match(requirement)
    if match is None:
        raise ValueError(f"not a requirement: {requirement!r}")
    return normalize(match.group(1))


def is_served(requirement: str) -> bool:
    """True for a requirement of mlcd's core or of its ``serve`` extra (``extra == "serve"`` in its marker)."""
    match = _EXTRA.search(requirement.partition(";")[2])
    return match is None or normalize(match.group(1)) == SERVE


def serving_requirements(
    mlcd_requires: Iterable[str], pins: Mapping[str, str], extra: Sequence[str] = ()
) -> list[str]:
    """One line per dependency of mlcd that serving needs (the core and the ``serve`` extra), then ``extra``
    (which wins over the same name).

    ``mlcd_requires`` are mlcd's requirement strings (``importlib.metadata.requires``); ``pins`` maps a
    distribution name to the version to pin. Markers are dropped: images run Linux and CPython 3.
    """
    overridden = {requirement_name(spec) for spec in extra}
    pinned = {normalize(name): version for name, version in pins.items()}
    lines = []
    for requirement in mlcd_requires:
        if not is_served(requirement):
            continue
        name = requirement_name(requirement)
        if name in overridden:
            continue
        lines.append(f"{name}=={pinned[name]}" if name in pinned else requirement.split(";", 1)[0].strip())
    return lines + [spec.strip() for spec in extra]


def serving_names(mlcd_requires: Iterable[str]) -> list[str]:
    return [requirement_name(spec) for spec in mlcd_requires if is_served(spec)]


def installed_versions(names: Iterable[str]) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def mlcd_requires() -> list[str]:
    return metadata.requires("mlcd") or []


def main() -> int:
    own = mlcd_requires()
    print("\n".join(serving_requirements(own, installed_versions(serving_names(own)))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
