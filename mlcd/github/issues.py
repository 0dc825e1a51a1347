"""mlcd's alert issue: one open issue per alert (found by its label and a hidden marker), opened on the
first alarm, its body replaced by every later one, and told once when the alarm has cleared."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from mlcd.errors import GitHubError
from mlcd.github.client import GitHubClient
from mlcd.github.publish import checked_repo, truncate
from mlcd.report.fit import COMMENT_LIMIT

DRIFT_LABEL = "mlcd-drift"
DRIFT_MARKER = "<!-- mlcd:drift -->"
RECOVERED_MARKER = "<!-- mlcd:drift-recovered -->"
# Naming one scope in a job's `permissions:` sets every other scope to none, so contents: read stays.
ALERT_PERMISSIONS = "contents: read, issues: write"
LABEL_COLOR = "d93f0b"

Outcome = Literal["opened", "updated", "unchanged", "recovered", "quiet"]


@dataclass(frozen=True)
class AlertIssue:
    outcome: Outcome
    number: int | None = None
    url: str | None = None


def find_alert_issue(client: GitHubClient, repo: str, label: str = DRIFT_LABEL,
                     marker: str = DRIFT_MARKER) -> dict[str, Any] | None:
    """The oldest open issue with ``label`` whose body starts with ``marker`` (issues a person opened with
    the same label are not mlcd's); None when there is none."""
    ours = [issue for issue in client.paginate(f"/repos/{checked_repo(repo)}/issues",
                                               {"state": "open", "labels": label}, permission="issues: read")
            if "pull_request" not in issue and str(issue.get("body") or "").startswith(marker)]
    return min(ours, key=lambda issue: int(issue["number"])) if ours else None


def raise_alert(client: GitHubClient, repo: str, title: str, body: str, *, label: str = DRIFT_LABEL,
                marker: str = DRIFT_MARKER) -> AlertIssue:
    """Open the alert issue, or replace the open one's title and body: never a second open issue."""
    _check_marker(marker)
    repo = checked_repo(repo)
    text = truncate(f"{marker}\n{body}", COMMENT_LIMIT)
    existing = find_alert_issue(client, repo, label, marker)
    if existing is None:
        ensure_label(client, repo, label)
        created = client.post(f"/repos/{repo}/issues", {"title": title, "body": text, "labels": [label]},
                              permission="issues: write", job_permissions=ALERT_PERMISSIONS,
                              recover=lambda: find_alert_issue(client, repo, label, marker))
        return AlertIssue("opened", int(created["number"]), str(created.get("html_url") or ""))
    number = int(existing["number"])
    if existing.get("body") == text and existing.get("title") == title:
        return AlertIssue("unchanged", number, str(existing.get("html_url") or ""))
    updated = client.patch(f"/repos/{repo}/issues/{number}", {"title": title, "body": text},
                           permission="issues: write", job_permissions=ALERT_PERMISSIONS)
    return AlertIssue("updated", number, str(updated.get("html_url") or ""))


def clear_alert(client: GitHubClient, repo: str, note: str, *, label: str = DRIFT_LABEL,
                marker: str = DRIFT_MARKER) -> AlertIssue:
    """The alarm has cleared: say so once on the open alert issue (a comment), and leave closing it to a
    person. Nothing when there is no open issue, or its newest comment already says so."""
    _check_marker(marker)
    repo = checked_repo(repo)
    existing = find_alert_issue(client, repo, label, marker)
    if existing is None:
        return AlertIssue("quiet")
    number = int(existing["number"])
    comments = list(client.paginate(f"/repos/{repo}/issues/{number}/comments", permission="issues: read"))
    if comments and str(comments[-1].get("body") or "").startswith(RECOVERED_MARKER):
        return AlertIssue("unchanged", number, str(existing.get("html_url") or ""))
    client.post(f"/repos/{repo}/issues/{number}/comments",
                {"body": truncate(f"{RECOVERED_MARKER}\n{note}", COMMENT_LIMIT)},
                permission="issues: write", job_permissions=ALERT_PERMISSIONS)
    return AlertIssue("recovered", number, str(existing.get("html_url") or ""))


def ensure_label(client: GitHubClient, repo: str, label: str) -> None:
    """Create ``label`` unless the repository has it: GitHub drops unknown labels from issues some tokens
    create, and a dropped label would hide the issue from the next run."""
    try:
        client.get(f"/repos/{repo}/labels/{quote(label, safe='')}", permission="issues: read")
        return
    except GitHubError as exc:
        if exc.status != 404:
            raise
    try:
        client.post(f"/repos/{repo}/labels",
                    {"name": label, "color": LABEL_COLOR, "description": "Opened and updated by mlcd's monitoring"},
                    permission="issues: write", job_permissions=ALERT_PERMISSIONS)
    except GitHubError as exc:
        if exc.status != 422:  # created meanwhile by another run
            raise


def _check_marker(marker: str) -> None:
    if not (marker.startswith("<!--") and marker.endswith("-->")):
        raise ValueError(f"the marker must be a hidden HTML comment like {DRIFT_MARKER}, got {marker!r}")
