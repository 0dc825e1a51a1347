"""The Docker engine, reached through the Docker SDK; every failure becomes a one-line DockerError."""

from __future__ import annotations

from typing import Any

from mlcd.errors import DockerError

ENGINE_FIX = "start the Docker engine (e.g. `sudo systemctl start docker`), or point DOCKER_HOST at one"


def reason(exc: BaseException) -> str:
    """The useful part of a Docker SDK exception, on one line."""
    explanation = getattr(exc, "explanation", None)
    text = str(explanation or exc)
    if "Connection refused" in text or "No such file or directory" in text:
        text = "connection refused"
    return " ".join(text.split())


def connect() -> Any:
    """A ``docker.DockerClient`` for the engine in the environment (DOCKER_HOST, or the local socket)."""
    import docker

    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except docker.errors.DockerException as exc:
        raise DockerError(f"cannot reach the Docker engine: {reason(exc)}", fix=ENGINE_FIX) from None
    return client


def get_image(client: Any, reference: str) -> Any:
    import docker

    try:
        return client.images.get(reference)
    except docker.errors.ImageNotFound:
        raise DockerError(f"no image {reference} in the local Docker engine",
                          fix="build it with `mlcd package`, or `docker pull` it first") from None
    except docker.errors.APIError as exc:
        raise DockerError(f"cannot inspect image {reference}: {reason(exc)}") from None
