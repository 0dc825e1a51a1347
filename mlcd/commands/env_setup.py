"""``mlcd env setup``: GitHub environments as mlcd.yaml describes them (reviewers, self-review, branches,
wait timer), created or updated through the REST API and read back. Running it again changes nothing."""

from __future__ import annotations

import argparse
import os

from mlcd.actions_context import repository
from mlcd.config import load_config
from mlcd.errors import UsageError
from mlcd.github import GitHubClient
from mlcd.github.deployments import check_reviewers, setup_environment
from mlcd.output import get_output


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    out = get_output()
    environments = config.deploy.environments
    chosen = args.environment or list(environments)
    unknown = [name for name in chosen if name not in environments]
    if unknown or not chosen:
        raise UsageError(f"no environment {', '.join(unknown)} in deploy.environments" if unknown
                         else "deploy.environments is empty", fix="declare the environments in mlcd.yaml first")
    for name in chosen:
        check_reviewers(environments[name])  # every one is checked before any is changed
    repo = repository(args.repo, os.environ)
    client = GitHubClient.from_env(os.environ)
    for name in chosen:
        with out.group(f"Environment {name}"):
            changes = setup_environment(client, repo, environments[name])
            out.success(f"{repo}: {name} {'(' + ', '.join(changes) + ')' if changes else 'already as configured'}")
    return 0
