from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mlcd.errors import ModelError

# Types from these packages may appear in a model file. Anything else must be listed by the user
# in mlcd.yaml (model.trusted_types): a model file is code, and is never unpickled blindly.
TRUSTED_MODULES = ("sklearn", "numpy", "scipy")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _is_trusted(type_name: str, extra: Iterable[str]) -> bool:
    root = type_name.split(".", 1)[0]
    return root in TRUSTED_MODULES or type_name in set(extra)


def untrusted_types(path: Path, extra_trusted: Iterable[str] = ()) -> list[str]:
    """Types in the file that neither skops' defaults, the trusted packages, nor the user trust."""
    import skops.io

    try:
        found = skops.io.get_untrusted_types(file=path)
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ModelError(
            f"{path} is not a skops model file ({exc})",
            fix="write the model with skops.io.dump in the training stage",
        ) from None
    extra = tuple(extra_trusted)
    return [name for name in found if not _is_trusted(name, extra)]


def load_model(path: Path, extra_trusted: Iterable[str] = (), expected_sha256: str | None = None) -> Any:
    """Load a skops model, refusing unknown types and (if given) a file whose sha256 differs."""
    import skops.io

    if not path.is_file():
        raise ModelError(f"model file {path} does not exist", fix="run `mlcd train` first")
    if expected_sha256 is not None:
        actual = file_sha256(path)
        if actual != expected_sha256:
            raise ModelError(
                f"{path} has sha256 {actual[:12]}…, but {expected_sha256[:12]}… was recorded: "
                "the file changed after training",
                fix="retrain, or restore the model file that was recorded",
            )
    extra = tuple(extra_trusted)
    refused = untrusted_types(path, extra)
    if refused:
        raise ModelError(
            f"{path} contains types that are not trusted: {', '.join(refused)}",
            fix="if you wrote these types yourself, list them under model.trusted_types in mlcd.yaml",
        )
    trusted = skops.io.get_untrusted_types(file=path)
    try:
        return skops.io.load(path, trusted=trusted)
    except Exception as exc:  # skops raises many types for corrupt files
        raise ModelError(f"cannot load {path}: {exc}", fix="retrain to write a fresh model file") from None
