"""Validate a YAML document against mlcd's JSON schema, reporting every problem at file:line:column."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from functools import cache
from importlib import resources
from typing import Any

import yaml

from mlcd.errors import ConfigError, Location

Path_ = tuple[str | int, ...]


@cache
def load_schema() -> dict[str, Any]:
    text = resources.files("mlcd").joinpath("resources/mlcd.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys instead of silently keeping the last."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}: each key may appear once", mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _positions(node: yaml.Node, path: Path_ = ()) -> dict[Path_, tuple[int, int]]:
    """Map every path in the document to the (line, column) of its value, 1-based."""
    found = {path: (node.start_mark.line + 1, node.start_mark.column + 1)}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = (*path, key_node.value)
            found.update(_positions(value_node, child))
            # unknown keys are reported at the key itself
            found[(*child, "<key>")] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found.update(_positions(item, (*path, index)))
    return found


def parse_yaml(text: str, filename: str) -> tuple[Any, dict[Path_, tuple[int, int]]]:
    try:
        node = yaml.compose(text, Loader=_UniqueKeyLoader)
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        location = Location(filename, mark.line + 1, mark.column + 1) if mark else Location(filename)
        raise ConfigError(
            f"not valid YAML: {exc.problem or exc}", location=location, fix="correct the YAML syntax"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", location=Location(filename)) from None
    return data, (_positions(node) if node is not None else {})


def dotted(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _schema_at(schema: dict[str, Any], path: Iterable[str]) -> dict[str, Any]:
    """The sub-schema of a mapping path, following `properties`, `additionalProperties` and `$ref`."""
    root = load_schema()
    current = schema
    for part in path:
        current = _resolve(root, current)
        props = current.get("properties", {})
        if part in props:
            current = props[part]
        elif isinstance(current.get("additionalProperties"), dict):
            current = current["additionalProperties"]
        else:
            return {}
    return _resolve(root, current)


def _resolve(root: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Follow ``$ref`` (a JSON pointer into the schema, ``#/...``) until the schema is not a reference."""
    while "$ref" in schema:
        target = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        schema = target
    return schema


def schema_default(*path: str) -> Any:
    """The schema's default of the key at ``path`` (``*`` steps into any key of a mapping), lists as tuples:
    what a field of :mod:`mlcd.config.model` holds when mlcd.yaml leaves the key out. KeyError when the
    schema has no such key or no default for it."""
    root = load_schema()
    *parent, key = path
    spec = _schema_at(root, parent).get("properties", {})[key]
    if "default" not in spec:
        spec = _resolve(root, spec)
    if "default" not in spec:
        raise KeyError(f"the schema has no default for {'.'.join(path)}")
    value = spec["default"]
    return tuple(value) if isinstance(value, list) else value


def schema_problems(data: Any, positions: dict[Path_, tuple[int, int]], filename: str) -> list[ConfigError]:
    import jsonschema

    schema = load_schema()
    validator = jsonschema.Draft202012Validator(schema)
    problems: list[ConfigError] = []
    for error in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
        path: Path_ = tuple(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = list(_schema_at(schema, [str(p) for p in path]).get("properties", {}))
            known = set(allowed)
            for key in error.instance:
                if key in known:
                    continue
                line, col = positions.get((*path, key, "<key>"), positions.get(path, (0, 0)))
                hint = difflib.get_close_matches(str(key), allowed, n=1)
                fix = f"did you mean '{hint[0]}'?" if hint else f"allowed keys: {', '.join(allowed)}"
                problems.append(
                    ConfigError(
                        f"{dotted((*path, key))}: unknown key",
                        location=Location(filename, line or None, col or None),
                        fix=fix,
                    )
                )
            continue
        line, col = positions.get(path, (0, 0))
        problems.append(
            ConfigError(
                f"{dotted(path)}: {_describe(error)}",
                location=Location(filename, line or None, col or None),
                fix=_fix_for(error),
            )
        )
    return problems


def _describe(error: Any) -> str:
    if error.validator == "required":
        return str(error.message).replace("is a required property", "is required")
    if error.validator == "enum":
        allowed = ", ".join(repr(v) for v in error.validator_value)
        return f"{error.instance!r} is not one of {allowed}"
    if error.validator == "propertyNames":
        return f"{error.instance!r} is not a known name"
    return str(error.message)


def _fix_for(error: Any) -> str | None:
    if error.validator == "required":
        return "add the missing key"
    if error.validator == "enum":
        hint = difflib.get_close_matches(str(error.instance), [str(v) for v in error.validator_value], n=1)
        return f"did you mean {hint[0]!r}?" if hint else "use one of the allowed values"
    if error.validator == "propertyNames":
        names = _resolve(load_schema(), error.schema).get("enum", [])
        hint = difflib.get_close_matches(str(error.instance), [str(n) for n in names], n=1)
        return f"did you mean {hint[0]!r}?" if hint else f"use one of: {', '.join(map(str, names))}"
    if error.validator == "type":
        return f"give a value of type {error.validator_value}"
    return None
