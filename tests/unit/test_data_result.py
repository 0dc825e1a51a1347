"""data-test.json has one reader (mlcd.data.result) for compare, promote and the reports: what `mlcd data test`
writes reads back, and every other file is an error naming it, or None where the file may be absent."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

import mlcd.output
from mlcd.cli import main
from mlcd.data.result import read_result
from mlcd.errors import InputError


def test_what_the_data_test_writes_reads_back(data_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mlcd.output, "_default", mlcd.output.Output(io.StringIO(), {}))
    written = data_project / "data-test.json"
    assert main(["data", "test", "--config", str(data_project / "mlcd.yaml"), "--json", str(written),
                 "--markdown", str(data_project / "data-test.md")]) == 0
    result = read_result(written)
    assert result.passed is True and result.path == written
    assert result.document == json.loads(written.read_text(encoding="utf-8"))


def test_a_missing_file_is_none_only_where_it_may_be_absent(tmp_path: Path) -> None:
    assert read_result(tmp_path / "data-test.json", if_present=True) is None
    with pytest.raises(InputError, match=r"data-test\.json does not exist") as info:
        read_result(tmp_path / "data-test.json")
    assert info.value.fix == "run `mlcd data test` first, or leave out --data-test"


@pytest.mark.parametrize(("text", "error"), [
    ("{not json", "cannot read the data test result"),
    ("[1, 2]", "is not a data test result: it has no true or false 'passed'"),
    ('{"passed": "yes"}', "is not a data test result: it has no true or false 'passed'"),
    ('{"checks": []}', "is not a data test result: it has no true or false 'passed'"),
])
@pytest.mark.parametrize("if_present", [False, True])
def test_a_file_that_is_not_a_result_is_an_error(tmp_path: Path, text: str, error: str, if_present: bool) -> None:
    path = tmp_path / "data-test.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=error):
        read_result(path, if_present=if_present)


def test_a_failed_result_is_not_passed(tmp_path: Path) -> None:
    path = tmp_path / "data-test.json"
    path.write_text('{"passed": false, "checks": []}', encoding="utf-8")
    assert read_result(path).passed is False


@pytest.mark.parametrize("command", [["report", "--failed", "training"],
                                     ["promote", "ghcr.io/acme/penguins@sha256:" + "a" * 64, "--to", "staging",
                                      "--plan"]])
def test_report_and_promote_read_a_result_the_same_way(data_project: Path, command: list[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = io.StringIO()
    monkeypatch.setattr(mlcd.output, "_default", mlcd.output.Output(terminal, {}))
    monkeypatch.chdir(data_project)
    (data_project / "data-test.json").write_text('{"checks": []}', encoding="utf-8")
    assert main([*command, "--data-test", "data-test.json"]) == 4
    assert "error: data-test.json is not a data test result: it has no true or false 'passed'" in terminal.getvalue()
