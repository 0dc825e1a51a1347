"""GitHub's side of mlcd: a REST client, the pull-request report's publishers, the drift issue and
workflow dispatches."""

from mlcd.github.client import DEFAULT_API_URL, GitHubClient, RetryPolicy
from mlcd.github.dispatch import Dispatched, dispatch_workflow
from mlcd.github.issues import DRIFT_LABEL, DRIFT_MARKER, AlertIssue, clear_alert, raise_alert
from mlcd.github.publish import (
    CHECK_NAME,
    DEFAULT_MARKER,
    SUMMARY_LIMIT,
    Check,
    Comment,
    Conclusion,
    create_check_run,
    pull_request_from_event,
    truncate,
    upsert_sticky_comment,
)
from mlcd.report.fit import COMMENT_LIMIT

__all__ = [
    "CHECK_NAME",
    "COMMENT_LIMIT",
    "DEFAULT_API_URL",
    "DEFAULT_MARKER",
    "DRIFT_LABEL",
    "DRIFT_MARKER",
    "SUMMARY_LIMIT",
    "AlertIssue",
    "Check",
    "Comment",
    "Conclusion",
    "Dispatched",
    "GitHubClient",
    "RetryPolicy",
    "clear_alert",
    "create_check_run",
    "dispatch_workflow",
    "pull_request_from_event",
    "raise_alert",
    "truncate",
    "upsert_sticky_comment",
]
