"""mlcd's GitHub publishing against the local stand-in, every call checked against GitHub's OpenAPI."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest
import requests

import mlcd.output
from mlcd.commands import comment
from mlcd.errors import GitHubError
from mlcd.github import (
    CHECK_NAME,
    DEFAULT_MARKER,
    SUMMARY_LIMIT,
    GitHubClient,
    create_check_run,
    upsert_sticky_comment,
)
from testing.github_standin import Call, Fault, GitHubOpenAPI, GitHubStandin
from testing.github_standin.fixtures import fail_on_validation_errors, running_standin

pytestmark = pytest.mark.integration

REPO = "octo-org/model"
SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def standin(github_standin: GitHubStandin) -> GitHubStandin:
    github_standin.add_pull_request(REPO, 7, SHA)
    return github_standin


def client_for(standin: GitHubStandin, sleeps: list[float] | None = None) -> GitHubClient:
    return GitHubClient(standin.token, standin.url, sleep=(sleeps if sleeps is not None else []).append)


def raw(standin: GitHubStandin, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {standin.token}", "Accept": "application/vnd.github+json"}
    return requests.request(method, standin.url + path, headers=headers, timeout=10, **kwargs)


# Sticky comment.


def test_upsert_twice_leaves_one_comment_updated_in_place(standin: GitHubStandin) -> None:
    client = client_for(standin)

    first = upsert_sticky_comment(client, REPO, 7, "accuracy 0.91")
    second = upsert_sticky_comment(client, REPO, 7, "accuracy 0.93")

    assert first.created and not second.created
    assert first.id == second.id
    assert second.url == f"https://github.com/{REPO}/pull/7#issuecomment-{first.id}"
    [stored] = standin.repositories[REPO].issue_comments(7)
    assert stored.body == f"{DEFAULT_MARKER}\naccuracy 0.93"
    assert len(standin.calls("issues/create-comment")) == 1
    assert len(standin.calls("issues/update-comment")) == 1


def test_unchanged_report_is_not_edited_again(standin: GitHubStandin) -> None:
    client = client_for(standin)
    upsert_sticky_comment(client, REPO, 7, "same")
    upsert_sticky_comment(client, REPO, 7, "same")

    assert standin.calls("issues/update-comment") == []


def test_finds_its_comment_past_the_first_page(standin: GitHubStandin) -> None:
    for i in range(150):
        standin.add_comment(REPO, 7, f"review comment {i}")
    ours = standin.add_comment(REPO, 7, f"{DEFAULT_MARKER}\nold report", user="github-actions[bot]")

    result = upsert_sticky_comment(client_for(standin), REPO, 7, "new report")

    assert result.id == ours.id and not result.created
    assert len(standin.calls("issues/list-comments")) == 2
    assert standin.repositories[REPO].comments[ours.id].body.endswith("new report")


def test_duplicates_from_racing_runs_are_removed_but_others_comments_kept(standin: GitHubStandin) -> None:
    kept = standin.add_comment(REPO, 7, f"{DEFAULT_MARKER}\nrun 1", user="github-actions[bot]")
    twin = standin.add_comment(REPO, 7, f"{DEFAULT_MARKER}\nrun 2", user="github-actions[bot]")
    quoted = standin.add_comment(REPO, 7, f"{DEFAULT_MARKER}\nI copied this", user="octocat")
    mention = standin.add_comment(REPO, 7, f"see the report above {DEFAULT_MARKER}", user="octocat")

    result = upsert_sticky_comment(client_for(standin), REPO, 7, "run 3")

    assert result.id == kept.id
    assert set(standin.repositories[REPO].comments) == {kept.id, quoted.id, mention.id}
    assert twin.id not in standin.repositories[REPO].comments


def test_server_errors_are_retried_through_to_success(standin: GitHubStandin) -> None:
    standin.inject(Fault(500, times=2, operation="issues/create-comment"))
    standin.inject(Fault(429, operation="issues/list-comments", headers={"Retry-After": "5"}))
    sleeps: list[float] = []

    result = upsert_sticky_comment(client_for(standin, sleeps), REPO, 7, "report")

    assert result.created
    assert sleeps == [5.0, 1.0, 2.0]
    # each lost create is looked up (the list of comments) before it is sent again: nothing was created
    assert [r.status for r in standin.requests] == [429, 200, 500, 200, 500, 200, 201]
    assert len(standin.repositories[REPO].issue_comments(7)) == 1


def test_a_create_github_carried_out_but_whose_answer_was_lost_is_not_made_twice(standin: GitHubStandin) -> None:
    standin.inject(Fault(502, operation="issues/create-comment", carried_out=True))
    sleeps: list[float] = []

    result = upsert_sticky_comment(client_for(standin, sleeps), REPO, 7, "report")

    assert result.created and sleeps == []
    assert [r.status for r in standin.requests] == [200, 502, 200]  # list, the lost create, the look-up
    [comment] = standin.repositories[REPO].issue_comments(7)
    assert comment.id == result.id


def test_403_on_comment_is_an_actionable_error(standin: GitHubStandin) -> None:
    standin.permissions["pull-requests"] = "read"
    standin.permissions["issues"] = "read"

    with pytest.raises(GitHubError) as caught:
        upsert_sticky_comment(client_for(standin), REPO, 7, "report")

    assert caught.value.exit_code == 7
    assert "the token lacks pull-requests: write" in caught.value.message
    assert caught.value.fix is not None
    assert "permissions: {contents: read, pull-requests: write, checks: write}" in caught.value.fix


def test_unknown_pull_request_is_a_404_error(standin: GitHubStandin) -> None:
    with pytest.raises(GitHubError, match="not found") as caught:
        upsert_sticky_comment(client_for(standin), REPO, 99, "report")
    assert caught.value.status == 404


def test_bad_token_is_a_401_error(standin: GitHubStandin) -> None:
    client = GitHubClient("wrong-token", standin.url, sleep=lambda _: None)
    with pytest.raises(GitHubError, match="rejected the token"):
        upsert_sticky_comment(client, REPO, 7, "report")


# Check run and commit status.


def test_check_run_is_created_with_the_conclusion(standin: GitHubStandin) -> None:
    check = create_check_run(client_for(standin), REPO, SHA, conclusion="failure", title="Gates failed",
                             summary="accuracy below 0.9", details_url="https://github.com/o/r/actions/runs/1")

    assert check.kind == "check-run"
    [run] = standin.repositories[REPO].check_runs
    assert check.id == run["id"]
    assert run["name"] == CHECK_NAME == "mlcd / gates"
    assert run["head_sha"] == SHA
    assert (run["status"], run["conclusion"]) == ("completed", "failure")
    assert run["output"]["title"] == "Gates failed"
    assert run["output"]["summary"] == "accuracy below 0.9"


def test_long_summary_is_cut_to_what_the_checks_api_accepts(standin: GitHubStandin) -> None:
    summary = "\n".join(f"| slice {i} | 0.9 |" for i in range(10000))
    assert len(summary) > SUMMARY_LIMIT

    create_check_run(client_for(standin), REPO, SHA, conclusion="success", title="ok", summary=summary)

    stored = standin.repositories[REPO].check_runs[0]["output"]["summary"]
    assert len(stored) <= SUMMARY_LIMIT  # and the description's maxLength accepted it
    assert "characters were left out" in stored


def test_refused_check_run_falls_back_to_a_commit_status(standin: GitHubStandin) -> None:
    standin.permissions["checks"] = "read"

    check = create_check_run(client_for(standin), REPO, SHA, conclusion="failure", title="Gates failed",
                             summary="details", details_url="https://github.com/o/r/actions/runs/1")

    assert check.kind == "commit-status"
    assert standin.repositories[REPO].check_runs == []
    [status] = standin.repositories[REPO].statuses
    assert (status["context"], status["state"], status["sha"]) == ("mlcd / gates", "failure", SHA)
    assert status["target_url"] == check.url == "https://github.com/o/r/actions/runs/1"


def test_refused_check_run_and_status_is_an_actionable_error(standin: GitHubStandin) -> None:
    standin.permissions.update(checks="read", statuses="read")

    with pytest.raises(GitHubError) as caught:
        create_check_run(client_for(standin), REPO, SHA, conclusion="success", title="ok", summary="ok")
    assert "checks: write or statuses: write" in caught.value.message


def test_enterprise_server_api_root(github_openapi: GitHubOpenAPI) -> None:
    with running_standin(github_openapi, prefix="/api/v3") as ghe:
        ghe.add_pull_request(REPO, 7, SHA)
        client = GitHubClient.from_env({"GITHUB_TOKEN": ghe.token, "GITHUB_API_URL": ghe.url})

        upsert_sticky_comment(client, REPO, 7, "report")

        assert ghe.url.endswith("/api/v3")
        assert [r.call.path for r in ghe.requests] == [f"/repos/{REPO}/issues/7/comments"] * 2


# The validation has teeth.


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "expected"), [
    ("POST", f"/repos/{REPO}/issues/7/comments", {"json": {"text": "no body field"}}, 422,
     "'body' is a required property"),
    ("POST", f"/repos/{REPO}/check-runs", {"json": {"name": "x", "head_sha": SHA, "conclusion": "passed"}}, 422,
     "'passed' is not one of"),
    ("POST", f"/repos/{REPO}/statuses/{SHA}", {"json": {"state": "success", "context": 7}}, 422,
     "7 is not of type 'string'"),
    ("GET", f"/repos/{REPO}/issues/7/comments", {"params": {"per_page": "many"}}, 422, "per_page"),
    ("PUT", f"/repos/{REPO}/issues/7/comments", {"json": {"body": "x"}}, 404, "Operation put not found"),
    ("POST", f"/repos/{REPO}/issue/7/comment", {"json": {"body": "x"}}, 404, "Path not found"),
])
def test_a_call_github_would_reject_is_caught(standin: GitHubStandin, method: str, path: str,
                                              kwargs: dict[str, Any], status: int, expected: str) -> None:
    response = raw(standin, method, path, **kwargs)

    assert response.status_code == status
    [error] = standin.take_validation_errors()
    assert expected in error
    assert standin.repositories[REPO].comments == {}


def test_a_valid_call_the_standin_lacks_is_reported(standin: GitHubStandin) -> None:
    response = raw(standin, "GET", f"/repos/{REPO}/releases")

    assert response.status_code == 404
    [error] = standin.take_validation_errors()
    assert "repos/list-releases is valid but the stand-in does not implement it" in error


def test_an_answer_github_would_not_give_is_caught(github_openapi: GitHubOpenAPI) -> None:
    call = Call("PATCH", f"/repos/{REPO}/issues/comments/1", {}, {"Content-Type": "application/json"},
                b'{"body": "x"}')
    headers = {"Content-Type": "application/json; charset=utf-8"}

    errors = github_openapi.response_errors(call, 200, headers, json.dumps({"id": "1", "body": "x"}).encode())

    assert any("'1' is not of type 'integer'" in e for e in errors)
    assert any("'node_id' is a required property" in e for e in errors)
    assert github_openapi.response_errors(call, 201, headers, b"{}") == [
        f"status 201 is not an answer GitHub documents for PATCH /repos/{REPO}/issues/comments/1"]


def test_the_fixture_fails_a_test_that_sent_an_invalid_call(standin: GitHubStandin) -> None:
    raw(standin, "POST", f"/repos/{REPO}/issues/7/comments", json={"body": 42})

    with pytest.raises(pytest.fail.Exception, match="42 is not of type 'string'"):
        fail_on_validation_errors(standin)


# The command.


def namespace(body: Path, **overrides: Any) -> argparse.Namespace:
    values: dict[str, Any] = {"body": str(body), "pr": None, "repo": None, "sha": None, "conclusion": None,
                              "title": None, "out": str(body.parent / "mlcd-comment.md"), "config": None}
    return argparse.Namespace(**(values | overrides))


@pytest.fixture
def actions_env(standin: GitHubStandin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The environment of a pull_request workflow run; returns the $GITHUB_OUTPUT file."""
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7, "head": {"sha": SHA}}}), encoding="utf-8")
    outputs = tmp_path / "github_output"
    outputs.touch()
    for name, value in {"GITHUB_ACTIONS": "true", "GITHUB_TOKEN": standin.token, "GITHUB_API_URL": standin.url,
                        "GITHUB_REPOSITORY": REPO, "GITHUB_EVENT_PATH": str(event), "GITHUB_SHA": "f" * 40,
                        "GITHUB_SERVER_URL": "https://github.com", "GITHUB_RUN_ID": "42",
                        "GITHUB_OUTPUT": str(outputs)}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(mlcd.output, "_default", None)
    return outputs


def test_comment_command_publishes_comment_and_check(standin: GitHubStandin, actions_env: Path,
                                                      tmp_path: Path) -> None:
    body = tmp_path / "report.md"
    body.write_text("## mlcd report\n\nall gates passed\n", encoding="utf-8")

    assert comment.run(namespace(body, conclusion="success")) == 0
    assert comment.run(namespace(body, conclusion="success")) == 0

    [stored] = standin.repositories[REPO].issue_comments(7)
    assert stored.body == f"{DEFAULT_MARKER}\n## mlcd report\n\nall gates passed\n"
    runs = standin.repositories[REPO].check_runs
    assert [(r["head_sha"], r["conclusion"], r["output"]["title"]) for r in runs] == [(SHA, "success",
                                                                                       "Gates passed")] * 2
    assert runs[0]["details_url"] == f"https://github.com/{REPO}/actions/runs/42"
    outputs = actions_env.read_text(encoding="utf-8")
    assert f"comment-url=https://github.com/{REPO}/pull/7#issuecomment-{stored.id}" in outputs
    assert "check-url=" in outputs
    assert not (tmp_path / "mlcd-comment.md").exists()


def test_comment_command_flags_override_the_event(standin: GitHubStandin, actions_env: Path,
                                                  tmp_path: Path) -> None:
    standin.add_pull_request("octo-org/other", 3, "e" * 40)
    body = tmp_path / "report.md"
    body.write_text("report", encoding="utf-8")

    assert comment.run(namespace(body, repo="octo-org/other", pr=3, sha="e" * 40, conclusion="failure",
                                 title="2 gates failed")) == 0

    assert len(standin.repositories["octo-org/other"].issue_comments(3)) == 1
    [run] = standin.repositories["octo-org/other"].check_runs
    assert (run["head_sha"], run["conclusion"], run["output"]["title"]) == ("e" * 40, "failure", "2 gates failed")


def test_comment_command_without_a_token_writes_the_file(standin: GitHubStandin, actions_env: Path,
                                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("GITHUB_TOKEN")
    body = tmp_path / "report.md"
    body.write_text("report", encoding="utf-8")

    assert comment.run(namespace(body, conclusion="success")) == 0

    assert (tmp_path / "mlcd-comment.md").read_text(encoding="utf-8") == "report"
    assert f"wrote the comment to {tmp_path / 'mlcd-comment.md'}" in capsys.readouterr().err
    assert standin.requests == []


def test_comment_command_outside_actions_writes_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITHUB_ACTIONS", "GITHUB_REPOSITORY", "GITHUB_EVENT_PATH", "GITHUB_OUTPUT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GITHUB_TOKEN", "a-developer-token")
    monkeypatch.setattr(mlcd.output, "_default", None)
    body = tmp_path / "report.md"
    body.write_text("report", encoding="utf-8")

    assert comment.run(namespace(body)) == 0
    assert (tmp_path / "mlcd-comment.md").read_text(encoding="utf-8") == "report"
