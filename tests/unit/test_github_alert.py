"""The drift issue (open, update, never a duplicate, told once when drift clears) and workflow dispatch,
against the OpenAPI-validated GitHub stand-in (in-process, no services)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

import mlcd.output
from mlcd.commands import alert, dispatch
from mlcd.errors import GitHubError, UsageError
from mlcd.github import GitHubClient
from mlcd.github.dispatch import dispatch_workflow
from mlcd.github.issues import DRIFT_LABEL, DRIFT_MARKER, RECOVERED_MARKER, clear_alert, raise_alert
from testing.github_standin import GitHubStandin
from testing.github_standin.fixtures import with_retrain_workflow

REPO = "octo-org/model"


@pytest.fixture
def standin(github_standin: GitHubStandin) -> GitHubStandin:
    return with_retrain_workflow(github_standin, REPO)


def client_for(standin: GitHubStandin) -> GitHubClient:
    return GitHubClient(standin.token, standin.url, sleep=lambda _: None)


def open_issues(standin: GitHubStandin) -> list[dict[str, object]]:
    return [issue for issue in standin.repositories[REPO].issues.values() if issue["state"] == "open"]


def test_first_drift_opens_the_issue_with_its_label(standin: GitHubStandin) -> None:
    issue = raise_alert(client_for(standin), REPO, "mlcd: drift in production inputs (age)", "## ❌ drift")

    assert issue.outcome == "opened"
    [stored] = open_issues(standin)
    assert stored["title"] == "mlcd: drift in production inputs (age)"
    assert stored["body"] == f"{DRIFT_MARKER}\n## ❌ drift"
    assert stored["labels"] == [DRIFT_LABEL]
    assert issue.url == f"https://github.com/{REPO}/issues/{issue.number}"
    assert len(standin.calls("issues/create-label")) == 1


def test_later_drift_updates_the_same_issue(standin: GitHubStandin) -> None:
    client = client_for(standin)
    first = raise_alert(client, REPO, "drift (age)", "report 1")
    second = raise_alert(client, REPO, "drift (age, plan)", "report 2")
    third = raise_alert(client, REPO, "drift (age, plan)", "report 2")

    assert (first.outcome, second.outcome, third.outcome) == ("opened", "updated", "unchanged")
    assert first.number == second.number == third.number
    [stored] = open_issues(standin)
    assert (stored["title"], stored["body"]) == ("drift (age, plan)", f"{DRIFT_MARKER}\nreport 2")
    assert len(standin.calls("issues/create")) == 1
    assert len(standin.calls("issues/update")) == 1


def test_issues_of_people_with_the_label_are_left_alone(standin: GitHubStandin) -> None:
    client = client_for(standin)
    client.post(f"/repos/{REPO}/issues", {"title": "is the model drifting?", "body": "I think so",
                                          "labels": [DRIFT_LABEL]})

    issue = raise_alert(client, REPO, "drift", "report")

    assert issue.outcome == "opened"
    assert {str(i["body"]) for i in open_issues(standin)} == {"I think so", f"{DRIFT_MARKER}\nreport"}


def test_a_closed_issue_is_history_and_new_drift_opens_a_new_one(standin: GitHubStandin) -> None:
    client = client_for(standin)
    first = raise_alert(client, REPO, "drift", "report 1")
    client.patch(f"/repos/{REPO}/issues/{first.number}", {"state": "closed"})

    second = raise_alert(client, REPO, "drift", "report 2")

    assert second.outcome == "opened" and second.number != first.number
    assert len(open_issues(standin)) == 1


def test_cleared_drift_is_noted_once_and_the_issue_stays_open(standin: GitHubStandin) -> None:
    client = client_for(standin)
    assert clear_alert(client, REPO, "no drift").outcome == "quiet"
    opened = raise_alert(client, REPO, "drift", "report")

    first = clear_alert(client, REPO, "no drift")
    second = clear_alert(client, REPO, "no drift")

    assert (first.outcome, second.outcome) == ("recovered", "unchanged")
    [comment] = standin.repositories[REPO].issue_comments(int(opened.number or 0))
    assert comment.body == f"{RECOVERED_MARKER}\nno drift"
    assert len(open_issues(standin)) == 1

    raise_alert(client, REPO, "drift", "report again")
    assert clear_alert(client, REPO, "no drift").outcome == "unchanged"  # the newest comment still says so
    client.post(f"/repos/{REPO}/issues/{opened.number}/comments", {"body": "retrained, deploying"})
    assert clear_alert(client, REPO, "no drift").outcome == "recovered"


def test_an_existing_label_is_not_created_again(standin: GitHubStandin) -> None:
    client = client_for(standin)
    client.post(f"/repos/{REPO}/labels", {"name": DRIFT_LABEL, "color": "000000"})
    raise_alert(client, REPO, "drift", "report")
    assert len(standin.calls("issues/create-label")) == 1  # the test's own


@pytest.mark.parametrize(("status", "words"), [
    (401, ["rejected the token", "GITHUB_TOKEN"]),
    (403, ["lacks issues: write", "permissions: {contents: read, issues: write}"]),
    (404, ["not found", "GITHUB_API_URL"]),
])
def test_refusals_are_one_line_with_the_fix(standin: GitHubStandin, status: int, words: list[str]) -> None:
    if status == 401:
        client = GitHubClient("wrong-token", standin.url, sleep=lambda _: None)
    else:
        client = client_for(standin)
        if status == 403:
            standin.permissions["issues"] = "read"
    repo = "octo-org/missing" if status == 404 else REPO

    with pytest.raises(GitHubError) as caught:
        raise_alert(client, repo, "drift", "report")

    text = caught.value.one_line()
    assert "\n" not in text and caught.value.exit_code == 7 and caught.value.status == status
    for word in words:
        assert word in text


def test_dispatch_asks_for_a_run_with_the_inputs(standin: GitHubStandin) -> None:
    done = dispatch_workflow(client_for(standin), REPO, "mlcd-retrain.yml", "main", {"reason": "drift in age"})

    assert (done.workflow, done.ref) == ("mlcd-retrain.yml", "main")
    assert standin.repositories[REPO].dispatches == [
        {"workflow": "mlcd-retrain.yml", "ref": "main", "inputs": {"reason": "drift in age"}}]


def test_dispatch_without_actions_write_names_the_permission(standin: GitHubStandin) -> None:
    standin.permissions["actions"] = "read"
    with pytest.raises(GitHubError) as caught:
        dispatch_workflow(client_for(standin), REPO, "mlcd-retrain.yml", "main")
    assert "permissions: {actions: write}" in caught.value.one_line()


def test_dispatch_of_an_unknown_workflow_says_where_it_must_be(standin: GitHubStandin) -> None:
    with pytest.raises(GitHubError) as caught:
        dispatch_workflow(client_for(standin), REPO, "mlcd-retrain.yml".replace("retrain", "train"), "main")
    assert ".github/workflows/mlcd-train.yml to the default branch" in caught.value.one_line()


def test_dispatch_with_an_undeclared_input_names_the_trigger(standin: GitHubStandin) -> None:
    with pytest.raises(GitHubError) as caught:
        dispatch_workflow(client_for(standin), REPO, "mlcd-retrain.yml", "main", {"why": "x"})
    assert "workflow_dispatch:" in caught.value.one_line() and caught.value.status == 422


@pytest.mark.parametrize(("workflow", "ref"), [("../x", "main"), ("retrain", "main"), ("mlcd-retrain.yml", "")])
def test_dispatch_refuses_what_is_not_a_workflow_or_ref(workflow: str, ref: str) -> None:
    with pytest.raises(UsageError):
        dispatch_workflow(GitHubClient("t", "http://127.0.0.1:9"), REPO, workflow, ref)


# The commands, as the actions call them.


@pytest.fixture
def actions_env(standin: GitHubStandin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    outputs = tmp_path / "github_output"
    outputs.touch()
    for name, value in {"GITHUB_ACTIONS": "true", "GITHUB_TOKEN": standin.token, "GITHUB_API_URL": standin.url,
                        "GITHUB_REPOSITORY": REPO, "GITHUB_SERVER_URL": "https://github.com", "GITHUB_RUN_ID": "42",
                        "GITHUB_REF_NAME": "main", "GITHUB_OUTPUT": str(outputs)}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(mlcd.output, "_default", None)
    return outputs


def alert_args(report: Path, verdict: str, columns: str = "") -> argparse.Namespace:
    return argparse.Namespace(report=str(report), verdict=verdict, columns=columns, metrics="", title=None,
                              label=DRIFT_LABEL, repo=None, config=None)


def test_alert_command_opens_then_notes_recovery(standin: GitHubStandin, actions_env: Path, tmp_path: Path) -> None:
    report = tmp_path / "drift.md"
    report.write_text("## ❌ mlcd drift: 1 of 7 columns drifted\n", encoding="utf-8")

    assert alert.run(alert_args(report, "drift", "bill_length_mm")) == 0
    [issue] = open_issues(standin)
    assert issue["title"] == "mlcd: drift in production inputs (bill_length_mm)"
    assert "1 of 7 columns drifted" in str(issue["body"])
    assert f"https://github.com/{REPO}/actions/runs/42" in str(issue["body"])
    assert "outcome=opened" in actions_env.read_text(encoding="utf-8")

    report.write_text("## ⚠️ mlcd drift: not enough data\n", encoding="utf-8")
    assert alert.run(alert_args(report, "not enough data")) == 0
    assert standin.repositories[REPO].comments == {}  # too few rows is not a recovery
    assert "outcome=quiet" in actions_env.read_text(encoding="utf-8")

    report.write_text("## ✅ mlcd drift: no drift\n", encoding="utf-8")
    assert alert.run(alert_args(report, "no drift")) == 0
    [note] = standin.repositories[REPO].issue_comments(next(iter(standin.repositories[REPO].issues)))
    assert note.body.startswith(RECOVERED_MARKER) and "no drift" in note.body
    assert "outcome=recovered" in actions_env.read_text(encoding="utf-8")


def test_alert_title_names_at_most_five_columns_and_the_metrics_below_their_gates() -> None:
    assert alert.alert_title("skew", [], []) == "mlcd: production inputs break the data contract"
    assert alert.alert_title("stale", [], []) == "mlcd: the production model is older than monitoring.max_model_age"
    assert (alert.alert_title("drift", list("abcdefg"), [])
            == "mlcd: drift in production inputs (a, b, c, d, e and 2 more)")
    assert (alert.alert_title("below gates", [], ["accuracy", "f1_macro"])
            == "mlcd: production accuracy, f1_macro below the gates on labelled traffic")


def test_dispatch_command_passes_inputs(standin: GitHubStandin, actions_env: Path) -> None:
    args = argparse.Namespace(workflow="mlcd-retrain.yml", ref=None, input=["reason=drift = bad"], repo=None,
                              config=None)
    assert dispatch.run(args) == 0
    assert standin.repositories[REPO].dispatches[0]["inputs"] == {"reason": "drift = bad"}
    assert standin.repositories[REPO].dispatches[0]["ref"] == "main"
    with pytest.raises(UsageError):
        dispatch.parse_inputs(["no-equals-sign"])
