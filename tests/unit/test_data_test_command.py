from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import mlcd.output
from mlcd.cli import main
from mlcd.config.model import DriftConfig
from mlcd.drift import ColumnTest, column_json, rule
from mlcd.report.markdown import data_tests_section


def data_test(project: Path, *args: str) -> int:
    return main(["data", "test", "--config", str(project / "mlcd.yaml"),
                 "--json", str(project / "out" / "data-test.json"),
                 "--markdown", str(project / "out" / "data-test.md"), *args])


def result_json(project: Path) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((project / "out" / "data-test.json").read_text(encoding="utf-8"))
    return loaded


def test_clean_data_exits_0(data_project: Path, terminal: io.StringIO, capsys: pytest.CaptureFixture[str]) -> None:
    assert data_test(data_project) == 0
    result = result_json(data_project)
    assert result["passed"] is True
    assert result["data"] == "data/raw/penguins.csv"
    assert result["rows"] == 344 and result["columns"] == 8
    assert result["summary"] == {"passed": 13, "failed": 0, "skipped": 2}
    checks = {c["name"]: c for c in result["checks"]}  # type: ignore[attr-defined]
    assert checks["ranges"] == {"name": "ranges", "kind": "schema", "status": "passed",
                                "message": "all values within min/max", "details": []}
    assert checks["drift"]["status"] == "skipped"
    text = terminal.getvalue()
    assert "warning: no drift reference: cannot read data/raw/penguins.csv@origin/main" in text
    assert "  PASS  ranges" in text and "data test passed: 13 checks passed, 2 skipped" in text
    markdown = (data_project / "out" / "data-test.md").read_text(encoding="utf-8")
    assert markdown.startswith("### Data test ✅ passed\n")
    assert "| ✅ | ranges | schema | all values within min/max |" in markdown
    assert "| ⏭️ | drift | drift |" in markdown
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err + text


def test_failures_exit_3_and_are_all_listed(data_project: Path, terminal: io.StringIO) -> None:
    data = data_project / "data" / "raw" / "penguins.csv"
    frame = pd.read_csv(data).drop(columns=["sex"])
    frame.loc[[0, 1, 2], "body_mass_g"] = 70000.0
    frame.to_csv(data, index=False)
    assert data_test(data_project) == 3
    result = result_json(data_project)
    assert result["passed"] is False
    failed = [c["name"] for c in result["checks"] if c["status"] == "failed"]  # type: ignore[attr-defined]
    assert failed == ["columns", "ranges"]
    text = terminal.getvalue()
    assert "error: columns: column 'sex' is missing" in text
    assert "error: ranges: column 'body_mass_g': 3 values above max 7000 (e.g. 70000.0)" in text
    assert text.rstrip().endswith("error: data test failed: 2 of 15 checks failed (columns, ranges) "
                                  "(fix: see " + str(data_project / "out" / "data-test.md") + " for every finding)")
    assert "Traceback" not in text


def test_on_github_it_annotates_summarises_and_sets_outputs(data_project: Path, monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    (data_project / "data" / "raw" / "penguins.csv").write_bytes(b"\x00\x01\x02binary" * 100)
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs"
    stream = io.StringIO()
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(outputs)}
    monkeypatch.setattr(mlcd.output, "_default", mlcd.output.Output(stream, env))
    assert data_test(data_project) == 3
    json_file = data_project / "out" / "data-test.json"
    assert outputs.read_text().splitlines() == ["passed=false", f"result-file={json_file}"]
    assert summary.read_text(encoding="utf-8").startswith("### Data test ❌ failed\n")
    annotations = [line for line in stream.getvalue().splitlines() if line.startswith("::error")]
    assert annotations[0].startswith("::error title=data test%3A read::read: ")
    assert "is binary data, not CSV text" in annotations[0]
    assert annotations[-1].startswith("::error::data test failed: 1 of 15 checks failed (read)")


def test_path_argument_is_relative_to_the_current_directory(data_project: Path, terminal: io.StringIO,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            penguins_csv: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    pd.read_csv(penguins_csv).head(10).to_csv(elsewhere / "small.csv", index=False)
    monkeypatch.chdir(elsewhere)
    assert data_test(data_project, "small.csv") == 3
    result = result_json(data_project)
    assert result["rows"] == 10
    assert str(result["data"]).endswith("small.csv")


def test_reference_argument_enables_drift(data_project: Path, terminal: io.StringIO, penguins_csv: Path) -> None:
    assert data_test(data_project, "--reference", str(penguins_csv)) == 0
    drift = result_json(data_project)["drift"]
    assert drift["reference"] == str(penguins_csv)  # type: ignore[index]
    assert len(drift["columns"]) == 6  # type: ignore[index]
    assert "#### Drift against" in (data_project / "out" / "data-test.md").read_text(encoding="utf-8")


def test_drift_is_reported_in_the_shape_and_by_the_rule_of_mlcd_drift(data_project: Path, terminal: io.StringIO,
                                                                      penguins_csv: Path) -> None:
    moved = pd.read_csv(penguins_csv)
    moved["bill_depth_mm"] += 4
    moved.to_csv(data_project / "data" / "raw" / "penguins.csv", index=False)
    assert data_test(data_project, "--reference", str(penguins_csv)) == 3
    drift: Any = result_json(data_project)["drift"]
    assert drift["thresholds"] == {"alpha": 0.05, "tests": 6, "correction": "holm",
                                   "min_effect": {"psi": 0.1, "js": 0.1}, "min_rows": 200, "bins": 10}
    keys = set(column_json(ColumnTest("x", "numeric", 0, 0)))  # the keys of drift.json's columns
    assert all(set(column) == keys for column in drift["columns"])
    depth = next(c for c in drift["columns"] if c["column"] == "bill_depth_mm")
    assert depth["drifted"] and depth["test"] == "KS" and depth["effect"] == "psi" and depth["adjusted_pvalue"] < 1e-10
    markdown = (data_project / "out" / "data-test.md").read_text(encoding="utf-8")
    assert rule(DriftConfig(min_rows=200), 6) in markdown
    assert "| island | categorical | χ² | 1 | JS 0.000 | ✅ stable |" in markdown
    section = "\n".join(data_tests_section(result_json(data_project)))
    assert "| bill_depth_mm | numeric | KS | " in section and " | ⚠️ yes |" in section
    assert "| island | categorical | χ² | 1 | JS 0.000 | no |" in section


def test_a_bad_config_exits_2(data_project: Path, terminal: io.StringIO) -> None:
    config = data_project / "mlcd.yaml"
    config.write_text(config.read_text().replace("label: species", "label: specie"))
    assert data_test(data_project) == 2
    assert "mlcd.yaml:14:10: contract.label: 'specie'" in terminal.getvalue()
    assert not (data_project / "out" / "data-test.json").exists()


def test_no_traceback_from_a_real_process(data_project: Path) -> None:
    (data_project / "data" / "raw" / "penguins.csv").write_bytes("species\n".encode("utf-16"))
    run = subprocess.run([sys.executable, "-m", "mlcd", "data", "test"], cwd=data_project,
                         capture_output=True, text=True, env={"PATH": "", "NO_COLOR": "1"})
    assert run.returncode == 3
    assert "Traceback" not in run.stderr + run.stdout
    assert "is UTF-16 text" in run.stderr
    assert json.loads((data_project / "data-test.json").read_text(encoding="utf-8"))["passed"] is False


def test_if_present_a_file_the_pipeline_makes_later_is_a_notice(data_project: Path, terminal: io.StringIO,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    data = data_project / "data" / "raw" / "penguins.csv"
    kept = data.read_bytes()
    data.unlink()
    assert data_test(data_project) == 4  # without the flag, a missing input, named with the fix
    assert "error: data file data/raw/penguins.csv does not exist (fix: pass an existing CSV" in terminal.getvalue()
    outputs = tmp_path / "outputs"
    monkeypatch.setattr(mlcd.output, "_default", mlcd.output.Output(io.StringIO(), {
        "GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(outputs)}))
    assert data_test(data_project, "--if-present") == 0
    assert outputs.read_text() == "tested=false\n"
    assert not (data_project / "out" / "data-test.json").exists()
    data.write_bytes(kept)
    assert data_test(data_project, "--if-present") == 0
    assert outputs.read_text().startswith("tested=false\ntested=true\n")
    assert result_json(data_project)["passed"] is True


def test_a_failed_data_test_becomes_the_report_of_a_run_that_was_not_trained(
        data_project: Path, terminal: io.StringIO) -> None:
    data = data_project / "data" / "raw" / "penguins.csv"
    pd.read_csv(data).rename(columns={"bill_length_mm": "bill_length"}).to_csv(data, index=False)
    assert data_test(data_project) == 3
    report = data_project / "out" / "report.md"
    assert main(["report", "--config", str(data_project / "mlcd.yaml"), "--failed", "training", "--data-test",
                 str(data_project / "out" / "data-test.json"), "--output", str(report)]) == 0
    text = report.read_text()
    assert text.startswith("## ❌ mlcd: the data tests failed, so penguins-classifier was not trained\n")
    assert "> ❌ **data test columns**: 2 problems: column 'bill_length_mm' is missing" in text
    assert "### Data tests" in text


def test_a_training_failure_report_says_where(data_project: Path, terminal: io.StringIO,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    assert data_test(data_project) == 0
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "o/r")
    monkeypatch.setenv("GITHUB_RUN_ID", "42")
    report = data_project / "out" / "report.md"
    assert main(["report", "--config", str(data_project / "mlcd.yaml"), "--failed", "training", "--data-test",
                 str(data_project / "out" / "missing.json"), "--output", str(report)]) == 0
    text = report.read_text()
    assert text.startswith("## ❌ mlcd: training failed\n\n> ❌ **training** of penguins-classifier failed; its log is "
                           "in the [workflow run](https://github.com/o/r/actions/runs/42).")
