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
from mlcd.config.model import DriftConfig
from mlcd.data import ColumnDrift
from mlcd.data.checks import run_data_test
from mlcd.data.drift import (
    ReferenceSource,
    categorical_drift,
    chi2_pvalue,
    drift_check,
    load_reference,
    measure_drift,
    numeric_drift,
    psi,
    psi_of_shares,
    reference_source,
)
from mlcd.errors import InputError

DRIFT = DriftConfig()
finite = st.floats(-1e9, 1e9, allow_nan=False)
samples = arrays(np.float64, st.integers(1, 200), elements=finite)
categories = st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=200)


@settings(max_examples=200, deadline=None)
@given(samples, st.integers(2, 100))
def test_identical_numeric_samples_never_drift(sample: np.ndarray, bins: int) -> None:
    assert psi(sample, sample.copy(), bins) == 0.0
    result = numeric_drift("x", sample, sample.copy(), replace(DRIFT, bins=bins))
    assert not result.drifted and result.ks_pvalue == pytest.approx(1.0)


@settings(max_examples=200, deadline=None)
@given(samples, samples, st.integers(2, 100))
def test_psi_is_never_negative(reference: np.ndarray, current: np.ndarray, bins: int) -> None:
    assert psi(reference, current, bins) >= 0.0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=20).flatmap(
    lambda e: st.tuples(st.just(e), st.lists(st.floats(0, 1), min_size=len(e), max_size=len(e)))))
def test_psi_of_any_shares_is_never_negative(shares: tuple[list[float], list[float]]) -> None:
    expected, actual = shares
    assert psi_of_shares(np.array(expected), np.array(actual)) >= 0.0


@settings(max_examples=200, deadline=None)
@given(categories)
def test_identical_categorical_samples_never_drift(values: list[str]) -> None:
    result = categorical_drift("c", pd.Series(values), pd.Series(values), DRIFT)
    assert result.psi == 0.0 and result.chi2_pvalue == pytest.approx(1.0) and not result.drifted


@settings(max_examples=100, deadline=None)
@given(categories, categories)
def test_chi2_pvalue_is_a_probability(reference: list[str], current: list[str]) -> None:
    result = categorical_drift("c", pd.Series(reference), pd.Series(current), DRIFT)
    assert result.chi2_pvalue is not None and 0.0 <= result.chi2_pvalue <= 1.0
    assert result.psi is not None and result.psi >= 0.0


def test_a_shifted_distribution_drifts() -> None:
    rng = np.random.default_rng(1)
    result = numeric_drift("x", rng.normal(0, 1, 2000), rng.normal(1, 1, 2000), DRIFT)
    assert result.drifted
    assert result.psi is not None and result.psi > 0.5
    assert result.ks_pvalue is not None and result.ks_pvalue < 1e-10


def test_a_tiny_but_significant_shift_in_large_data_does_not_drift() -> None:
    # KS alone would flag it; the PSI says the shift is too small to matter.
    rng = np.random.default_rng(2)
    result = numeric_drift("x", rng.normal(0, 1, 200_000), rng.normal(0.05, 1, 200_000), DRIFT)
    assert result.ks_pvalue is not None and result.ks_pvalue < DRIFT.ks_pvalue
    assert result.psi is not None and result.psi < DRIFT.psi_threshold
    assert not result.drifted


def test_a_large_shift_in_a_handful_of_rows_is_not_significant() -> None:
    result = numeric_drift("x", np.array([1.0, 2.0, 3.0]), np.array([2.0, 3.0, 4.0]), DRIFT)
    assert result.psi is not None and result.psi >= DRIFT.psi_threshold
    assert not result.drifted


def test_a_new_category_drifts() -> None:
    reference = pd.Series(["a", "b"] * 500)
    current = pd.Series(["a", "b"] * 400 + ["new"] * 200)
    result = categorical_drift("c", reference, current, DRIFT)
    assert result.drifted and result.chi2_pvalue is not None and result.chi2_pvalue < 1e-10


def test_chi2_with_a_single_category_is_no_evidence() -> None:
    assert chi2_pvalue(np.array([10]), np.array([3])) == 1.0


def test_columns_that_cannot_be_compared_carry_a_note(template_config: Config) -> None:
    reference = pd.DataFrame({"bill_length_mm": [1.0, 2.0], "island": ["Dream", "Biscoe"],
                              "body_mass_g": ["a", "b"], "sex": [None, None]})
    current = pd.DataFrame({"bill_length_mm": [np.nan, np.nan], "island": ["Dream", "Dream"],
                            "body_mass_g": [1.0, 2.0], "bill_depth_mm": [1.0, 2.0], "sex": ["male", "female"]})
    notes = {c.column: c.note for c in measure_drift(reference, current, template_config.contract,
                                                     template_config.drift)}
    assert notes == {
        "island": None,
        "bill_length_mm": "no values in the data",
        "bill_depth_mm": "missing in the reference",
        "flipper_length_mm": "missing in the reference",
        "body_mass_g": "not numeric in the reference (str)",
        "sex": "no values in the reference",
    }


def test_drift_columns_limit_the_check(template_config: Config) -> None:
    penguins = pd.DataFrame({"island": ["Dream"] * 5, "sex": ["male"] * 5})
    config = replace(template_config.drift, columns=("island",))
    assert [c.column for c in measure_drift(penguins, penguins, template_config.contract, config)] == ["island"]


def test_drift_check_verdicts() -> None:
    stable = ColumnDrift("a", "numeric", False, psi=0.01, ks_pvalue=0.5)
    moved = ColumnDrift("b", "categorical", True, psi=0.9, chi2_pvalue=1e-12)
    unmeasured = ColumnDrift("c", "numeric", False, note="missing in the data")
    assert drift_check((stable, unmeasured), "ref", DRIFT).status == "passed"
    failed = drift_check((stable, moved), "ref", DRIFT)
    assert failed.status == "failed"
    assert failed.details == ("'b' drifted: PSI 0.900, chi-squared p=1e-12",)
    assert failed.message.startswith("1 of 2 compared columns drifted from ref: ")
    assert drift_check((unmeasured,), "ref", DRIFT).status == "skipped"


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
