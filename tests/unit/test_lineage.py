from __future__ import annotations

from pathlib import Path

from mlcd.lineage import dotted_get, dvc_lock_hashes, lineage_path, parse_cuda_version, parse_nvidia_smi

# Captured from real machines: `nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader,nounits`
TWO_GPUS = """NVIDIA A100-SXM4-40GB, 535.104.05, 40960
NVIDIA A100-SXM4-40GB, 535.104.05, 40960
"""
BANNER = """+---------------------------------------------------------------------------------------+
| NVIDIA-SMI 535.104.05             Driver Version: 535.104.05   CUDA Version: 12.2     |
|-----------------------------------------+----------------------+----------------------+
"""


def test_parse_nvidia_smi() -> None:
    gpus = parse_nvidia_smi(TWO_GPUS, parse_cuda_version(BANNER))
    assert len(gpus) == 2
    assert gpus[0].name == "NVIDIA A100-SXM4-40GB"
    assert gpus[0].driver == "535.104.05"
    assert gpus[0].memory_mib == 40960
    assert gpus[0].cuda == "12.2"


def test_parse_nvidia_smi_tolerates_noise() -> None:
    assert parse_nvidia_smi("") == []
    assert parse_nvidia_smi("Tesla T4, 550.54.15, [N/A]\n")[0].memory_mib is None
    assert parse_cuda_version("no banner") is None


def test_dvc_lock_hashes_skip_code(tmp_path: Path) -> None:
    (tmp_path / "dvc.lock").write_text("""schema: '2.0'
stages:
  train:
    cmd: python train.py
    deps:
    - path: data/train.csv
      md5: aaa
    - path: src/train.py
      md5: bbb
    outs:
    - path: models/model.skops
      md5: ccc
""")
    assert dvc_lock_hashes(tmp_path) == {"data/train.csv": "aaa", "models/model.skops": "ccc"}
    assert dvc_lock_hashes(tmp_path / "nowhere") == {}


def test_small_helpers() -> None:
    assert lineage_path(Path("models/model.skops")) == Path("models/model.lineage.json")
    assert dotted_get({"train": {"seed": 7}}, "train.seed") == 7
    assert dotted_get({"train": {}}, "train.seed") is None
