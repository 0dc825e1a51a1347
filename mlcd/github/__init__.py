"""GitHub's side of mlcd's pull-request report: a REST client and the publishers that use it."""

from mlcd.github.client import DEFAULT_API_URL, GitHubClient, RetryPolicy
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
    "SUMMARY_LIMIT",
    "Check",
    "Comment",
    "Conclusion",
    "GitHubClient",
    "RetryPolicy",
    "create_check_run",
    "pull_request_from_event",
    "truncate",
    "upsert_sticky_comment",
]
