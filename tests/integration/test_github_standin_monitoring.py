"""The stand-in's monitoring endpoints (issues, labels, workflow dispatches), called as GitHub documents
them; every request and answer is checked against GitHub's OpenAPI description by the fixture."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from testing.github_standin import GitHubStandin
from testing.github_standin.fixtures import with_retrain_workflow

pytestmark = pytest.mark.integration

REPO = "octo-org/model"
API = f"/repos/{REPO}"


@pytest.fixture
def standin(github_standin: GitHubStandin) -> GitHubStandin:
    return with_retrain_workflow(github_standin, REPO)


def call(standin: GitHubStandin, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {standin.token}", "Accept": "application/vnd.github+json"}
    return requests.request(method, standin.url + path, headers=headers, timeout=10, **kwargs)


def test_issue_created_listed_by_label_and_updated(standin: GitHubStandin) -> None:
    created = call(standin, "POST", f"{API}/issues", json={"title": "drift", "body": "b1", "labels": ["mlcd-drift"]})
    call(standin, "POST", f"{API}/issues", json={"title": "a bug", "body": "x", "labels": ["bug"]})
    assert created.status_code == 201
    number = created.json()["number"]
    assert created.json()["labels"][0]["name"] == "mlcd-drift"

    listed = call(standin, "GET", f"{API}/issues", params={"labels": "mlcd-drift", "state": "open"}).json()
    assert [issue["number"] for issue in listed] == [number]

    updated = call(standin, "PATCH", f"{API}/issues/{number}", json={"body": "b2", "state": "closed"})
    assert (updated.status_code, updated.json()["body"], updated.json()["state"]) == (200, "b2", "closed")
    assert call(standin, "GET", f"{API}/issues", params={"labels": "mlcd-drift"}).json() == []
    assert len(call(standin, "GET", f"{API}/issues", params={"labels": "mlcd-drift", "state": "all"}).json()) == 1


def test_issue_comments_work_on_issues_as_on_pull_requests(standin: GitHubStandin) -> None:
    number = call(standin, "POST", f"{API}/issues", json={"title": "t"}).json()["number"]
    posted = call(standin, "POST", f"{API}/issues/{number}/comments", json={"body": "hello"})
    assert posted.status_code == 201
    assert posted.json()["html_url"].startswith(f"https://github.com/{REPO}/issues/{number}#issuecomment-")
    assert [c["body"] for c in call(standin, "GET", f"{API}/issues/{number}/comments").json()] == ["hello"]
    assert call(standin, "PATCH", f"{API}/issues/{number + 100}", json={"body": "x"}).status_code == 404


def test_labels_get_and_create(standin: GitHubStandin) -> None:
    assert call(standin, "GET", f"{API}/labels/mlcd-drift").status_code == 404
    created = call(standin, "POST", f"{API}/labels", json={"name": "mlcd-drift", "color": "d93f0b"})
    assert created.status_code == 201
    assert call(standin, "GET", f"{API}/labels/mlcd-drift").json()["color"] == "d93f0b"
    assert call(standin, "POST", f"{API}/labels", json={"name": "mlcd-drift"}).status_code == 422


def test_workflow_dispatch_is_recorded(standin: GitHubStandin) -> None:
    answer = call(standin, "POST", f"{API}/actions/workflows/mlcd-retrain.yml/dispatches",
                  json={"ref": "main", "inputs": {"reason": "drift"}})
    assert (answer.status_code, answer.content) == (204, b"")
    detailed = call(standin, "POST", f"{API}/actions/workflows/mlcd-retrain.yml/dispatches",
                    json={"ref": "main", "return_run_details": True})
    assert detailed.status_code == 200 and "workflow_run_id" in detailed.json()
    assert standin.repositories[REPO].dispatches == [
        {"workflow": "mlcd-retrain.yml", "ref": "main", "inputs": {"reason": "drift"}},
        {"workflow": "mlcd-retrain.yml", "ref": "main", "inputs": {}},
    ]


def test_workflow_dispatch_refusals(standin: GitHubStandin) -> None:
    path = f"{API}/actions/workflows/%s/dispatches"
    assert call(standin, "POST", path % "missing.yml", json={"ref": "main"}).status_code == 404
    assert call(standin, "POST", path % "mlcd-retrain.yml", json={"ref": "main", "inputs": {"x": "1"}}).status_code \
        == 422
    standin.permissions["actions"] = "read"
    assert call(standin, "POST", path % "mlcd-retrain.yml", json={"ref": "main"}).status_code == 403
    assert standin.repositories[REPO].dispatches == []


def test_issues_need_the_issues_permission(standin: GitHubStandin) -> None:
    standin.permissions["issues"] = "read"
    assert call(standin, "POST", f"{API}/issues", json={"title": "t"}).status_code == 403
    standin.permissions["issues"] = "none"
    assert call(standin, "GET", f"{API}/issues").status_code == 403
