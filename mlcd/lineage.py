"""Lineage: everything needed to know where a model came from, written next to the model."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from mlcd import __version__, git

RECORDED_PACKAGES = ("scikit-learn", "numpy", "scipy", "pandas", "skops", "dvc", "pandera", "xgboost",
                     "lightgbm", "torch")
CODE_SUFFIXES = (".py", ".ipynb", ".sh", ".r", ".R")


@dataclass(frozen=True)
class Gpu:
    name: str
    driver: str
    memory_mib: int | None
    cuda: str | None = None


def lineage_path(model_path: Path) -> Path:
    return model_path.with_name(model_path.stem + ".lineage.json")


def parse_nvidia_smi(csv_text: str, cuda_version: str | None = None) -> list[Gpu]:
    """Parse ``nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader,nounits``."""
    gpus: list[Gpu] = []
    for line in csv_text.strip().splitlines():
        fields = [field.strip() for field in line.split(",")]
        if len(fields) < 2 or not fields[0]:
            continue
        memory = fields[2] if len(fields) > 2 else ""
        gpus.append(Gpu(name=fields[0], driver=fields[1],
                        memory_mib=int(float(memory)) if memory.replace(".", "", 1).isdigit() else None,
                        cuda=cuda_version))
    return gpus


def parse_cuda_version(banner: str) -> str | None:
    """The ``CUDA Version: 12.4`` field of plain ``nvidia-smi`` output."""
    marker = "CUDA Version:"
    if marker not in banner:
        return None
    return banner.split(marker, 1)[1].split()[0].strip("|") or None


def detect_gpus() -> list[Gpu]:
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        query = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=20, check=True,
        ).stdout
        banner = subprocess.run(["nvidia-smi"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return parse_nvidia_smi(query, parse_cuda_version(banner))


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware() -> dict[str, Any]:
    memory_gib: float | None = None
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        memory_gib = round(pages * page_size / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "gpus": [asdict(gpu) for gpu in detect_gpus()],
        "platform": platform.platform(),
    }


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "mlcd": __version__}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def dvc_lock_hashes(root: Path) -> dict[str, str]:
    """path → md5 of every data dependency and output recorded in dvc.lock (code files left out)."""
    lock_file = root / "dvc.lock"
    if not lock_file.is_file():
        return {}
    lock = yaml.safe_load(lock_file.read_text(encoding="utf-8")) or {}
    hashes: dict[str, str] = {}
    for stage in (lock.get("stages") or {}).values():
        for entry in [*(stage.get("deps") or []), *(stage.get("outs") or [])]:
            path, digest = entry.get("path"), entry.get("md5")
            if path and digest and not str(path).endswith(CODE_SUFFIXES):
                hashes[str(path)] = str(digest)
    return dict(sorted(hashes.items()))


def read_params(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded if isinstance(loaded, dict) else {}


def dotted_get(mapping: dict[str, Any], dotted_key: str) -> Any:
    current: Any = mapping
    for part in dotted_key.split("."):
        if not isinstance(current, dict) or part not in current:
            return None
        current = current[part]
    return current


def build_lineage(
    *,
    root: Path,
    model_path: Path,
    model_sha256: str,
    params_file: str,
    seed_param: str | None,
    duration_seconds: float,
    stage: str,
) -> dict[str, Any]:
    commit, dirty = git.head_state(root)
    params = read_params(root / params_file)
    return {
        "model": {"path": str(model_path.relative_to(root)), "sha256": model_sha256, "format": "skops"},
        "git": {"commit": commit, "dirty": dirty},
        "data": dvc_lock_hashes(root),
        "params": params,
        "seed": dotted_get(params, seed_param) if seed_param else None,
        "libraries": library_versions(),
        "hardware": hardware(),
        "training": {"stage": stage, "duration_seconds": round(duration_seconds, 3),
                     "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                     "command": " ".join(sys.argv)},
    }


def write_lineage(model_path: Path, lineage: dict[str, Any]) -> Path:
    target = lineage_path(model_path)
    target.write_text(json.dumps(lineage, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return target
