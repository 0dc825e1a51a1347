"""A hermetic build's wheels, kept in an image of their own and built once per set of wheels.

The model's Dockerfile copies them with ``COPY --from=mlcd-wheelhouse:<key>``, so they are not sent
with every build context: a model-only rebuild sends a few hundred kilobytes, not the wheelhouse.
The key is a hash of the wheels' contents, so a changed wheelhouse makes a new image.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlcd.errors import DockerError, InputError
from mlcd.model import file_sha256
from mlcd.output import Output
from mlcd.packaging.engine import reason
from mlcd.packaging.requirements import normalize

REPOSITORY = "mlcd-wheelhouse"
LABEL = "dev.mlcd.wheelhouse"
DOCKERFILE = "FROM scratch\nCOPY wheels/ /wheels/\nLABEL {label}={key}\n"


@dataclass(frozen=True)
class Wheelhouse:
    directory: Path
    mlcd_wheel: Path
    hashes: dict[str, str]
    """File name → sha256 of every wheel but mlcd's."""

    @property
    def key(self) -> str:
        listing = "".join(f"{name} {digest}\n" for name, digest in sorted(self.hashes.items()))
        return hashlib.sha256(listing.encode()).hexdigest()[:16]

    @property
    def image(self) -> str:
        return f"{REPOSITORY}:{self.key}"

    def by_distribution(self) -> dict[tuple[str, str], str]:
        """(normalized name, version) → sha256, for the SBOM."""
        return {(normalize(name.split("-")[0]), name.split("-")[1]): digest for name, digest in self.hashes.items()}


def open_wheelhouse(directory: Path, mlcd_version: str) -> Wheelhouse:
    if not directory.is_dir():
        raise InputError(f"wheelhouse {directory} is not a directory", fix="pass the directory holding the wheels")
    found = sorted(directory.glob(f"mlcd-{mlcd_version}-*.whl"))
    if not found:
        raise InputError(f"{directory} has no wheel of mlcd {mlcd_version}",
                         fix=f"add one: pip wheel --no-deps --wheel-dir {directory} mlcd=={mlcd_version} "
                             "(or the mlcd source directory)")
    wheels = sorted(p for p in directory.glob("*.whl") if not p.name.startswith("mlcd-"))
    return Wheelhouse(directory, found[-1], {wheel.name: file_sha256(wheel) for wheel in wheels})


def _context(wheelhouse: Wheelhouse, handle: Any) -> None:
    with tarfile.open(fileobj=handle, mode="w") as archive:
        dockerfile = DOCKERFILE.format(label=LABEL, key=wheelhouse.key).encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        archive.addfile(info, io.BytesIO(dockerfile))
        for name in sorted(wheelhouse.hashes):
            archive.add(wheelhouse.directory / name, arcname=f"wheels/{name}")
    handle.seek(0)


def ensure_image(client: Any, wheelhouse: Wheelhouse, out: Output) -> str:
    """The wheelhouse image, built now if the engine does not have it yet."""
    import docker

    try:
        client.images.get(wheelhouse.image)
        return wheelhouse.image
    except docker.errors.ImageNotFound:
        pass
    except docker.errors.APIError as exc:
        raise DockerError(f"cannot look for {wheelhouse.image}: {reason(exc)}") from None
    out.info(f"  {len(wheelhouse.hashes)} wheels from {wheelhouse.directory} → {wheelhouse.image} "
             "(once per set of wheels)")
    with tempfile.TemporaryFile() as handle:
        _context(wheelhouse, handle)
        try:
            for chunk in client.api.build(fileobj=handle, custom_context=True, tag=wheelhouse.image, rm=True,
                                          forcerm=True, decode=True, use_config_proxy=False):
                if "error" in chunk:
                    raise DockerError(f"cannot build {wheelhouse.image}: {' '.join(str(chunk['error']).split())}")
        except docker.errors.DockerException as exc:
            raise DockerError(f"cannot build {wheelhouse.image}: {reason(exc)}") from None
    return wheelhouse.image
