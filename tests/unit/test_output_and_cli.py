from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from mlcd.cli import main
from mlcd.errors import Location
from mlcd.output import Output


def test_github_annotations_are_escaped_and_located() -> None:
    stream = io.StringIO()
    out = Output(stream, {"GITHUB_ACTIONS": "true"})
    out.error("bad: 50%\nsecond line", Location("a,b.yaml", 3, 7), title="t")
    assert stream.getvalue() == "::error file=a%2Cb.yaml,line=3,col=7,title=t::bad: 50%25%0Asecond line\n"


def test_groups_on_github_and_in_a_terminal() -> None:
    stream = io.StringIO()
    with Output(stream, {"GITHUB_ACTIONS": "true"}).group("step"):
        pass
    assert stream.getvalue() == "::group::step\n::endgroup::\n"
    plain = io.StringIO()
    with Output(plain, {}).group("step"):
        pass
    assert plain.getvalue().startswith("▶ step\n") and "step: " in plain.getvalue()


def test_step_summary_and_outputs(tmp_path: Path) -> None:
    summary, outputs = tmp_path / "summary.md", tmp_path / "out"
    out = Output(io.StringIO(), {"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(outputs)})
    out.step_summary("# Title")
    out.set_output("passed", "true")
    out.set_output("report", "line 1\nline 2")
    assert summary.read_text() == "# Title\n\n"
    lines = outputs.read_text().splitlines()
    assert lines[0] == "passed=true"
    assert lines[1].startswith("report<<mlcd_") and lines[2:4] == ["line 1", "line 2"] and lines[4] == lines[1][8:]


def test_no_color_and_non_tty_have_no_escape_codes() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    coloured, plain = Tty(), Tty()
    Output(coloured, {}).error("x")
    Output(plain, {"NO_COLOR": "1"}).error("x")
    assert "\033[" in coloured.getvalue()
    assert plain.getvalue() == "error: x\n"


def test_version_and_help_do_not_import_heavy_libraries() -> None:
    code = ("import sys; from mlcd.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('pandas', 'sklearn', 'dvc', 'numpy', 'pandera', 'scipy') if m in sys.modules]\n"
            "print('HEAVY=' + ','.join(heavy))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY=\n" in result.stdout


def test_user_errors_are_one_line_without_traceback(tmp_path: Path, capsys: object) -> None:
    result = subprocess.run([sys.executable, "-m", "mlcd", "evaluate"], cwd=tmp_path, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: no mlcd.yaml in {tmp_path.resolve()} or any parent directory "
        "(fix: run `mlcd init` to write one, or pass --config PATH)"]


def test_usage_errors_exit_2(capsys: object) -> None:
    try:
        main(["train", "--no-such-flag"])
    except SystemExit as exc:
        assert exc.code == 2
    else:
        raise AssertionError("argparse should have exited")
    assert main([]) == 2
