"""``mlcd propose``: the files this run changed (a retrained dvc.lock, metrics) as a branch and a pull request."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from mlcd.actions_context import repository
from mlcd.config import load_config
from mlcd.output import get_output
from mlcd.retrain import propose


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    out = get_output()
    proposal = propose(config.root, args.remote, args.branch, args.title, Path(args.body), args.base,
                       repository(args.repo, os.environ), os.environ)
    out.set_output("branch", args.branch)
    if proposal.commit is None:
        out.info("the run changed no tracked file (same data, same model): nothing to propose")
        out.set_output("changed", "false")
        return 0
    out.success(f"pushed {', '.join(proposal.changed)} as {args.branch} ({proposal.commit[:12]})")
    out.success(f"pull request: {proposal.pull_request}")
    out.set_output("changed", "true")
    out.set_output("commit", proposal.commit)
    out.set_output("pull-request-url", proposal.pull_request or "")
    return 0
