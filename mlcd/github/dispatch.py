"""Starting a workflow run through ``workflow_dispatch``: the one event a run may start with the workflow's
own ``GITHUB_TOKEN`` (events that token causes start no workflow runs, except ``workflow_dispatch`` and
``repository_dispatch``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

from mlcd.errors import GitHubError, UsageError
from mlcd.github.client import GitHubClient
from mlcd.github.publish import checked_repo

DISPATCH_PERMISSIONS = "actions: write"
MAX_INPUTS = 25
_WORKFLOW = re.compile(r"[0-9]+|[A-Za-z0-9_.-]+\.ya?ml")


@dataclass(frozen=True)
class Dispatched:
    workflow: str
    ref: str


def dispatch_workflow(client: GitHubClient, repo: str, workflow: str, ref: str,
                      inputs: Mapping[str, str] | None = None) -> Dispatched:
    """Ask GitHub to run ``workflow`` (its file name, e.g. ``mlcd-retrain.yml``, or its id) on ``ref``."""
    repo = checked_repo(repo)
    if not _WORKFLOW.fullmatch(workflow):
        raise UsageError(f"{workflow!r} is not a workflow", fix="pass the workflow's file name "
                         "(e.g. mlcd-retrain.yml, as in .github/workflows/) or its numeric id")
    if not ref:
        raise UsageError("no ref to run the workflow on", fix="pass --ref BRANCH (e.g. --ref main)")
    if len(inputs or {}) > MAX_INPUTS:
        raise UsageError(f"{len(inputs or {})} inputs: GitHub accepts at most {MAX_INPUTS}",
                         fix="pass fewer --input NAME=VALUE")
    # No return_run_details: GitHub Enterprise Server versions that predate it refuse the key.
    body: dict[str, object] = {"ref": ref}
    if inputs:
        body["inputs"] = dict(inputs)
    path = f"/repos/{repo}/actions/workflows/{quote(workflow, safe='')}/dispatches"
    try:
        client.request("POST", path, body=body, permission=DISPATCH_PERMISSIONS)
    except GitHubError as exc:
        if exc.status == 404:
            raise GitHubError(f"POST {path}: no workflow {workflow} in {repo}, or the token cannot "
                              "see it", status=404,
                              fix=f"commit .github/workflows/{workflow} to the default branch (GitHub only "
                                  "dispatches workflows it knows there), or pass --workflow with its name") from None
        if exc.status == 422:
            raise GitHubError(exc.message, status=422,
                              fix=f"give {workflow} a `workflow_dispatch:` trigger on {ref} that declares every "
                                  "--input passed") from None
        raise
    return Dispatched(workflow, ref)
