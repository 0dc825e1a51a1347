"""The files that describe the project agree with each other: paths, params and the seed key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _yaml(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / name).read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def stages() -> dict[str, Any]:
    stages: dict[str, Any] = _yaml("dvc.yaml")["stages"]
    return stages


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return _yaml("mlcd.yaml")


def _paths(entries: list[Any]) -> set[str]:
    return {entry if isinstance(entry, str) else next(iter(entry)) for entry in entries}


def test_each_path_in_mlcd_yaml_is_written_by_a_stage(stages: dict[str, Any], config: dict[str, Any]) -> None:
    outs = {path for stage in stages.values() for path in _paths(stage.get("outs", []))}
    metrics = {path for stage in stages.values() for path in _paths(stage.get("metrics", []))}
    raw = config["data"]["path"]
    assert raw in outs or (ROOT / f"{raw}.dvc").is_file(), f"{raw}: neither a stage output nor `dvc add`-ed"
    assert set(config["data"]["splits"].values()) <= outs
    assert config["evaluate"]["holdout"] in outs
    assert config["model"]["path"] in _paths(stages[config["train"]["stage"]]["outs"])
    assert config["evaluate"]["metrics_file"] in metrics


def test_the_seed_key_named_in_mlcd_yaml_is_a_param_of_the_train_stage(
    stages: dict[str, Any], config: dict[str, Any]
) -> None:
    section, key = config["train"]["seed_param"].split(".")
    assert key in _yaml("params.yaml")[section]
    assert section in stages[config["train"]["stage"]]["params"]


def test_every_params_section_is_declared_by_a_stage(stages: dict[str, Any]) -> None:
    declared = {
        entry for stage in stages.values() for entry in stage.get("params", []) if isinstance(entry, str)
    }
    assert set(_yaml("params.yaml")) == declared
