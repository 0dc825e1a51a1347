"""Publishing mlcd's report on a pull request: one sticky comment, and a check run (or commit status)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mlcd.errors import GitHubError, InputError, UsageError
from mlcd.github.client import GitHubClient
from mlcd.report.fit import COMMENT_LIMIT

DEFAULT_MARKER = "<!-- mlcd:report -->"
CHECK_NAME = "mlcd / gates"
SUMMARY_LIMIT = 65535
STATUS_DESCRIPTION_LIMIT = 140
# Naming one scope in a job's `permissions:` sets every other scope to none, so contents: read stays.
REPORT_PERMISSIONS = "contents: read, pull-requests: write, checks: write"

Conclusion = Literal["success", "failure", "neutral", "cancelled", "skipped", "timed_out", "action_required"]
_STATUS_STATE: dict[str, str] = {
    "success": "success",
    "neutral": "success",
    "skipped": "success",
    "failure": "failure",
    "action_required": "failure",
    "cancelled": "error",
    "timed_out": "error",
}
_REPO = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_FENCE = re.compile(r"^ {0,3}(```|~~~)", re.MULTILINE)
_DETAILS_OPEN = re.compile(r"<details[\s>]", re.IGNORECASE)
_DETAILS_CLOSE = re.compile(r"</details\s*>", re.IGNORECASE)


@dataclass(frozen=True)
class Comment:
    id: int
    url: str
    created: bool


@dataclass(frozen=True)
class Check:
    kind: Literal["check-run", "commit-status"]
    id: int
    url: str


def read_body(path: Path, fix: str) -> str:
    """The Markdown file to publish (a comment, an issue, a pull request's body), or a one-line error."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path} does not exist", fix=fix) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}", fix=fix) from None


def upsert_sticky_comment(
    client: GitHubClient, repo: str, pr_number: int, body: str, marker: str = DEFAULT_MARKER
) -> Comment:
    """Create mlcd's comment on a pull request, or edit it in place: one comment per ``marker``, ever.

    The marker, a hidden HTML comment, starts the body. Duplicates left by two runs racing are deleted.
    """
    if not (marker.startswith("<!--") and marker.endswith("-->")):
        raise ValueError(f"the marker must be a hidden HTML comment like {DEFAULT_MARKER}, got {marker!r}")
    issues = f"/repos/{checked_repo(repo)}/issues"
    text = truncate(f"{marker}\n{body}", COMMENT_LIMIT)
    def ours_now() -> list[dict[str, Any]]:
        return [comment for comment in client.paginate(f"{issues}/{pr_number}/comments",
                                                       permission="pull-requests: read")
                if str(comment.get("body") or "").startswith(marker)]

    ours = ours_now()
    if not ours:
        created = client.post(f"{issues}/{pr_number}/comments", {"body": text},
                              permission="pull-requests: write", job_permissions=REPORT_PERMISSIONS,
                              recover=lambda: next(iter(ours_now()), None))
        return Comment(int(created["id"]), str(created.get("html_url") or ""), created=True)
    kept, *duplicates = ours
    if kept.get("body") != text:
        kept = client.patch(f"{issues}/comments/{kept['id']}", {"body": text},
                            permission="pull-requests: write", job_permissions=REPORT_PERMISSIONS)
    author = _login(kept)
    for duplicate in duplicates:
        if _login(duplicate) == author:
            client.delete(f"{issues}/comments/{duplicate['id']}", permission="pull-requests: write")
    return Comment(int(kept["id"]), str(kept.get("html_url") or ""), created=False)


def create_check_run(
    client: GitHubClient,
    repo: str,
    head_sha: str,
    *,
    name: str = CHECK_NAME,
    conclusion: Conclusion,
    title: str,
    summary: str,
    details_url: str | None = None,
) -> Check:
    """A completed check run on ``head_sha``; a commit status with context ``name`` if checks are refused.

    GitHub lets only GitHub Apps (the Actions ``GITHUB_TOKEN`` is one) create check runs: a personal token
    gets a 403, and so does a token without ``checks: write``. A commit status still gates the merge.
    """
    repo = checked_repo(repo)
    if not _SHA.fullmatch(head_sha):
        raise UsageError(f"{head_sha!r} is not a full commit SHA", fix="pass the 40-character SHA of the head commit")
    body: dict[str, object] = {
        "name": name,
        "head_sha": head_sha,
        "status": "completed",
        "conclusion": conclusion,
        "output": {"title": title, "summary": truncate(summary, SUMMARY_LIMIT)},
    }
    if details_url:
        body["details_url"] = details_url
    def created_run() -> dict[str, Any] | None:
        """The run this call created, if its answer was lost: same name, commit, conclusion and title."""
        listed = client.get(f"/repos/{repo}/commits/{head_sha}/check-runs", {"check_name": name},
                            permission="checks: read")
        runs = listed.get("check_runs", []) if isinstance(listed, dict) else []
        return next((run for run in runs if run.get("conclusion") == conclusion
                     and (run.get("output") or {}).get("title") == title), None)

    try:
        run = client.post(f"/repos/{repo}/check-runs", body, permission="checks: write",
                          job_permissions=REPORT_PERMISSIONS, recover=created_run)
        return Check("check-run", int(run["id"]), str(run.get("html_url") or ""))
    except GitHubError as exc:
        if exc.status != 403:
            raise
    status_body: dict[str, object] = {
        "state": _STATUS_STATE[conclusion],
        "context": name,
        "description": _shorten(title, STATUS_DESCRIPTION_LIMIT),
    }
    if details_url:
        status_body["target_url"] = details_url
    status = client.post(f"/repos/{repo}/statuses/{head_sha}", status_body,
                         permission="checks: write or statuses: write", job_permissions=REPORT_PERMISSIONS)
    return Check("commit-status", int(status["id"]), str(details_url or status.get("url") or ""))


def pull_request_from_event(event: Mapping[str, Any]) -> tuple[int | None, str | None]:
    """The pull request number and head commit an Actions event (``$GITHUB_EVENT_PATH``) is about.

    ``pull_request`` and ``pull_request_target`` carry both; ``workflow_run`` carries the head commit, and
    the pull request only for branches of the same repository; ``issue_comment`` carries the number.
    """
    pull = event.get("pull_request")
    if isinstance(pull, dict) and isinstance(pull.get("number"), int):
        head = pull.get("head")
        sha = head.get("sha") if isinstance(head, dict) else None
        return pull["number"], sha if isinstance(sha, str) else None
    run = event.get("workflow_run")
    if isinstance(run, dict):
        pulls = run.get("pull_requests")
        number = pulls[0].get("number") if isinstance(pulls, list) and pulls and isinstance(pulls[0], dict) else None
        sha = run.get("head_sha")
        return number if isinstance(number, int) else None, sha if isinstance(sha, str) else None
    issue = event.get("issue")
    if isinstance(issue, dict) and "pull_request" in issue and isinstance(issue.get("number"), int):
        return issue["number"], None
    return None, None


def truncate(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` characters; else its head, cut at a line, with open code fences and
    ``<details>`` closed and a note saying how much was left out."""
    if len(text) <= limit:
        return text
    room = limit
    while True:
        head = text[:room]
        newline = head.rfind("\n")
        if newline > room // 2:
            head = head[:newline]
        closers = "\n```" if len(_FENCE.findall(head)) % 2 else ""
        closers += "\n</details>" * max(len(_DETAILS_OPEN.findall(head)) - len(_DETAILS_CLOSE.findall(head)), 0)
        note = (f"\n\n> [!NOTE]\n> mlcd cut this report to fit GitHub's limit of {limit:,} characters: "
                f"{len(text) - len(head):,} characters were left out. The full report is in the job summary "
                "of the workflow run.\n")
        result = head + closers + note
        if len(result) <= limit:
            return result
        room -= len(result) - limit
        if room <= 0:  # a limit smaller than the note itself
            return text[:limit]


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def checked_repo(repo: str) -> str:
    """``repo`` when it is an OWNER/NAME a GitHub API path can carry; a UsageError otherwise."""
    if not _REPO.fullmatch(repo) or ".." in repo:
        raise UsageError(f"{repo!r} is not a repository", fix="pass --repo OWNER/NAME, e.g. --repo octo-org/app")
    return repo


def _login(comment: dict[str, object]) -> object:
    user = comment.get("user")
    return user.get("login") if isinstance(user, dict) else None
