from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlcd.config import find_config, load_config, validate_text
from mlcd.errors import ConfigError
from testing.configs import MINIMAL_CONFIG

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_CONFIG = ROOT / "template-repo" / "mlcd.yaml"

MINIMAL = MINIMAL_CONFIG


def problems_of(text: str) -> list[str]:
    return [p.one_line() for p in validate_text(text, "mlcd.yaml")[1]]


def test_template_config_is_valid() -> None:
    config = load_config(str(TEMPLATE_CONFIG))
    assert config.contract.label == "species"
    assert "year" not in config.contract.feature_names
    assert config.metrics["log_loss"] == "lower"
    assert config.root == TEMPLATE_CONFIG.parent


def test_minimal_config_gets_defaults(tmp_path: Path) -> None:
    (tmp_path / "mlcd.yaml").write_text(MINIMAL)
    config = load_config(cwd=tmp_path, env={})
    assert config.metrics == {"accuracy": "higher"}
    assert config.quality.max_null_rate == 0.05
    assert config.evaluate.metrics_file == "metrics.json"
    assert config.package.base_image == "python:3.11-slim"


def test_unknown_key_is_reported_at_its_line_with_a_hint() -> None:
    text = MINIMAL + "qualty:\n  min_rows: 3\n"
    [problem] = problems_of(text)
    assert problem.startswith("mlcd.yaml:9:1: qualty: unknown key")
    assert "did you mean 'quality'?" in problem


def test_every_problem_is_reported_not_only_the_first() -> None:
    broken = MINIMAL.replace("{dtype: float}", "{dtype: flaot}")
    text = broken + "slices: [z]\ngates:\n  metrics:\n    acuracy: {min: 1}\n"
    found = problems_of(text)
    assert len(found) == 3
    dtype_problem = r"mlcd\.yaml:7:\d+: contract\.columns\.x\.dtype: 'flaot'.*did you mean 'float'"
    assert any(re.match(dtype_problem, p) for p in found)
    assert any("slices.0: 'z' is not declared in contract.columns" in p for p in found)
    assert any("gates.metrics.acuracy" in p and "did you mean 'accuracy'" in p for p in found)


def test_label_must_be_a_declared_column() -> None:
    [problem] = problems_of(MINIMAL.replace("label: y", "label: why"))
    assert "contract.label: 'why' is not declared in contract.columns" in problem
    assert ":4:" in problem


def test_duplicate_keys_are_errors() -> None:
    [problem] = problems_of(MINIMAL + "data: {path: other.csv}\n")
    assert "duplicate key 'data'" in problem


def test_yaml_syntax_error_has_position() -> None:
    [problem] = problems_of("version: 1\ndata: [unclosed\n")
    assert re.match(r"mlcd\.yaml:\d+:\d+: not valid YAML", problem)


def test_min_above_max_and_wrong_task_metric() -> None:
    text = MINIMAL.replace("{dtype: float}", "{dtype: float, min: 5, max: 1}") + "metrics:\n  rmse:\n"
    found = problems_of(text)
    assert any("min 5 is larger than max 1" in p for p in found)
    assert any("metrics.rmse: not a classification metric" in p for p in found)


def test_missing_config_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no mlcd\.yaml") as info:
        find_config(cwd=tmp_path, env={})
    assert info.value.fix and "mlcd init" in info.value.fix


def test_env_var_overrides_search(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere.yaml"
    other.write_text(MINIMAL)
    assert find_config(env={"MLCD_CONFIG": str(other)}, cwd=tmp_path) == other


def _yaml_blocks(markdown: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", markdown, flags=re.S)


def test_docs_examples_validate_against_the_schema() -> None:
    """Every full mlcd.yaml example in the docs (a ```yaml block starting with `version: 1`) is valid."""
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "template-repo" / "README.md"]
    examples = [block for doc in docs if doc.is_file() for block in _yaml_blocks(doc.read_text())
                if block.startswith("version: 1")]
    assert examples, "the docs should show at least one complete mlcd.yaml"
    for block in examples:
        assert problems_of(block) == [], block
