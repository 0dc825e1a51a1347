"""Keys an older mlcd.yaml may have: the drift thresholds moved from monitoring to drift (read in their old
place with a warning at their line), and the data test's own drift thresholds retired (ignored with a
warning naming what decides instead)."""

from __future__ import annotations

import copy
import io
from pathlib import Path

import pytest

from mlcd.cli import main
from mlcd.config import check_text, load_config
from mlcd.config.deprecated import MOVED, RETIRED, migrate
from mlcd.config.model import DriftConfig, EffectFloors
from mlcd.errors import ConfigError
from testing.configs import MINIMAL_CONFIG

OLD = MINIMAL_CONFIG + """\
drift:
  psi_threshold: 0.2
  ks_pvalue: 0.01
  chi2_pvalue: 0.01
monitoring:
  window: 24h
  alpha: 0.01
  min_effect: {psi: 0.2}
  min_rows: 200
  bins: 20
"""


def test_moved_keys_are_read_in_their_new_place_and_retired_ones_are_ignored(tmp_path: Path,
                                                                            terminal: io.StringIO) -> None:
    (tmp_path / "mlcd.yaml").write_text(OLD, encoding="utf-8")
    config = load_config(cwd=tmp_path, env={})
    assert config.drift == DriftConfig(alpha=0.01, min_effect=EffectFloors(psi=0.2), min_rows=200, bins=20)
    assert config.monitoring.window == "24h"
    warnings = terminal.getvalue().splitlines()
    assert len(warnings) == len(MOVED) + len(RETIRED)
    where = f"warning: {tmp_path / 'mlcd.yaml'}"
    assert f"{where}:17:3: monitoring.min_rows is deprecated: it is drift.min_rows now, the drift rule of both " \
           "`mlcd data test` and `mlcd drift` (fix: move it to drift.min_rows)" in warnings
    assert f"{where}:10:3: drift.psi_threshold is no longer read: a column drifts when Holm's procedure rejects " \
           "it at drift.alpha and its effect reaches drift.min_effect (fix: remove it; drift.min_effect.psi is the " \
           "PSI a numeric column must reach (default 0.1))" in warnings


def test_a_moved_key_set_in_both_places_is_an_error_at_the_old_one() -> None:
    text = MINIMAL_CONFIG + "drift: {min_rows: 100}\nmonitoring:\n  min_rows: 200\n"
    [problem] = check_text(text, "mlcd.yaml").problems
    assert problem.one_line() == ("mlcd.yaml:11:3: monitoring.min_rows and drift.min_rows are both set: "
                                  "monitoring.min_rows is the deprecated name of drift.min_rows "
                                  "(fix: remove monitoring.min_rows)")


def test_a_moved_key_keeps_its_schema(tmp_path: Path) -> None:
    [problem] = check_text(MINIMAL_CONFIG + "monitoring: {alpha: 0.9}\n", "mlcd.yaml").problems
    assert problem.message.startswith("monitoring.alpha: 0.9 is greater than the maximum of 0.5")


def test_migrate_leaves_the_document_as_written() -> None:
    data = {"drift": {"ks_pvalue": 0.01}, "monitoring": {"min_rows": 200, "logs": "logs"}}
    written = copy.deepcopy(data)
    assert migrate(data) == {"drift": {"min_rows": 200}, "monitoring": {"logs": "logs"}}
    assert data == written


def test_config_validate_names_each_deprecated_key(tmp_path: Path, terminal: io.StringIO) -> None:
    (tmp_path / "mlcd.yaml").write_text(OLD, encoding="utf-8")
    assert main(["config", "validate", str(tmp_path / "mlcd.yaml")]) == 0
    text = terminal.getvalue()
    assert text.count("warning: ") == len(MOVED) + len(RETIRED)
    assert f"{tmp_path / 'mlcd.yaml'}: valid, with 7 deprecated key(s) to update" in text


def test_the_current_keys_give_no_warning(tmp_path: Path, terminal: io.StringIO) -> None:
    (tmp_path / "mlcd.yaml").write_text(MINIMAL_CONFIG + "drift: {alpha: 0.01, min_rows: 200}\n", encoding="utf-8")
    assert load_config(cwd=tmp_path, env={}).drift == DriftConfig(alpha=0.01, min_rows=200)
    assert terminal.getvalue() == ""


def test_an_invalid_document_raises_before_any_warning(tmp_path: Path, terminal: io.StringIO) -> None:
    (tmp_path / "mlcd.yaml").write_text(OLD + "qualty: {}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="qualty: unknown key"):
        load_config(cwd=tmp_path, env={})
    assert terminal.getvalue() == ""
