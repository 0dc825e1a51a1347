"""Copy the Palmer penguins CSV shipped in the palmerpenguins package, byte for byte.

With your own data, delete the `fetch` stage from dvc.yaml and track the file with `dvc add` or
`dvc import` instead (see README.md).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

PACKAGE = "palmerpenguins"
RESOURCE = "data/penguins.csv"


def fetch(destination: Path) -> int:
    data = resources.files(PACKAGE).joinpath(RESOURCE).read_bytes()
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_bytes(data)
    return len(data)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m penguins.fetch", description=__doc__)
    parser.add_argument("destination", type=Path, help="where to write the CSV")
    args = parser.parse_args(argv)
    size = fetch(args.destination)
    print(f"fetch: {PACKAGE}/{RESOURCE} ({size} bytes) -> {args.destination}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
