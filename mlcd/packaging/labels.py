"""The labels an image carries: OCI's standard ones and mlcd's, which say which model is inside.

``dev.mlcd.model.sha256`` is what `mlcd smoke` and `mlcd push` read back; the rest is for people and
registries (``docker inspect``, the registry's UI).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from mlcd.errors import UsageError

OCI = "org.opencontainers.image."
MODEL_SHA256 = "dev.mlcd.model.sha256"
MODEL_NAME = "dev.mlcd.model.name"
DATA_VERSION = "dev.mlcd.data.version"
METRICS = "dev.mlcd.metrics"
LINEAGE = "dev.mlcd.lineage"
REVISION = OCI + "revision"

_SCP_LIKE = re.compile(r"^(?:[^@/]+@)?([^:/]+):(?!//)(.+)$")


def model_sha256(image_ref: str, image_labels: Mapping[str, str]) -> str:
    """The sha256 of the model an image built by `mlcd package` serves; any other image is refused."""
    sha256 = image_labels.get(MODEL_SHA256)
    if not sha256:
        raise UsageError(f"{image_ref} has no {MODEL_SHA256} label: it was not built by mlcd package",
                         fix="build the image with `mlcd package`")
    return sha256


def model_version(sha256: str) -> str:
    """The short model version used in tags and labels: the first 12 hex digits of its sha256."""
    return sha256[:12]


def public_source_url(remote: str) -> str | None:
    """A git remote as a browsable https URL without credentials (a token in a remote URL must never
    reach an image). ``git@github.com:o/r.git`` → ``https://github.com/o/r``."""
    remote = remote.strip()
    if not remote:
        return None
    scp = _SCP_LIKE.match(remote)
    if scp and "://" not in remote:
        host, path = scp.groups()
        return f"https://{host}/{path.removesuffix('.git')}"
    parts = urlsplit(remote)
    if parts.scheme not in ("https", "http", "ssh", "git") or not parts.hostname:
        return None
    host = parts.hostname + (f":{parts.port}" if parts.port and parts.scheme in ("https", "http") else "")
    scheme = parts.scheme if parts.scheme in ("https", "http") else "https"
    return urlunsplit((scheme, host, parts.path.removesuffix(".git"), "", ""))


def headline_metrics(document: Mapping[str, Any], names: Sequence[str]) -> dict[str, float]:
    """The metrics at the top of a metrics file (not per slice), in mlcd.yaml's order."""
    chosen = names or [key for key in document if key not in ("slices", "slice_gaps")]
    return {name: document[name] for name in chosen
            if isinstance(document.get(name), (int, float)) and not isinstance(document.get(name), bool)}


def data_version(data_hashes: Mapping[str, str], preferred: Sequence[str | None]) -> str | None:
    """The md5 DVC recorded for the training data: the first of ``preferred`` paths found, else None."""
    for path in preferred:
        if path and path in data_hashes:
            return data_hashes[path]
    return None


def lineage_summary(lineage: Mapping[str, Any]) -> dict[str, Any]:
    git = lineage.get("git") or {}
    training = lineage.get("training") or {}
    libraries = lineage.get("libraries") or {}
    summary = {
        "git_commit": git.get("commit"),
        "git_dirty": git.get("dirty"),
        "seed": lineage.get("seed"),
        "trained_at": training.get("finished_at"),
        "libraries": {k: v for k, v in libraries.items() if k in ("python", "scikit-learn", "mlcd")},
    }
    return {key: value for key, value in summary.items() if value not in (None, {})}


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=False, ensure_ascii=True)


def image_labels(
    *,
    model_name: str,
    model_sha256: str,
    created: str,
    revision: str | None,
    source: str | None,
    data: str | None,
    metrics: Mapping[str, float],
    lineage: Mapping[str, Any],
) -> dict[str, str]:
    labels = {
        OCI + "title": model_name,
        OCI + "version": model_version(model_sha256),
        OCI + "created": created,
        MODEL_NAME: model_name,
        MODEL_SHA256: model_sha256,
        METRICS: compact(dict(metrics)),
        LINEAGE: compact(lineage_summary(lineage)),
    }
    if revision:
        labels[REVISION] = revision
    if source:
        labels[OCI + "source"] = source
    if data:
        labels[DATA_VERSION] = data
    return labels
