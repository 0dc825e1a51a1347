"""A CycloneDX 1.5 SBOM (JSON) of an image's Python environment and the model it serves.

The inventory is read inside the built image (``importlib.metadata`` in the image's own Python, in a
container without network), so it lists what was installed, not what was asked for. Wheels from a
hermetic build's wheelhouse add their sha256; the model is a ``machine-learning-model`` component.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlcd import __version__
from mlcd.errors import DockerError
from mlcd.packaging import dockerfile, labels
from mlcd.packaging.engine import reason
from mlcd.packaging.requirements import normalize, requirement_name

if TYPE_CHECKING:
    from mlcd.packaging.build import BuildResult

SPEC_VERSION = "1.5"
INVENTORY = """
import json, sys
from importlib import metadata
found = []
for dist in metadata.distributions():
    meta = dist.metadata
    found.append({
        "name": meta["Name"], "version": meta["Version"], "summary": meta.get("Summary"),
        "license_expression": meta.get("License-Expression"), "license": (meta.get("License") or "")[:200],
        "classifiers": [c for c in (meta.get_all("Classifier") or []) if c.startswith("License ::")],
        "requires": meta.get_all("Requires-Dist") or [],
    })
json.dump({"python": sys.version.split()[0], "distributions": found}, sys.stdout)
"""


def purl(name: str, version: str) -> str:
    return f"pkg:pypi/{normalize(name)}@{version}"


def _licenses(dist: Mapping[str, Any]) -> list[dict[str, Any]]:
    if dist.get("license_expression"):
        return [{"expression": dist["license_expression"]}]
    text = (dist.get("license") or "").strip()
    if text and len(text) <= 80 and "\n" not in text:
        return [{"license": {"name": text}}]
    names = [c.rsplit("::", 1)[-1].strip() for c in dist.get("classifiers") or []]
    return [{"license": {"name": name}} for name in dict.fromkeys(names) if name]


def _depends_on(dist: Mapping[str, Any], installed: Mapping[str, str]) -> list[str]:
    refs = []
    for requirement in dist.get("requires") or []:
        marker = requirement.split(";", 1)[1] if ";" in requirement else ""
        if "extra" in marker:
            continue  # an optional extra: not part of this environment's graph
        try:
            name = requirement_name(requirement)
        except ValueError:
            continue
        if name in installed:
            refs.append(purl(name, installed[name]))
    return sorted(set(refs))


def to_cyclonedx(
    inventory: Mapping[str, Any],
    *,
    image: str,
    image_id: str,
    model_name: str,
    model_sha256: str,
    hashes: Mapping[tuple[str, str], str] | None = None,
    timestamp: str | None = None,
    serial: str | None = None,
) -> dict[str, Any]:
    """The SBOM document for an inventory printed by :data:`INVENTORY`. Pure: same input, same output."""
    hashes = hashes or {}
    distributions: Sequence[Mapping[str, Any]] = sorted(inventory.get("distributions") or [],
                                                        key=lambda d: normalize(d["name"]))
    installed = {normalize(d["name"]): d["version"] for d in distributions}
    components: list[dict[str, Any]] = []
    for dist in distributions:
        component: dict[str, Any] = {
            "type": "library",
            "bom-ref": purl(dist["name"], dist["version"]),
            "name": dist["name"],
            "version": dist["version"],
            "purl": purl(dist["name"], dist["version"]),
        }
        if dist.get("summary"):
            component["description"] = dist["summary"]
        licenses = _licenses(dist)
        if licenses:
            component["licenses"] = licenses
        digest = hashes.get((normalize(dist["name"]), dist["version"]))
        if digest:
            component["hashes"] = [{"alg": "SHA-256", "content": digest}]
        components.append(component)
    components.append({
        "type": "machine-learning-model",
        "bom-ref": f"model:{model_sha256}",
        "name": model_name,
        "version": labels.model_version(model_sha256),
        "hashes": [{"alg": "SHA-256", "content": model_sha256}],
    })
    python = inventory.get("python")
    return {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": serial or f"urn:uuid:{uuid.uuid4()}",
        "version": 1,
        "metadata": {
            "timestamp": timestamp or datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "tools": {"components": [{"type": "application", "name": "mlcd", "version": __version__}]},
            "component": {
                "type": "container",
                "bom-ref": image_id,
                "name": image,
                "version": image_id,
                **({"properties": [{"name": "python.version", "value": python}]} if python else {}),
            },
        },
        "components": components,
        "dependencies": [
            {"ref": purl(d["name"], d["version"]), "dependsOn": _depends_on(d, installed)} for d in distributions
        ],
    }


def read_inventory(client: Any, image_id: str) -> dict[str, Any]:
    """Run :data:`INVENTORY` in the image: no network, read-only, unprivileged, removed afterwards."""
    import docker

    container = None
    try:
        container = client.containers.run(
            image_id, entrypoint=[f"{dockerfile.VENV}/bin/python", "-c", INVENTORY], command=[], detach=True,
            network_disabled=True, read_only=True, user=dockerfile.USER, cap_drop=["ALL"],
            security_opt=["no-new-privileges"], use_config_proxy=False)
        status = container.wait(timeout=120).get("StatusCode")
        if status != 0:
            stderr = container.logs(stdout=False, stderr=True).decode(errors="replace")
            raise DockerError(f"cannot list the Python packages in {image_id[:19]}: exit {status}, "
                              f"{' '.join(stderr.split())[-300:]}",
                              fix=f"the image needs {dockerfile.VENV}/bin/python (as mlcd package builds it)")
        inventory = json.loads(container.logs(stdout=True, stderr=False))
    except (docker.errors.DockerException, ValueError) as exc:
        raise DockerError(f"cannot list the Python packages in {image_id[:19]}: {reason(exc)}") from None
    finally:
        if container is not None:
            with contextlib.suppress(docker.errors.DockerException):
                container.remove(force=True)
    if not isinstance(inventory, dict):
        raise DockerError(f"the package inventory of {image_id[:19]} is not a JSON object")
    return inventory


def cached_inventory(client: Any, image_id: str, cache: Path, key: str | None) -> dict[str, Any]:
    """The inventory, read again only when the environment changed: ``key`` is the ID of the image
    layer that completes the environment, so a model-only rebuild reuses the last inventory."""
    if key is not None:
        try:
            stored = json.loads(cache.read_text(encoding="utf-8"))
            if stored.get("key") == key and isinstance(stored.get("inventory"), dict):
                return dict(stored["inventory"])
        except (OSError, ValueError, AttributeError):
            pass
    inventory = read_inventory(client, image_id)
    if key is not None:
        cache.write_text(json.dumps({"key": key, "inventory": inventory}), encoding="utf-8")
    return inventory


def write_sbom(client: Any, result: BuildResult, path: Path, *, model_name: str,
               hashes: Mapping[tuple[str, str], str] | None = None,
               cache: tuple[Path, str | None] | None = None) -> int:
    """Write the SBOM of a built image; returns the number of components."""
    if cache is None:
        inventory = read_inventory(client, result.image_id)
    else:
        inventory = cached_inventory(client, result.image_id, *cache)
    document = to_cyclonedx(inventory, image=result.tag, image_id=result.image_id, model_name=model_name,
                            model_sha256=result.labels[labels.MODEL_SHA256], hashes=hashes)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return len(document["components"])
