"""Promotion on GitHub: Deployments and their statuses, who approved the job, environments' protection
rules (``mlcd env setup``) and promotion pull requests. All through mlcd's REST client."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlcd.config.model import EnvironmentConfig
from mlcd.errors import GitHubError, UsageError
from mlcd.github.client import GitHubClient

DEPLOY_PERMISSIONS = "contents: write, deployments: write, actions: read"
MAX_REVIEWERS = 6
STATUS_DESCRIPTION_LIMIT = 140
ADMIN_FIX = ("the GITHUB_TOKEN of a workflow cannot change environments: run `mlcd env setup` with a token of a "
             "repository admin (a fine-grained personal token with Administration: write, or a GitHub App's)")


class DeploymentLog:
    """One GitHub Deployment for one promotion, moved through queued → in_progress → success | failure."""

    def __init__(self, client: GitHubClient, repo: str, environment: str, *, log_url: str | None) -> None:
        self.client = client
        self.repo = repo
        self.environment = environment
        self.log_url = log_url
        self.id: int | None = None
        self.url: str | None = None

    def create(self, ref: str, payload: Mapping[str, Any], description: str, *, production: bool) -> None:
        created = self.client.post(f"/repos/{self.repo}/deployments", {
            "ref": ref, "task": "deploy", "auto_merge": False, "required_contexts": [], "payload": dict(payload),
            "environment": self.environment, "description": description[:STATUS_DESCRIPTION_LIMIT],
            "transient_environment": False, "production_environment": production,
        }, permission="deployments: write", job_permissions=DEPLOY_PERMISSIONS)
        if "id" not in created:  # 202: GitHub merged the default branch instead (auto_merge is off, so never)
            raise GitHubError(f"GitHub did not create a deployment: {created.get('message', created)}")
        self.id = int(created["id"])
        self.url = str(created.get("url") or "")
        self.status("queued", "queued by mlcd")

    def status(self, state: str, description: str, environment_url: str | None = None) -> None:
        if self.id is None:
            return
        body: dict[str, Any] = {"state": state, "description": description[:STATUS_DESCRIPTION_LIMIT],
                                "auto_inactive": False}
        if self.log_url:
            body["log_url"] = self.log_url
        if environment_url:
            body["environment_url"] = environment_url
        self.client.post(f"/repos/{self.repo}/deployments/{self.id}/statuses", body,
                         permission="deployments: write", job_permissions=DEPLOY_PERMISSIONS)

    def supersede(self, recent: int = 30) -> list[int]:
        """Mark the environment's earlier successful deployments inactive (of the ``recent`` newest ones:
        older ones were superseded by earlier promotions): only this one is live."""
        done = []
        deployments = self.client.paginate(f"/repos/{self.repo}/deployments", {"environment": self.environment},
                                           permission="deployments: read")
        for seen, deployment in enumerate(deployments):
            number = int(deployment["id"])
            if seen >= recent:
                break
            if number == self.id:
                continue
            statuses = self.client.get(f"/repos/{self.repo}/deployments/{number}/statuses", {"per_page": 1},
                                       permission="deployments: read")
            if isinstance(statuses, list) and statuses and statuses[0].get("state") == "success":
                self.client.post(f"/repos/{self.repo}/deployments/{number}/statuses",
                                 {"state": "inactive", "description": "superseded by mlcd", "auto_inactive": False},
                                 permission="deployments: write", job_permissions=DEPLOY_PERMISSIONS)
                done.append(number)
        return done


def approver(client: GitHubClient, repo: str, run_id: str, environment: str) -> str | None:
    """Who approved this run's deployment to ``environment`` (GitHub's required reviewers), if anyone did."""
    reviews = client.get(f"/repos/{repo}/actions/runs/{run_id}/approvals", permission="actions: read")
    for review in reviews if isinstance(reviews, list) else []:
        names = [e.get("name") for e in review.get("environments") or [] if isinstance(e, dict)]
        if review.get("state") == "approved" and environment in names:
            login = (review.get("user") or {}).get("login")
            return str(login) if login else None
    return None


# --- environments -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reviewer:
    type: str  # "User" | "Team"
    id: int
    name: str


def check_reviewers(environment: EnvironmentConfig) -> None:
    if len(environment.reviewers) > MAX_REVIEWERS:
        raise UsageError(f"deploy.environments.{environment.name}.reviewers lists {len(environment.reviewers)}: "
                         f"GitHub allows at most {MAX_REVIEWERS}",
                         fix="name a team (org/team-slug) instead of its members")


def resolve_reviewers(client: GitHubClient, names: Sequence[str]) -> list[Reviewer]:
    found = []
    for name in names:
        org, _, team = name.partition("/")
        if team:
            data = client.get(f"/orgs/{org}/teams/{team}", permission="members: read")
            found.append(Reviewer("Team", int(data["id"]), name))
        else:
            data = client.get(f"/users/{name}")
            found.append(Reviewer("User", int(data["id"]), name))
    return found


def environment_body(environment: EnvironmentConfig, reviewers: Sequence[Reviewer]) -> dict[str, Any]:
    return {
        "wait_timer": environment.wait_minutes,
        "prevent_self_review": environment.prevent_self_review,
        "reviewers": [{"type": r.type, "id": r.id} for r in reviewers],
        "deployment_branch_policy": ({"protected_branches": False, "custom_branch_policies": True}
                                     if environment.branches else None),
    }


def environment_differences(environment: EnvironmentConfig, reviewers: Sequence[Reviewer],
                            read_back: Mapping[str, Any], policies: Sequence[str]) -> list[str]:
    """What GitHub holds that differs from mlcd.yaml, after setup: empty when it kept everything."""
    rules = {rule.get("type"): rule for rule in read_back.get("protection_rules") or [] if isinstance(rule, dict)}
    problems = []
    wait = int((rules.get("wait_timer") or {}).get("wait_timer") or 0)
    if wait != environment.wait_minutes:
        problems.append(f"wait timer is {wait} min, not {environment.wait_minutes}")
    review = rules.get("required_reviewers") or {}
    have = sorted((str((r.get("type") or "")), int((r.get("reviewer") or {}).get("id") or 0))
                  for r in review.get("reviewers") or [])
    want = sorted((r.type, r.id) for r in reviewers)
    if have != want:
        problems.append(f"reviewers are {have or 'none'}, not {want or 'none'}")
    if reviewers and bool(review.get("prevent_self_review")) != environment.prevent_self_review:
        problems.append(f"prevent_self_review is {review.get('prevent_self_review')}")
    policy = read_back.get("deployment_branch_policy")
    if environment.branches:
        if not isinstance(policy, dict) or not policy.get("custom_branch_policies"):
            problems.append("deployments are not limited to branches")
        if sorted(policies) != sorted(environment.branches):
            problems.append(f"branch policies are {sorted(policies)}, not {sorted(environment.branches)}")
    elif policy is not None:
        problems.append("deployments are limited to some branches, but mlcd.yaml allows any")
    return problems


def setup_environment(client: GitHubClient, repo: str, environment: EnvironmentConfig) -> list[str]:
    """Create or update one environment to match mlcd.yaml, then read it back; returns what changed."""
    check_reviewers(environment)
    reviewers = resolve_reviewers(client, environment.reviewers)
    base = f"/repos/{repo}/environments/{environment.name}"
    try:
        before = client.get(base, permission="administration: read")
    except GitHubError as exc:
        if exc.status != 404:
            raise
        before = None
    changes: list[str] = []
    try:
        after = client.request("PUT", base, body=environment_body(environment, reviewers),
                               permission="administration: write").json()
        if before is None:
            changes.append("created")
        policies = _sync_branch_policies(client, base, environment.branches, changes)
    except GitHubError as exc:
        if exc.status == 403:
            raise GitHubError(f"{exc.message}", fix=ADMIN_FIX, status=403) from None
        raise
    read_back = client.get(base, permission="administration: read")
    problems = environment_differences(environment, reviewers, read_back, policies)
    if problems:
        raise GitHubError(f"environment {environment.name} on {repo} does not hold what mlcd.yaml asks after "
                          f"setup: {'; '.join(problems)}",
                          fix="check the repository's plan: required reviewers and wait timers need a public "
                              "repository or GitHub Pro/Team/Enterprise")
    if before is not None and _rules(before) != _rules(after):
        changes.append("protection rules updated")
    return changes


def _rules(environment: Mapping[str, Any]) -> list[Any]:
    return sorted((str(r.get("type")), str(r)) for r in environment.get("protection_rules") or [])


def _sync_branch_policies(client: GitHubClient, base: str, branches: Sequence[str], changes: list[str]) -> list[str]:
    if not branches:
        return []
    listed = client.get(f"{base}/deployment-branch-policies", {"per_page": 100}, permission="administration: read")
    existing = {str(p["name"]): int(p["id"]) for p in listed.get("branch_policies", [])
                if (p.get("type") or "branch") == "branch"}
    for name in branches:
        if name not in existing:
            client.post(f"{base}/deployment-branch-policies", {"name": name, "type": "branch"},
                        permission="administration: write")
            changes.append(f"branch policy {name} added")
    for name, number in existing.items():
        if name not in branches:
            client.delete(f"{base}/deployment-branch-policies/{number}", permission="administration: write")
            changes.append(f"branch policy {name} removed")
    return list(branches)


# --- promotion pull requests ------------------------------------------------------------------------


def open_pull_request(client: GitHubClient, repo: str, *, head: str, base: str, title: str, body: str) -> str:
    """Create the promotion pull request, or update the open one from the same branch; returns its URL."""
    owner = repo.split("/")[0]
    existing = client.get(f"/repos/{repo}/pulls", {"head": f"{owner}:{head}", "base": base, "state": "open"},
                          permission="pull-requests: read")
    permissions = "contents: write, pull-requests: write"
    if isinstance(existing, list) and existing:
        updated = client.patch(f"/repos/{repo}/pulls/{existing[0]['number']}", {"title": title, "body": body},
                               permission="pull-requests: write", job_permissions=permissions)
        return str(updated.get("html_url") or "")
    created = client.post(f"/repos/{repo}/pulls", {"title": title, "head": head, "base": base, "body": body},
                          permission="pull-requests: write", job_permissions=permissions)
    return str(created.get("html_url") or "")
