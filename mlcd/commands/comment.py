"""``mlcd comment``: put the report on the pull request (sticky comment + check run), or in a file."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlcd.actions_context import run_url
from mlcd.errors import InputError, UsageError
from mlcd.github import GitHubClient, create_check_run, pull_request_from_event, upsert_sticky_comment
from mlcd.github.publish import read_body
from mlcd.output import get_output


def run(args: argparse.Namespace) -> int:
    env = os.environ
    out = get_output()
    body = read_body(Path(args.body), fix="pass --body the Markdown report to publish")
    event_pr, event_sha = pull_request_from_event(_event(env))
    repo: str | None = args.repo or env.get("GITHUB_REPOSITORY") or None
    pr: int | None = args.pr if args.pr is not None else event_pr
    sha: str | None = args.sha or event_sha or env.get("GITHUB_SHA") or None
    token = env.get("GITHUB_TOKEN")

    reason = None
    if not token:
        reason = "GITHUB_TOKEN is not set"
    elif not repo:
        reason = "no repository (not on GitHub Actions, and no --repo)"
    elif pr is None:
        reason = "no pull request (this event is not about one, and no --pr)"
    if reason is not None:
        path = Path(args.out)
        path.write_text(body, encoding="utf-8")
        out.info(f"{reason}: wrote the comment to {path}")
        out.set_output("comment-file", str(path))
        if args.conclusion and not (token and repo):
            out.info(f"{reason}: no check run either")
    client = GitHubClient.from_env(env) if token and repo else None
    if client is not None and repo is not None and pr is not None:
        comment = upsert_sticky_comment(client, repo, pr, body)
        out.success(f"{'posted' if comment.created else 'updated'} the report on {repo}#{pr}: {comment.url}")
        out.set_output("comment-url", comment.url)
    if client is not None and repo is not None and args.conclusion:
        if not sha:
            raise UsageError("--conclusion needs the commit to put the check on", fix="pass --sha SHA")
        passed = args.conclusion == "success"
        check = create_check_run(
            client, repo, sha,
            conclusion=args.conclusion,
            title=args.title or ("Gates passed" if passed else "Gates failed"),
            summary=body,
            details_url=run_url(env),
        )
        out.success(f"{check.kind} on {sha[:12]} ({args.conclusion}): {check.url}")
        out.set_output("check-url", check.url)
    return 0


def _event(env: Mapping[str, str]) -> Mapping[str, Any]:
    name = env.get("GITHUB_EVENT_PATH")
    if not name:
        return {}
    try:
        event = json.loads(Path(name).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the Actions event {name}: {exc}",
                         fix="pass --pr, --repo and --sha, or unset GITHUB_EVENT_PATH") from None
    return event if isinstance(event, dict) else {}


