from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mlcd.config import Config
from mlcd.config.model import ColumnSpec, Contract, DriftConfig, EffectFloors
from mlcd.data.checks import run_data_test
from mlcd.data.drift import ReferenceSource, drift_check, load_reference, measure_drift, reference_source
from mlcd.drift import ColumnTest, chi2_test, psi, psi_of_shares
from mlcd.errors import InputError

DRIFT = DriftConfig()
finite = st.floats(-1e9, 1e9, allow_nan=False)
samples = arrays(np.float64, st.integers(1, 200), elements=finite)


@settings(max_examples=200, deadline=None)
@given(samples, samples, st.integers(2, 100))
def test_psi_is_never_negative(reference: np.ndarray, current: np.ndarray, bins: int) -> None:
    assert psi(reference, current, bins) >= 0.0
    assert psi(reference, reference.copy(), bins) == 0.0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=20).flatmap(
    lambda e: st.tuples(st.just(e), st.lists(st.floats(0, 1), min_size=len(e), max_size=len(e)))))
def test_psi_of_any_shares_is_never_negative(shares: tuple[list[float], list[float]]) -> None:
    expected, actual = shares
    assert psi_of_shares(np.array(expected), np.array(actual)) >= 0.0


def _one(reference: pd.Series, current: pd.Series, contract: Contract, drift: DriftConfig = DRIFT) -> ColumnTest:
    (column,) = measure_drift(pd.DataFrame({"x": reference}), pd.DataFrame({"x": current}), contract, drift)
    return column


NUMBER = Contract(label="y", columns=(ColumnSpec("y", "category"), ColumnSpec("x", "float")))
CATEGORY = Contract(label="y", columns=(ColumnSpec("y", "category"), ColumnSpec("x", "category")))


def test_a_shifted_distribution_drifts() -> None:
    rng = np.random.default_rng(1)
    result = _one(pd.Series(rng.normal(0, 1, 2000)), pd.Series(rng.normal(1, 1, 2000)), NUMBER)
    assert result.drifted and result.test == "KS"
    assert result.psi is not None and result.psi > 0.5
    assert result.adjusted_pvalue is not None and result.adjusted_pvalue < 1e-10


def test_a_tiny_but_significant_shift_in_large_data_does_not_drift() -> None:
    # KS alone would flag it; the effect floor says the shift is too small to matter.
    rng = np.random.default_rng(2)
    result = _one(pd.Series(rng.normal(0, 1, 200_000)), pd.Series(rng.normal(0.05, 1, 200_000)), NUMBER)
    assert result.significant and not result.drifted
    assert result.psi is not None and result.psi < DRIFT.min_effect.psi


def test_a_large_shift_in_a_handful_of_rows_is_not_tested_or_not_significant() -> None:
    reference, current = pd.Series([1.0, 2.0, 3.0]), pd.Series([2.0, 3.0, 4.0])
    assert _one(reference, current, NUMBER).note == "3 values in the data, fewer than drift.min_rows (500)"
    tested = _one(reference, current, NUMBER, DriftConfig(min_rows=1))
    assert tested.psi is not None and tested.psi >= DRIFT.min_effect.psi
    assert not tested.significant and not tested.drifted


def test_a_new_category_drifts() -> None:
    result = _one(pd.Series(["a", "b"] * 500), pd.Series(["a", "b"] * 400 + ["new"] * 200), CATEGORY)
    assert result.drifted and result.test == "χ²" and result.effect_name == "JS"
    assert result.adjusted_pvalue is not None and result.adjusted_pvalue < 1e-10


def test_chi2_with_a_single_category_is_no_evidence() -> None:
    assert chi2_test(np.array([10]), np.array([3])) == (0.0, 1.0)


def test_columns_that_cannot_be_compared_carry_a_note(template_config: Config) -> None:
    reference = pd.DataFrame({"bill_length_mm": [1.0, 2.0], "island": ["Dream", "Biscoe"],
                              "body_mass_g": ["a", "b"], "sex": [None, None]})
    current = pd.DataFrame({"bill_length_mm": [np.nan, np.nan], "island": ["Dream", "Dream"],
                            "body_mass_g": [1.0, 2.0], "bill_depth_mm": [1.0, 2.0], "sex": ["male", "female"]})
    drift = DriftConfig(min_rows=1)
    notes = {c.column: c.note for c in measure_drift(reference, current, template_config.contract, drift)}
    assert notes == {
        "island": None,
        "bill_length_mm": "0 values in the data, fewer than drift.min_rows (1)",
        "bill_depth_mm": "missing in the reference",
        "flipper_length_mm": "missing in the reference",
        "body_mass_g": "not numeric in the reference (str)",
        "sex": "0 values in the reference, fewer than drift.min_rows (1)",
    }


def test_drift_columns_limit_the_check(template_config: Config) -> None:
    penguins = pd.DataFrame({"island": ["Dream"] * 5, "sex": ["male"] * 5})
    config = replace(template_config.drift, columns=("island",))
    assert [c.column for c in measure_drift(penguins, penguins, template_config.contract, config)] == ["island"]


def test_every_column_is_one_family_so_the_check_is_calibrated() -> None:
    """Holm over all columns: a p-value that one test alone would call significant is not, among many."""
    contract = Contract(label="y", columns=(ColumnSpec("y", "category"),
                                            *(ColumnSpec(f"x{i}", "float") for i in range(20))))
    rng = np.random.default_rng(5)
    reference = pd.DataFrame({f"x{i}": rng.normal(size=2000) for i in range(20)})
    current = pd.DataFrame({f"x{i}": rng.normal(size=2000) for i in range(20)})
    columns = measure_drift(reference, current, contract, DriftConfig(min_effect=EffectFloors(psi=0.0)))
    assert all(c.adjusted_pvalue is not None and c.pvalue is not None and c.adjusted_pvalue >= c.pvalue
               for c in columns)
    assert not [c.column for c in columns if c.drifted]


def test_drift_check_verdicts() -> None:
    stable = ColumnTest("a", "numeric", 900, 900, 0.01, 0.5, adjusted_pvalue=1.0, psi=0.01)
    moved = ColumnTest("b", "categorical", 900, 900, 80.0, 1e-12, adjusted_pvalue=2e-12, js=0.9, significant=True,
                       drifted=True)
    unmeasured = ColumnTest("c", "numeric", 0, 0, note="missing in the data")
    passed = drift_check((stable, unmeasured), "ref", DRIFT)
    assert passed.status == "passed"
    assert passed.message == "no drift in 1 tested column against ref (Holm at α = 0.05; effect floors PSI 0.1, JS 0.1)"
    failed = drift_check((stable, moved), "ref", DRIFT)
    assert failed.status == "failed"
    assert failed.details == ("'b' drifted: JS 0.900, χ² p (Holm) 2e-12",)
    assert failed.message.startswith("1 of 2 tested columns drifted from ref: ")
    skipped = drift_check((unmeasured,), "ref", DRIFT)
    assert skipped.status == "skipped" and skipped.details == ("'c': missing in the data",)
    assert skipped.message == "no column could be tested against ref ('c': missing in the data)"


def test_data_smaller_than_min_rows_skips_the_check_and_says_why(template_config: Config) -> None:
    penguins = pd.DataFrame({"island": ["Dream", "Biscoe"] * 100, "sex": ["male", "female"] * 100})
    config = replace(template_config.drift, columns=("island", "sex"), min_rows=500)
    check = drift_check(measure_drift(penguins, penguins, template_config.contract, config), "ref", config)
    assert check.status == "skipped"
    assert check.message == ("no column could be tested against ref ('island': 200 values in the data, fewer than "
                             "drift.min_rows (500), …)")


# --- the reference -----------------------------------------------------------------------------------


def test_reference_precedence(template_config: Config) -> None:
    assert reference_source(template_config, "ref.csv", "v1") == ReferenceSource(path=Path("ref.csv"))
    assert reference_source(template_config, None, "v1") == ReferenceSource(rev="v1")
    assert reference_source(template_config) == ReferenceSource(rev="origin/main")
    with_path = replace(template_config, data=replace(template_config.data, reference_path="old.csv"))
    assert reference_source(with_path) == ReferenceSource(path=template_config.root / "old.csv")
    nothing = replace(template_config, data=replace(template_config.data, reference_rev=None))
    assert reference_source(nothing) is None


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=root, check=True,
                   capture_output=True)


@pytest.fixture
def git_project(data_project: Path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    _git(data_project, "init", "-q")
    _git(data_project, "add", ".")
    _git(data_project, "commit", "-q", "-m", "data")
    return data_project


def test_the_reference_at_a_revision_is_read_through_dvc(git_project: Path, template_config: Config) -> None:
    config = replace(template_config, root=git_project)
    data = git_project / "data" / "raw" / "penguins.csv"
    committed = pd.read_csv(data)
    committed.assign(bill_depth_mm=committed["bill_depth_mm"] + 4).to_csv(data, index=False)
    reference = load_reference(ReferenceSource(rev="HEAD"), config)
    pd.testing.assert_frame_equal(reference, committed)
    result = run_data_test(config, reference=ReferenceSource(rev="HEAD"))
    assert result.reference == "data/raw/penguins.csv@HEAD"
    assert [c.name for c in result.failed] == ["drift"]
    assert [c.column for c in result.drift if c.drifted] == ["bill_depth_mm"]


def test_an_unknown_revision_skips_drift_with_a_warning(git_project: Path, template_config: Config) -> None:
    config = replace(template_config, root=git_project)
    with pytest.raises(InputError, match="unknown Git revision 'no-such-rev'"):
        load_reference(ReferenceSource(rev="no-such-rev"), config)
    result = run_data_test(config, reference=ReferenceSource(rev="no-such-rev"))
    assert result.passed
    assert result.check("drift").status == "skipped"
    assert result.warnings[0].startswith("no drift reference: cannot read data/raw/penguins.csv@no-such-rev: ")


def test_a_missing_reference_file_is_not_a_failure(data_project: Path, template_config: Config) -> None:
    config = replace(template_config, root=data_project)
    result = run_data_test(config, reference=ReferenceSource(path=data_project / "gone.csv"))
    assert result.passed and result.check("drift").status == "skipped"
    assert result.warnings == (f"no drift reference: {data_project / 'gone.csv'} does not exist (fix: check the "
                               "path; if DVC tracks the file, run `dvc pull` (or `dvc repro`))",)
