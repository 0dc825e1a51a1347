"""Where the workflows run the shadow replay: before each next stage's plan in deliver.yml, feeding the
plan, and before the report in pr.yml, feeding the report and the check; the action as a shim over
`mlcd shadow`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mlcd.arguments import build_parser

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
LOGS = "${{ inputs.prediction-logs || vars.MLCD_PREDICTION_LOGS }}"
PLAN = "The next stage's plan, for its reviewers"


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return document


def mlcd_pin(steps: list[dict[str, Any]], action: str) -> str:
    return next(s["uses"] for s in steps if s.get("uses", "").startswith(f"mlcd-dev/mlcd/actions/{action}@"))


def test_each_next_stage_plan_gets_the_shadow_replay_of_that_run() -> None:
    deliver = load(WORKFLOWS / "deliver.yml")
    assert deliver[True]["workflow_call"]["inputs"]["prediction-logs"]["default"] == ""  # `on:` parses as True
    planned = {name: job for name, job in deliver["jobs"].items() if any(s.get("name") == PLAN for s in job["steps"])}
    assert sorted(planned) == ["stage-1", "stage-2"]
    for name, job in planned.items():
        steps = job["steps"]
        names = [s.get("name") for s in steps]
        shadow = steps[names.index("Shadow replay of production traffic, for the next stage's evidence")]
        plan = steps[names.index(PLAN)]
        assert names.index(shadow["name"]) < names.index(PLAN), name
        assert shadow["id"] == "shadow" and shadow["if"] == plan["if"], name
        assert shadow["uses"].split("@")[1] == mlcd_pin(steps, "smoke").split("@")[1], name  # the same pin
        assert shadow["with"] == {"image": plan["with"]["image"], "logs": LOGS, "if-configured": "true",
                                  "no-fail": "true"}, name  # the image the plan is of
        assert plan["with"]["shadow"] == "${{ steps.shadow.outputs.result-file }}", name


def test_the_pr_report_gets_the_shadow_replay_and_its_gate_decides_the_check() -> None:
    pr = load(WORKFLOWS / "pr.yml")
    assert pr[True]["workflow_call"]["inputs"]["prediction-logs"]["default"] == ""
    evaluate = pr["jobs"]["evaluate"]
    ids = [s.get("id") for s in evaluate["steps"]]
    shadow = evaluate["steps"][ids.index("shadow")]
    assert ids.index("evaluate") < ids.index("shadow") < ids.index("report")  # the trained model, before the report
    assert shadow["with"] == {"logs": LOGS, "if-configured": "true", "no-fail": "true"}
    assert shadow["continue-on-error"] is True  # logs it cannot read never cost the pull request its report
    assert evaluate["steps"][ids.index("report")]["with"] == {"shadow": "${{ steps.shadow.outputs.result-file }}"}
    assert evaluate["outputs"]["passed"] == "${{ steps.report.outputs.passed }}"


def test_the_shadow_action_passes_each_input_to_the_command() -> None:
    action = load(ROOT / "actions" / "shadow" / "action.yml")
    assert set(action["inputs"]) == {"logs", "model", "image", "sample", "if-configured", "no-fail", "json", "markdown",
                                     "config", "working-directory"}
    assert set(action["outputs"]) == {"verdict", "churn", "result-file", "report-file"}
    [step] = action["runs"]["steps"]
    options = {"logs": "--logs", "model": "--model", "image": "--image", "sample": "--sample",
               "if-configured": "--if-configured", "json": "--json", "markdown": "--markdown"}
    parsed = build_parser().parse_args(["shadow", "--logs", "L", "--model", "M", "--sample", "5", "--if-configured",
                                        "--json", "J", "--markdown", "D"])  # every option the action passes exists
    assert (parsed.logs, parsed.model, parsed.sample, parsed.if_configured, parsed.json, parsed.markdown) == \
        ("L", "M", 5, True, "J", "D")
    assert build_parser().parse_args(["shadow", "--image", "I"]).image == "I"
    for name, option in options.items():
        variable = "INPUT_" + name.upper().replace("-", "_")
        assert step["env"][variable] == "${{ inputs." + name + " }}"
        assert f'args+=({option}' in step["run"] or f'{option} "${variable}"' in step["run"], name
    assert "mlcd shadow" in step["run"] and '[ "$status" = 3 ] && [ "$INPUT_NO_FAIL" = true ]' in step["run"]
