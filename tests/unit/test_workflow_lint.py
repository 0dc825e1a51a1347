"""Every workflow and action mlcd ships is linted: actionlint, zizmor (pedantic, zero findings) and
GitHub's workflow and action JSON schemas (check-jsonschema's vendored copies). The callers `mlcd init`
writes are linted as a user receives them: pinned to a release's commit."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlcd.release import Release
from mlcd.scaffold.init import workflow_names, workflow_text

ROOT = Path(__file__).resolve().parents[2]
ACTIONS = sorted((ROOT / "actions").glob("*/action.yml"))
CALLERS = ROOT / ".cache" / "lint-callers" / ".github" / "workflows"
SAMPLE_RELEASE = Release("0.2.0", "0123456789abcdef0123456789abcdef01234567")


def _rendered_callers() -> list[Path]:
    CALLERS.mkdir(parents=True, exist_ok=True)
    for name in workflow_names():
        (CALLERS / name).write_text(workflow_text(name, SAMPLE_RELEASE), encoding="utf-8")
    return sorted(CALLERS.glob("mlcd-*.yml"))


WORKFLOWS = sorted([*(ROOT / ".github" / "workflows").glob("*.yml"), *_rendered_callers()])


def tool(name: str) -> str:
    found = Path(sys.executable).parent / name
    if found.is_file():
        return str(found)
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: `pip install -e '.[test]'` installs it", pytrace=False)
    return path


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False, timeout=300)


def test_there_is_something_to_lint() -> None:
    assert len(ACTIONS) >= 10
    assert {p.name for p in WORKFLOWS} >= {"mlcd-pr.yml", "mlcd-deliver.yml", "pr.yml", "deliver.yml", "ci.yml"}


def test_actionlint() -> None:
    result = run(tool("actionlint"), "-oneline", *map(str, WORKFLOWS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_pedantic_has_no_findings() -> None:
    result = run(tool("zizmor"), "--offline", "--persona", "pedantic", "--no-progress",
                 *map(str, [*WORKFLOWS, *ACTIONS]))
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflows_match_githubs_schema() -> None:
    result = run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_actions_match_githubs_schema() -> None:
    result = run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions", *map(str, ACTIONS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_third_party_action_is_pinned_by_sha_with_a_version_comment() -> None:
    import re

    uses = re.compile(r"^\s*(?:-\s*)?uses:\s*([^\s#]+)(.*)$")
    for file in [*WORKFLOWS, *ACTIONS]:
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            found = uses.search(line)
            if not found or found.group(1).startswith("./"):
                continue
            reference, comment = found.groups()
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", reference), f"{file}:{number}: {reference}"
            assert re.search(r"#\s*\S+", comment), f"{file}:{number}: no version comment"


def test_no_expression_is_pasted_into_a_shell_line() -> None:
    import yaml

    for file in [*WORKFLOWS, *ACTIONS]:
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
        jobs = document.get("jobs", {}).values() if "jobs" in document else [{"steps": document["runs"]["steps"]}]
        for job in jobs:
            for step in job.get("steps", []):
                assert "${{" not in step.get("run", ""), f"{file}: {step.get('name') or step['run'][:40]}"


def test_one_uv_version_everywhere() -> None:
    import re

    pinned = {file.name: re.findall(r"UV_VERSION: ([\d.]+)", file.read_text(encoding="utf-8"))
              for file in [ROOT / "actions" / "setup" / "action.yml", *(ROOT / ".github" / "workflows").glob("*.yml")]
              if "UV_VERSION" in file.read_text(encoding="utf-8")}
    assert all(len(versions) == 1 for versions in pinned.values()), pinned
    assert len({versions[0] for versions in pinned.values()}) == 1, pinned
