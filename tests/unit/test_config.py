from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlcd.commands.serve import resolve as serve_settings
from mlcd.config import Config, find_config, flag_or_env, load_config, validate_text
from mlcd.errors import ConfigError, UsageError
from mlcd.serving.prediction_log import resolve_log_settings
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


@settings(max_examples=200)
@given(st.one_of(st.none(), st.text(), st.integers()), st.dictionaries(st.sampled_from(["MLCD_X", "OTHER"]), st.text()))
def test_a_flag_wins_over_its_variable_and_a_blank_variable_is_unset(flag: object, env: dict[str, str]) -> None:
    chosen = flag_or_env(flag, "--x", env, "MLCD_X")
    if flag is not None:
        assert chosen == (str(flag), "--x")
    elif env.get("MLCD_X", "").strip():
        assert chosen == (env["MLCD_X"].strip(), "MLCD_X")
    else:
        assert chosen is None


def test_serve_and_the_prediction_log_share_that_precedence(template_config: Config) -> None:
    args = argparse.Namespace(host=None, port=None, model=None, workers=1, max_body_bytes=1, timeout=1.0,
                              max_batch_wait_ms=2.0)
    assert serve_settings(args, {"MLCD_PORT": "  ", "MLCD_HOST": " "}, 8080)["port"] == 8080  # blank: unset
    assert serve_settings(args, {"MLCD_PORT": " 9000 "}, 8080)["port"] == 9000
    assert resolve_log_settings(template_config, {"MLCD_PREDICTION_LOG": "  "}) is None
    with pytest.raises(UsageError, match=r"^--port is '0': it must be a port number from 1 to 65535$") as info:
        serve_settings(argparse.Namespace(**{**vars(args), "port": 0}), {}, 8080)
    assert info.value.fix == "e.g. --port 8080"


def test_the_config_file_named_by_the_variable_is_named_in_the_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file gone\.yaml \(MLCD_CONFIG\) does not exist") as info:
        find_config(env={"MLCD_CONFIG": "gone.yaml"}, cwd=tmp_path)
    assert info.value.fix == "pass an existing file to MLCD_CONFIG"
