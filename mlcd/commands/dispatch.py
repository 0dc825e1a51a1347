"""``mlcd dispatch``: start a workflow run (``workflow_dispatch``), e.g. retraining after drift."""

from __future__ import annotations

import argparse
import os

from mlcd.actions_context import repository
from mlcd.errors import UsageError
from mlcd.github import GitHubClient
from mlcd.github.dispatch import dispatch_workflow
from mlcd.output import get_output


def run(args: argparse.Namespace) -> int:
    env = os.environ
    out = get_output()
    repo = repository(args.repo, env)
    ref: str = args.ref or env.get("GITHUB_REF_NAME") or ""
    inputs = parse_inputs(args.input or [])
    dispatched = dispatch_workflow(GitHubClient.from_env(env), repo, args.workflow, ref, inputs)
    out.success(f"asked GitHub to run {dispatched.workflow} on {dispatched.ref} in {repo}")
    return 0


def parse_inputs(pairs: list[str]) -> dict[str, str]:
    inputs: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--input {pair!r} is not NAME=VALUE", fix="pass --input reason=drift")
        inputs[name.strip()] = value
    return inputs
