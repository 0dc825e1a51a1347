"""The model file an image serves, copied out of the image: for parity when this checkout has another one
(a rollback returns to a version trained long ago). The image's own ``MLCD_MODEL`` says where it is."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

from mlcd.errors import DockerError, ModelError
from mlcd.model.io import file_sha256
from mlcd.packaging.engine import connect, reason

MODEL_ENV = "MLCD_MODEL"


def model_path_in(image_attrs: dict[str, Any]) -> str:
    """Where the image's model file is (its ``MLCD_MODEL``), or a DockerError naming the image."""
    for entry in (image_attrs.get("Config") or {}).get("Env") or []:
        name, _, value = str(entry).partition("=")
        if name == MODEL_ENV and value:
            return value
    image = str(image_attrs.get("Id", "?"))[:19]
    raise DockerError(f"image {image} sets no {MODEL_ENV}: it was not built by `mlcd package`",
                      fix="promote images that `mlcd package` built")


def copy_model_out(reference: str, expected_sha256: str, target_dir: Path) -> Path:
    """The model file of image ``reference`` (pulled if the engine lacks it) under ``target_dir``, checked
    against the sha256 the image's labels name."""
    import docker

    client = connect()
    try:
        try:
            image = client.images.get(reference)
        except docker.errors.ImageNotFound:
            image = client.images.pull(reference)
        inside = model_path_in(image.attrs)
        container = client.containers.create(image.id, command=["true"], network_disabled=True)
        try:
            stream, _ = container.get_archive(inside)
            archive = io.BytesIO(b"".join(stream))
        finally:
            container.remove(force=True)
    except docker.errors.DockerException as exc:
        raise DockerError(f"cannot copy the model out of {reference}: {reason(exc)}",
                          fix="run where the Docker engine can pull the image (docker login to its registry)") \
            from None
    target_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=archive) as tar:
        member = next((m for m in tar.getmembers() if m.isfile()), None)
        extracted = tar.extractfile(member) if member is not None else None
        if member is None or extracted is None:
            raise DockerError(f"{reference}: {inside} is not a file in the image")
        target = target_dir / Path(member.name).name
        target.write_bytes(extracted.read())
    found = file_sha256(target)
    if found != expected_sha256:
        raise ModelError(f"{reference} holds model {found[:12]}…, but its labels name {expected_sha256[:12]}…",
                         fix="rebuild the image with `mlcd package`; do not promote an image whose labels lie")
    return target
