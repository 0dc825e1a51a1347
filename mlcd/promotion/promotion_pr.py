"""``mlcd promote --via-pr``: the promotion proposed as a pull request that writes ``deploy/<env>.yaml``;
merging it runs the promotion workflow, which promotes the digest that file names."""

from __future__ import annotations

import yaml

from mlcd import git
from mlcd.github.deployments import open_pull_request
from mlcd.promotion.context import DEPLOY_DIR, Context
from mlcd.promotion.plan import Plan
from mlcd.record import Identity


def deploy_document(plan: Plan) -> str:
    c = plan.candidate
    data = {"environment": plan.environment.name, "model": plan.model, "version": c.version, "image": c.reference,
            "digest": c.digest, "model_sha256": c.model_sha256}
    head = (f"# Written by `mlcd promote --via-pr`: merging this change promotes the image below to "
            f"{plan.environment.name}\n# (the promotion workflow runs `mlcd promote --to {plan.environment.name}`, "
            f"which reads this file).\n")
    return head + yaml.safe_dump(data, sort_keys=False)


def push_promotion_branch(ctx: Context, plan: Plan, base: str) -> str:
    """A commit on ``base`` that writes ``deploy/<env>.yaml``, pushed as ``mlcd/promote-<env>``. Uses a
    temporary index: the work tree and the checkout's index stay as they are."""
    root, remote = ctx.root, ctx.config.deploy.remote
    environment = plan.environment.name
    branch = f"mlcd/promote-{environment}"
    git.run_remote(root, remote, "fetch", "--quiet", "--no-tags", remote,
                   f"+refs/heads/{base}:refs/remotes/{remote}/{base}")
    parent = git.run(root, "rev-parse", f"refs/remotes/{remote}/{base}").stdout.strip()
    relative = f"{DEPLOY_DIR}/{environment}.yaml"
    blob = git.run(root, "hash-object", "-w", "--stdin", input_text=deploy_document(plan)).stdout.strip()
    identity = Identity.detect(root, ctx.env)
    message = f"Promote {plan.model} {plan.candidate.version} to {environment}\n\n{plan.candidate.reference}\n"
    git.push_commit(root, remote, parent=parent, branch=branch, message=message,
                    author=(identity.name, identity.email),
                    stage=lambda index: git.run(root, "update-index", "--add", "--cacheinfo",
                                                f"100644,{blob},{relative}", env=index))
    return branch


def propose(ctx: Context, plan: Plan, base: str, body: str) -> str | None:
    """The promotion branch pushed, and its pull request into ``base`` opened with ``body`` (the evidence);
    the pull request's URL, or None when there is no token to open it with (the branch is pushed)."""
    out, environment = ctx.out, plan.environment.name
    with out.group(f"Promotion branch for {environment}"):
        branch = push_promotion_branch(ctx, plan, base)
        out.info(f"  pushed {branch}: {DEPLOY_DIR}/{environment}.yaml → {plan.candidate.version}")
    if ctx.github is None or ctx.repo is None:
        out.warning(f"no GITHUB_TOKEN and GITHUB_REPOSITORY: open the pull request from {branch} by hand")
        return None
    title = f"Promote {plan.model} {plan.candidate.version} to {environment}"
    return open_pull_request(ctx.github, ctx.repo, head=branch, base=base, title=title, body=body)

