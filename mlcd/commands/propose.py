"""``mlcd propose``: the files this run changed (a retrained dvc.lock, metrics) as a branch and a pull request."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from mlcd.actions_context import repository
from mlcd.config import load_config
from mlcd.errors import UsageError
from mlcd.github import GitHubClient
from mlcd.github.publish import read_body
from mlcd.output import get_output
from mlcd.promotion.github import open_pull_request
from mlcd.retrain import push_proposal


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    env = os.environ
    out = get_output()
    repo = repository(args.repo, env)
    base: str = args.base or env.get("GITHUB_REF_NAME") or ""
    if not base:
        raise UsageError("no base branch (not on GitHub Actions, and no --base)",
                         fix="pass --base BRANCH")
    body = read_body(Path(args.body), fix="pass --body the Markdown report to propose")
    client = GitHubClient.from_env(env)  # before pushing: a missing token fails first
    proposal = push_proposal(config.root, args.remote, args.branch, f"{args.title}\n", env)
    out.set_output("branch", args.branch)
    if proposal.commit is None:
        out.info("the run changed no tracked file (same data, same model): nothing to propose")
        out.set_output("changed", "false")
        return 0
    out.success(f"pushed {', '.join(proposal.changed)} as {args.branch} ({proposal.commit[:12]})")
    url = open_pull_request(client, repo, head=args.branch, base=base, title=args.title, body=body)
    out.success(f"pull request: {url}")
    out.set_output("changed", "true")
    out.set_output("commit", proposal.commit)
    out.set_output("pull-request-url", url)
    return 0
