"""Fault injection: the real penguins data and the template contract, broken one way at a time.

Each fault must fail the check that is about it, with a message that names the problem, and (unless a
fault really breaks more than one rule) no other check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlcd.config import Config
from mlcd.data import DataTestResult
from mlcd.data.checks import frame_checks, run_data_test
from mlcd.data.drift import ReferenceSource


@dataclass
class Project:
    config: Config
    clean: pd.DataFrame

    @property
    def data(self) -> Path:
        return self.config.resolve(self.config.data.path)

    def write(self, frame: pd.DataFrame, **options: object) -> None:
        frame.to_csv(self.data, index=False, **options)  # type: ignore[arg-type]

    def run(self, reference: ReferenceSource | None = None) -> DataTestResult:
        return run_data_test(self.config, reference=reference)


@pytest.fixture
def project(data_project: Path, template_config: Config) -> Project:
    config = replace(template_config, root=data_project)
    return Project(config, pd.read_csv(config.resolve(config.data.path)))


def failed(result: DataTestResult) -> set[str]:
    return {c.name for c in result.failed}


def test_clean_penguins_fail_no_check(project: Project) -> None:
    result = project.run()
    assert result.passed, [c.message for c in result.failed]
    assert result.rows == 344 and result.columns == 8
    skipped = {c.name: c.message for c in result.checks if c.status == "skipped"}
    assert skipped == {
        "train_test_overlap": "the splits are not written yet (data/prepared/train.csv, data/prepared/test.csv): "
                              "run the pipeline first",
        "drift": "no reference: set data.reference.rev in mlcd.yaml or pass --reference",
    }


def _fraction_null(column: str, share: float) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def mutate(frame: pd.DataFrame) -> pd.DataFrame:
        rows = np.random.default_rng(0).choice(len(frame), int(share * len(frame)), replace=False)
        frame.loc[rows, column] = None
        return frame
    return mutate


def _set(column: str, rows: slice, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def mutate(frame: pd.DataFrame) -> pd.DataFrame:
        frame[column] = frame[column].astype(object)
        frame.loc[rows, column] = value
        return frame
    return mutate


FRAME_FAULTS: dict[str, tuple[Callable[[pd.DataFrame], pd.DataFrame], str, str]] = {
    "dropped column": (lambda f: f.drop(columns=["bill_depth_mm"]), "columns", "column 'bill_depth_mm' is missing"),
    "unexpected column": (lambda f: f.assign(comment="ok"), "columns", "unexpected column 'comment'"),
    "numbers with units": (
        lambda f: f.assign(flipper_length_mm=f["flipper_length_mm"].map(lambda v: f"{v:g} mm", na_action="ignore")),
        "dtypes", "column 'flipper_length_mm': expected float, found str with values that are not numbers "
                  "(e.g. '181 mm', '186 mm', '195 mm')"),
    "fractional year": (lambda f: f.assign(year=f["year"] + 0.5), "dtypes",
                        "column 'year': expected int, found float64 with values that are not whole numbers"),
    "null spike in a nullable column": (_fraction_null("bill_length_mm", 0.3), "null_rate",
                                        "column 'bill_length_mm': 30.") ,
    "nulls in a non-nullable column": (_fraction_null("island", 0.05), "nulls",
                                       "column 'island': 17 missing values but nullable is false"),
    "out-of-range values": (_set("body_mass_g", slice(0, 2), 70000.0), "ranges",
                            "column 'body_mass_g': 3 values above max 7000 (e.g. 70000.0)"),
    "negative values": (_set("bill_depth_mm", slice(10, 10), -1.0), "ranges",
                        "column 'bill_depth_mm': 1 value below min 10 (e.g. -1.0)"),
    "unseen category": (_set("island", slice(0, 11), "Atlantis"), "categories",
                        "column 'island': 12 values not among the allowed 'Biscoe', 'Dream', 'Torgersen' "
                        "(e.g. 'Atlantis')"),
    "duplicate rows": (lambda f: pd.concat([f, f.head(5)], ignore_index=True), "duplicates",
                       "5 duplicate rows (1.4%), max 0.0%"),
    "too few rows": (lambda f: f.sample(250, random_state=0), "row_count",
                     "250 rows, fewer than quality.min_rows (300)"),
    "rare class": (_set("species", slice(276, 325), "Adelie"), "label_balance",
                   "class 'Chinstrap': 5.2% of labelled rows (18), min 10.0%"),
    "tiny slice": (lambda f: f.assign(sex=np.where(f.index < 5, "female", np.where(f["sex"].isna(), None, "male"))),
                   "slice:sex", "'sex' = 'female': 5 rows, min 10"),
    "label leakage": (
        lambda f: f.assign(island=f["species"].map({"Adelie": "Torgersen", "Chinstrap": "Dream", "Gentoo": "Biscoe"})),
        "label_leakage", "feature 'island' is the label 'species' renamed one-to-one"),
}


@pytest.mark.parametrize("fault", FRAME_FAULTS)
def test_a_broken_frame_fails_the_right_check(project: Project, fault: str) -> None:
    mutate, check, message = FRAME_FAULTS[fault]
    project.write(mutate(project.clean.copy()))
    result = project.run()
    assert failed(result) == {check}, [c.message for c in result.failed]
    assert message in result.check(check).message


def test_a_dropped_slice_column_skips_its_slice_check(project: Project) -> None:
    project.write(project.clean.drop(columns=["island"]))
    result = project.run()
    assert failed(result) == {"columns"}
    assert result.check("slice:island").status == "skipped"


def test_a_copy_of_the_label_is_leakage(project: Project) -> None:
    spec = replace(project.config.contract.column("island"), name="species_again", allowed=None)
    contract = replace(project.config.contract, columns=(*project.config.contract.columns, spec))
    project.config = replace(project.config, contract=contract)
    project.write(project.clean.assign(species_again=project.clean["species"]))
    result = project.run()
    assert failed(result) == {"label_leakage"}
    assert result.check("label_leakage").details == ("feature 'species_again' is a copy of the label 'species'",)


def _bytes_faults(clean: pd.DataFrame) -> dict[str, tuple[bytes, str]]:
    return {
        "empty file": (b"", "is empty (0 bytes)"),
        "random bytes": (np.random.default_rng(0).bytes(4096), "is binary data, not CSV text"),
        "wrong delimiter": (clean.to_csv(index=False, sep=";").encode(),
                            "every column landed in one ('species;island;bill_length_mm;bill_depth_mm;flipper_lengt"
                            "...'): the file looks delimited by ';', not ',' (fix: set data.csv.delimiter: ';'"),
        "wrong encoding": (clean.to_csv(index=False).encode("utf-16"),
                           "is UTF-16 text (it starts with a UTF-16 byte-order mark), not utf-8 "
                           "(fix: set data.csv.encoding: utf-16"),
        "latin-1 text": ("species,island\nAdélie,Biscoe\n".encode("latin-1"),
                         "is not utf-8 text: byte 0xe9 on line 2 cannot be decoded"),
        "ragged rows": (clean.to_csv(index=False).encode() + b"a,b,c,d,e,f,g,h,i,j\n",
                        "cannot parse"),
        "parquet under a .csv name": (clean.to_parquet(), "is a Parquet file, not CSV"),
    }


@pytest.mark.parametrize("fault", list(_bytes_faults(pd.DataFrame({"a": [1]}))))
def test_an_unreadable_file_fails_read_and_skips_what_needs_the_data(project: Project, fault: str) -> None:
    content, message = _bytes_faults(project.clean)[fault]
    project.data.write_bytes(content)
    result = project.run()
    assert failed(result) == {"read"}
    assert message in result.check("read").message
    assert str(project.data) in result.check("read").message
    needs_data = {name for name, _ in frame_checks(project.config)} | {"drift"}
    assert {c.name for c in result.checks if c.status == "skipped"} >= needs_data
    assert result.rows is None


def test_a_missing_file_fails_read(project: Project) -> None:
    project.data.unlink()
    result = project.run()
    assert failed(result) == {"read"}
    assert result.check("read").message == (f"{project.data} does not exist (fix: check the path; if DVC tracks "
                                            "the file, run `dvc pull` (or `dvc repro`))")


def test_an_unknown_extension_asks_for_data_format(project: Project) -> None:
    data = replace(project.config.data, path="data/raw/penguins.json")
    project.config = replace(project.config, data=data)
    project.data.write_text("{}")
    result = project.run()
    assert result.check("read").message == (f"cannot tell the format of {project.data} from its extension '.json' "
                                            "(fix: set data.format to csv or parquet in mlcd.yaml)")


def test_a_directory_is_not_data(project: Project) -> None:
    project.data.unlink()
    project.data.mkdir()
    assert project.run().check("read").message == (f"{project.data} is not a file (fix: point data.path (or PATH) "
                                                   "at a CSV or Parquet file)")


def test_the_configured_delimiter_and_encoding_are_used(project: Project) -> None:
    csv = replace(project.config.data.csv, delimiter=";", encoding="utf-16")
    project.config = replace(project.config, data=replace(project.config.data, csv=csv))
    project.write(project.clean, sep=";", encoding="utf-16")
    assert project.run().passed


@pytest.mark.parametrize(("encoding", "content", "message"), [
    ("latin-1", "\ufeffspecies\n".encode(), "is UTF-8 text (it starts with a UTF-8 byte-order mark), not latin-1"),
    ("utf-16", b"species\nAdelie\n", "is not utf-16 text: it has no byte-order mark and no NUL bytes"),
    ("utf-8", "species\nAdelie\n".encode("utf-16-le"), "looks like UTF-16 text without a byte-order mark"),
    ("no-such-codec", b"species\n", "data.csv.encoding 'no-such-codec' is not a known text encoding"),
])
def test_an_encoding_that_does_not_match_the_file(project: Project, encoding: str, content: bytes,
                                                  message: str) -> None:
    csv = replace(project.config.data.csv, encoding=encoding)
    project.config = replace(project.config, data=replace(project.config.data, csv=csv))
    project.data.write_bytes(content)
    result = project.run()
    assert failed(result) == {"read"}
    assert message in result.check("read").message


def test_custom_missing_value_markers(project: Project) -> None:
    marked = project.clean.astype({"sex": object}).fillna({"sex": "unknown"})
    project.write(marked)
    assert failed(project.run()) == {"categories"}
    csv = replace(project.config.data.csv, na_values=("unknown",))
    project.config = replace(project.config, data=replace(project.config.data, csv=csv))
    assert project.run().passed


def test_parquet(project: Project) -> None:
    path = project.data.with_suffix(".parquet")
    project.clean.to_parquet(path)
    project.config = replace(project.config, data=replace(project.config.data, path="data/raw/penguins.parquet"))
    assert project.run().passed
    path.write_bytes(path.read_bytes()[:200])
    result = project.run()
    assert failed(result) == {"read"}
    assert result.check("read").message.startswith(f"cannot read {path} as Parquet: ")


# --- leakage between the splits ------------------------------------------------------------------------


def _write_splits(project: Project, train: pd.DataFrame, test: pd.DataFrame) -> None:
    prepared = project.config.root / "data" / "prepared"
    prepared.mkdir(parents=True, exist_ok=True)
    train.to_csv(prepared / "train.csv", index=False)
    test.to_csv(prepared / "test.csv", index=False)


def test_disjoint_splits_pass(project: Project) -> None:
    _write_splits(project, project.clean.iloc[:250], project.clean.iloc[250:])
    result = project.run()
    assert result.passed
    assert result.check("train_test_overlap").message == "none of 94 test rows appears among 250 training rows"


def test_train_test_overlap(project: Project) -> None:
    _write_splits(project, project.clean.iloc[:250], pd.concat([project.clean.iloc[250:], project.clean.iloc[:20]]))
    result = project.run()
    assert failed(result) == {"train_test_overlap"}
    assert result.check("train_test_overlap").message.startswith(
        "20 of 114 test rows (17.5%) also appear in the training split")


def test_an_unreadable_split_fails_the_overlap_check(project: Project) -> None:
    _write_splits(project, project.clean.iloc[:250], project.clean.iloc[250:])
    (project.config.root / "data" / "prepared" / "test.csv").write_bytes(b"")
    result = project.run()
    assert failed(result) == {"train_test_overlap"}
    assert "test.csv is empty" in result.check("train_test_overlap").message


# --- drift against a reference file --------------------------------------------------------------------


@pytest.fixture
def reference(project: Project) -> ReferenceSource:
    path = project.config.root / "reference.csv"
    project.clean.to_csv(path, index=False)
    return ReferenceSource(path=path)


def test_the_same_data_does_not_drift(project: Project, reference: ReferenceSource) -> None:
    result = project.run(reference)
    assert result.passed
    assert {c.column for c in result.drift} == set(project.config.contract.feature_names)
    assert all(c.effect == 0.0 and c.adjusted_pvalue == 1.0 for c in result.drift)


def test_numeric_drift(project: Project, reference: ReferenceSource) -> None:
    project.write(project.clean.assign(bill_depth_mm=project.clean["bill_depth_mm"] + 4))
    result = project.run(reference)
    assert failed(result) == {"drift"}
    assert [c.column for c in result.drift if c.drifted] == ["bill_depth_mm"]
    assert result.check("drift").message.startswith("1 of 6 tested columns drifted from ")
    assert "'bill_depth_mm' drifted: PSI " in result.check("drift").message


def test_categorical_drift(project: Project, reference: ReferenceSource) -> None:
    moved = project.clean.copy()
    biscoe = moved.index[moved["island"] == "Biscoe"][:120]
    moved.loc[biscoe, "island"] = "Dream"
    project.write(moved)
    result = project.run(reference)
    assert failed(result) == {"drift"}
    assert [c.column for c in result.drift if c.drifted] == ["island"]
