"""The JSON schema is the one place defaults live: a section mlcd.yaml leaves empty loads as the schema's
defaults, key by key (a key without a default loads as None or empty), and every field of the typed config
is a key of the schema."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from mlcd.config import load_config
from mlcd.config.model import ColumnSpec, Config, DataConfig, EnvironmentConfig, MetricGate
from mlcd.config.validate import load_schema, schema_default
from testing.configs import MINIMAL_CONFIG

# Fields that mlcd.yaml spells differently (data.splits.train is DataConfig.train) or that are keys of a
# mapping (the name of a column, an environment, a gated metric).
NOT_KEYS: dict[type, set[str]] = {
    DataConfig: {"train", "test", "reference_rev", "reference_path"},
    ColumnSpec: {"name"},
    EnvironmentConfig: {"name"},
    MetricGate: {"metric"},
}
NOT_FIELDS: dict[type, set[str]] = {DataConfig: {"splits", "reference"}, ColumnSpec: {"description"}}
EMPTY: tuple[Any, ...] = (None, (), {})


def resolve(spec: dict[str, Any]) -> dict[str, Any]:
    root = load_schema()
    while "$ref" in spec:
        target = root
        for part in spec["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        spec = target
    return spec


def mismatches(value: Any, spec: dict[str, Any], where: str) -> list[str]:
    """Where the loaded ``value`` of a section differs from what the schema ``spec`` of it says."""
    node = resolve(spec)
    keys = node.get("properties", {})
    found = [f"{where}.{field.name}: a field the schema has no key for" for field in dataclasses.fields(value)
             if field.name not in keys and field.name not in NOT_KEYS.get(type(value), set())]
    for key, key_spec in keys.items():
        if key in node.get("required", ()) or key in NOT_FIELDS.get(type(value), set()) or key_spec.get("deprecated"):
            continue  # a deprecated key is read in its new place (mlcd.config.deprecated)
        if not hasattr(value, key):
            found.append(f"{where}.{key}: a key of the schema the config does not hold")
            continue
        loaded = getattr(value, key)
        if dataclasses.is_dataclass(loaded):
            found += mismatches(loaded, key_spec, f"{where}.{key}")
            continue
        default = key_spec.get("default", resolve(key_spec).get("default", EMPTY))
        if default is EMPTY:
            if loaded not in EMPTY:
                found.append(f"{where}.{key}: {loaded!r} without a default in the schema")
        else:
            expected = tuple(default) if isinstance(default, list) else default
            if loaded != expected:
                found.append(f"{where}.{key}: {loaded!r}, the schema's default is {expected!r}")
    return found


SECTIONS = {
    # section of Config: (what mlcd.yaml adds to the minimal config, the loaded value, its schema)
    "data": ("", lambda c: c.data, ("data",)),
    "data.csv": ("", lambda c: c.data.csv, ("data", "csv")),
    "contract": ("", lambda c: c.contract, ("contract",)),
    "contract.columns": ("", lambda c: c.contract.column("x"), ("contract", "columns", "*")),
    "model": ("", lambda c: c.model, ("model",)),
    "quality": ("quality: {}\n", lambda c: c.quality, ("quality",)),
    "drift": ("drift: {}\n", lambda c: c.drift, ("drift",)),
    "train": ("train: {}\n", lambda c: c.train, ("train",)),
    "evaluate": ("evaluate: {}\n", lambda c: c.evaluate, ("evaluate",)),
    "gates": ("gates: {}\n", lambda c: c.gates, ("gates",)),
    "gates.metrics": ("gates: {metrics: {accuracy: {min: 0.5}}}\n",  # a gate sets one key at least
                      lambda c: dataclasses.replace(c.gates.metrics[0], min=None), ("gates", "metrics", "*")),
    "compare": ("compare: {}\n", lambda c: c.compare, ("compare",)),
    "package": ("package: {}\n", lambda c: c.package, ("package",)),
    "monitoring": ("monitoring: {}\n", lambda c: c.monitoring, ("monitoring",)),
    "deploy": ("deploy: {}\n", lambda c: c.deploy, ("deploy",)),
    "deploy.environments": ("deploy: {environments: {staging: {target: docker}}}\n",
                            lambda c: c.deploy.environments["staging"], ("deploy", "environments", "*")),
    "deploy.environments.webhook": (
        "deploy: {environments: {hook: {target: webhook, webhook: {url: 'https://example.com'}}}}\n",
        lambda c: c.deploy.environments["hook"].webhook, ("deploy", "environments", "*", "webhook")),
}


def schema_of(path: tuple[str, ...]) -> dict[str, Any]:
    spec = load_schema()
    for part in path:
        node = resolve(spec)
        spec = node["properties"][part] if part in node.get("properties", {}) else node["additionalProperties"]
    return spec


@pytest.mark.parametrize("section", SECTIONS)
def test_an_empty_section_loads_as_the_schemas_defaults(section: str, tmp_path: Path) -> None:
    added, pick, path = SECTIONS[section]
    (tmp_path / "mlcd.yaml").write_text(MINIMAL_CONFIG + added, encoding="utf-8")
    config = load_config(cwd=tmp_path, env={})
    assert mismatches(pick(config), schema_of(path), section) == []


def test_every_section_of_the_schema_is_checked() -> None:
    sections = {key for key, spec in load_schema()["properties"].items() if resolve(spec).get("type") == "object"}
    assert sections - {"metrics"} <= set(SECTIONS)  # metrics: a mapping of names, checked below


def test_the_metrics_default_is_the_schemas(tmp_path: Path) -> None:
    (tmp_path / "mlcd.yaml").write_text(MINIMAL_CONFIG, encoding="utf-8")
    config: Config = load_config(cwd=tmp_path, env={})
    assert list(config.metrics) == list(schema_default("metrics"))


def test_a_key_without_a_default_is_an_error_not_a_guess() -> None:
    with pytest.raises(KeyError, match=r"no default for quality\.max_rows"):
        schema_default("quality", "max_rows")
    with pytest.raises(KeyError):
        schema_default("quality", "no_such_key")
