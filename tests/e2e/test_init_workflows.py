"""Adopting mlcd in a brand-new repository, for real: a repository holding only a CSV and a training
script runs `mlcd init` of a released mlcd (the wheel scripts/release built) as the README says, follows
exactly the next steps it prints (no generated file is edited), then, as a user would, edits a caller,
and later `mlcd upgrade`s to the next release: the pin moves, the edit stays. The pull-request workflow
(comment and passing `mlcd / gates` check on the GitHub stand-in; the opt-in CML cloud runner skipped) and
the push-to-main workflow (the image in the local registry, by digest) then pass under act, through the
reusable workflows at exactly the upgraded release's SHA."""

from __future__ import annotations

import re
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from testing import webhooks
from testing.act import Act, ActRun
from testing.fresh import make_fresh_repo
from testing.github_standin import GitHubStandin
from testing.images import BASE_IMAGE, REGISTRY, WHEELHOUSE, start_services
from testing.release import ReleasedMlcd
from testing.repos import git, mlcd, tool_env

pytestmark = pytest.mark.e2e

REPO = "octo-org/fresh-penguins"
PR = 3
MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
])

# The steps `mlcd init --train` may print for this repository, and what the user does for each here.
FOLLOWED = ("check the config:", "review and commit:")
NOT_HERE = ("in the repository's Settings → Environments",  # GitHub settings: nothing for act
            "optional repository variables", "on a self-hosted runner", "optional: `mlcd train` here",
            "open a pull request")  # the test does that below


def next_steps(output: str) -> list[str]:
    return [match.group(1) for match in re.finditer(r"^\s+\d+\. (.+)$", output, re.MULTILINE)]


def follow(repo: Path, step: str) -> None:
    if step.startswith("check the config:"):
        result = mlcd(repo, "config", "validate")
        assert result.returncode == 0, result.stderr
    elif step.startswith("review and commit:"):
        command = step.removeprefix("review and commit:").strip()
        env = tool_env(GIT_AUTHOR_NAME="user", GIT_AUTHOR_EMAIL="user@localhost", GIT_COMMITTER_NAME="user",
                       GIT_COMMITTER_EMAIL="user@localhost")
        subprocess.run(["bash", "-c", command], cwd=repo, env=env, check=True, capture_output=True)


USERS_EDIT = ("      statuses: write # a commit status where check runs are not allowed\n",
              "      statuses: write # a commit status where check runs are not allowed\n"
              "    with:\n      train-timeout-minutes: \"30\" # our own edit\n"
              "      train-runs-on: '[\"self-hosted\", \"linux\", \"gpu\"]' # our GPU runner\n")
# The GPU runner's labels, mapped to this machine (act -P): training runs where the caller's input says.
GPU_PLATFORMS = dict.fromkeys(["self-hosted", "linux", "gpu"], "-self-hosted")


@pytest.fixture(scope="module")
def fresh_repo(act: Act, penguins_csv: Path, users_mlcd: Path, released_mlcd: ReleasedMlcd,
               tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = act.repositories / REPO
    if repo.exists():
        shutil.rmtree(repo)
    make_fresh_repo(repo, penguins_csv)
    git(repo, "remote", "add", "origin", f"https://github.com/{REPO}.git")

    first = released_mlcd.latest
    result = subprocess.run([str(users_mlcd), "init", "--data", "data.csv", "--label", "species", "--train",
                             "train.py"], cwd=repo, capture_output=True, text=True, env=tool_env(), timeout=600)
    assert result.returncode == 0, result.stderr
    steps = next_steps(result.stderr)
    unexpected = [step for step in steps if not step.startswith(FOLLOWED + NOT_HERE)]
    assert unexpected == [], f"init asks for more than this repository needs: {unexpected}"
    assert [step.split(":")[0] for step in steps if step.startswith(FOLLOWED)] == ["check the config",
                                                                                   "review and commit"]
    for step in steps:
        follow(repo, step)
    assert git(repo, "status", "--porcelain") == "", "the commit step must leave nothing of init's uncommitted"
    caller = repo / ".github" / "workflows" / "mlcd-pr.yml"
    assert f"pr.yml@{first.commit} # v{first.version}\n" in caller.read_text()

    # the user's own edit, then the next release of mlcd, installed, and `mlcd upgrade`
    caller.write_text(caller.read_text().replace(*USERS_EDIT))
    git(repo, "commit", "-qam", "Training may take 30 minutes")
    edited = caller.read_text()
    released_mlcd.change("A change after the first release, for mlcd upgrade to show")
    second = released_mlcd.release()
    upgraded_mlcd = released_mlcd.install(second.version, tmp_path_factory.mktemp("upgraded-mlcd") / "venv")
    upgrade = subprocess.run([str(upgraded_mlcd), "upgrade"], cwd=repo, capture_output=True, text=True,
                             env=tool_env(), timeout=120)
    assert upgrade.returncode == 0, upgrade.stderr
    assert caller.read_text() == edited.replace(f"@{first.commit} # v{first.version}",
                                                f"@{second.commit} # v{second.version}")
    assert f"## {second.version} — " in upgrade.stderr
    assert "A change after the first release, for mlcd upgrade to show" in upgrade.stderr
    assert f"## {first.version} — " not in upgrade.stderr
    git(repo, "commit", "-qam", f"mlcd upgrade to {second.version}")
    return repo


def report_times(name: str, run: ActRun) -> None:
    """Wall time, and the seconds of mlcd's own steps split into overhead (setting up) and training."""
    steps = run.step_seconds()
    setup = sum(s for key, s in steps.items() if re.search(r": (mlcd-dev/mlcd/actions/setup|actions/setup-python|"
                                                             r"actions/checkout)@", key))
    train = sum(s for key, s in steps.items() if "mlcd-dev/mlcd/actions/train@" in key)
    mlcd_steps = sum(s for key, s in steps.items() if re.search(r": mlcd-dev/mlcd/actions/(?!setup@|train@)", key))
    print(f"act {name}: exit {run.returncode} in {run.seconds:.1f}s (log {run.log}); setup (checkout, Python, "
          f"mlcd setup) {setup:.1f}s, training (mlcd train: dvc repro) {train:.1f}s, other mlcd steps "
          f"{mlcd_steps:.1f}s")
    for step, seconds in sorted(steps.items(), key=lambda item: -item[1])[:15]:
        print(f"  {seconds:7.1f}s  {step}")


def test_pull_request_of_a_fresh_repository(act: Act, fresh_repo: Path, github_standin: GitHubStandin) -> None:
    base_sha = git(fresh_repo, "rev-parse", "main").strip()
    git(fresh_repo, "checkout", "-qb", "stronger-regularisation")
    train = fresh_repo / "train.py"
    train.write_text(train.read_text().replace("max_iter=1000", "max_iter=1000, C=0.5"))
    git(fresh_repo, "commit", "-qam", "train.py: C=0.5")
    head_sha = git(fresh_repo, "rev-parse", "HEAD").strip()
    try:
        github_standin.add_pull_request(REPO, PR, head_sha)
        event = webhooks.pull_request(REPO, PR, head_ref="stronger-regularisation", head_sha=head_sha,
                                      base_ref="main", base_sha=base_sha)
        run = act.run("pull_request", event, fresh_repo, fresh_repo / ".github" / "workflows" / "mlcd-pr.yml",
                      env={"GITHUB_API_URL": github_standin.url}, secrets={"GITHUB_TOKEN": github_standin.token},
                      platforms=GPU_PLATFORMS)
    finally:
        git(fresh_repo, "checkout", "-q", "main")
    report_times("pull_request (fresh repository)", run)
    assert run.returncode == 0, run.output[-8000:]

    [comment] = github_standin.repositories[REPO].issue_comments(PR)
    assert comment.body.startswith("<!-- mlcd:report -->\n")
    assert "## ✅ mlcd:" in comment.body
    assert "| accuracy ↑ |" in comment.body
    [check] = github_standin.repositories[REPO].check_runs
    assert (check["name"], check["conclusion"], check["head_sha"]) == ("mlcd / gates", "success", head_sha)
    # no requirements-dev.txt: the training-code job says what to add instead of failing
    code = "\n".join(run.job_lines("training code (ruff, pytest)"))
    assert "training code not checked" in code and "Job succeeded" in code
    # the opt-in CML cloud runner is skipped without vars.MLCD_CML_CLOUD (its stand-in fails if run)
    assert run.job_lines("cloud runner (CML)") == []
    assert "setup-cml ran under act" not in run.output


@pytest.mark.docker
def test_push_to_main_of_a_fresh_repository(act: Act, fresh_repo: Path) -> None:
    problem = start_services()
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    before = git(fresh_repo, "rev-parse", "main~1").strip()
    after = git(fresh_repo, "rev-parse", "main").strip()
    event = webhooks.push(REPO, ref="refs/heads/main", before=before, after=after)
    run = act.run("push", event, fresh_repo, fresh_repo / ".github" / "workflows" / "mlcd-deliver.yml",
                  secrets={"GITHUB_TOKEN": "act-token"},
                  variables={"MLCD_REGISTRY": REGISTRY, "MLCD_IMAGE": REPO, "MLCD_BASE_IMAGE": BASE_IMAGE,
                             "MLCD_WHEELHOUSE": str(act.mlcd.wheelhouse(WHEELHOUSE))})
    report_times("push (fresh repository)", run)
    assert run.returncode == 0, run.output[-8000:]

    digests = set(re.findall(r"::set-output:: digest=(sha256:[0-9a-f]{64})", run.output))
    assert len(digests) == 1, digests
    [digest] = digests
    request = urllib.request.Request(f"http://{REGISTRY}/v2/{REPO}/manifests/{digest}", method="HEAD",
                                     headers={"Accept": MANIFEST_TYPES})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Docker-Content-Digest"] == digest


def test_drift_and_retraining_of_a_fresh_repository(act: Act, fresh_repo: Path, github_standin: GitHubStandin) -> None:
    """The daily drift run of a repository that logs no predictions yet is a notice, not a failure (no issue);
    a new data version, retrained on dispatch, becomes a pull request whose body is the report."""
    github_standin.add_repository(REPO)
    github_standin.add_workflow(REPO, "mlcd-retrain.yml", ["reason"])
    github_standin.permissions["actions"] = "write"
    settings = {"env": {"GITHUB_API_URL": github_standin.url}, "secrets": {"GITHUB_TOKEN": github_standin.token}}
    workflows = fresh_repo / ".github" / "workflows"

    drift = act.run("schedule", {"schedule": "23 5 * * *"}, fresh_repo, workflows / "mlcd-drift.yml", **settings)
    report_times("schedule (drift, fresh repository)", drift)
    assert drift.returncode == 0, drift.output[-8000:]
    assert "mlcd drift%3A not configured" in drift.output
    assert run_jobs(drift) == ["measure drift"]  # the alert job is skipped
    assert github_standin.repositories[REPO].issues == {} and github_standin.repositories[REPO].dispatches == []

    data = fresh_repo / "data.csv"
    rows = data.read_text().splitlines(keepends=True)
    data.write_text("".join(rows[:-40]))  # a new data version: the newest 40 penguins withdrawn
    git(fresh_repo, "commit", "-qam", "New data version")
    main = git(fresh_repo, "rev-parse", "HEAD").strip()
    event = webhooks.workflow_dispatch(REPO, workflow=".github/workflows/mlcd-retrain.yml",
                                       inputs={"reason": "new penguins"})
    retrain = act.run("workflow_dispatch", event, fresh_repo, workflows / "mlcd-retrain.yml", **settings)
    report_times("workflow_dispatch (retrain, fresh repository)", retrain)
    assert retrain.returncode == 0, retrain.output[-8000:]
    [pull] = github_standin.repositories[REPO].pulls.values()
    assert (pull["head"], pull["base"], pull["state"]) == ("mlcd/retrain", "main", "open")
    assert pull["body"].startswith("> Retrained by mlcd: new penguins\n") and "| accuracy ↑ |" in pull["body"]
    branch = git(fresh_repo, "rev-parse", "refs/heads/mlcd/retrain").strip()
    assert git(fresh_repo, "rev-parse", f"{branch}^").strip() == main
    assert "dvc.lock" in git(fresh_repo, "diff", "--name-only", main, branch).split()


def run_jobs(run: ActRun) -> list[str]:
    """The jobs that ran, in the order they started."""
    started = re.findall(r"^\[[^\]]*/([^/\]]+?)\s*\] ⭐ Run Set up job$", run.output, re.MULTILINE)
    return list(dict.fromkeys(started))


@pytest.mark.parametrize(("change", "headline", "reason"), [
    ("rename-column", "## ❌ mlcd: the data tests failed, so fresh-penguins was not trained",
     "column 'bill_length_mm' is missing"),
    ("break-training", "## ❌ mlcd: training failed", "**training** of fresh-penguins failed; its log is in the "
                                                      "[workflow run]"),
])
def test_a_pull_request_that_cannot_train_gets_a_report_and_a_failing_check(
        act: Act, fresh_repo: Path, github_standin: GitHubStandin, change: str, headline: str, reason: str) -> None:
    """Bad data stops the run before training; a training that fails is reported: both as the comment and a
    failing `mlcd / gates` check that say what and where, never a run that posts nothing."""
    base_sha = git(fresh_repo, "rev-parse", "main").strip()
    git(fresh_repo, "checkout", "-qb", change)
    if change == "rename-column":
        data = fresh_repo / "data.csv"
        data.write_text(data.read_text().replace("bill_length_mm", "bill_length", 1))
    else:
        train = fresh_repo / "train.py"
        train.write_text(train.read_text() + "\nraise RuntimeError('the new feature code is broken')\n")
    git(fresh_repo, "commit", "-qam", change)
    head_sha = git(fresh_repo, "rev-parse", "HEAD").strip()
    try:
        github_standin.add_pull_request(REPO, PR, head_sha)
        event = webhooks.pull_request(REPO, PR, head_ref=change, head_sha=head_sha, base_ref="main",
                                      base_sha=base_sha)
        run = act.run("pull_request", event, fresh_repo, fresh_repo / ".github" / "workflows" / "mlcd-pr.yml",
                      env={"GITHUB_API_URL": github_standin.url}, secrets={"GITHUB_TOKEN": github_standin.token},
                      platforms=GPU_PLATFORMS)
    finally:
        git(fresh_repo, "checkout", "-q", "main")
    report_times(f"pull_request ({change})", run)
    assert run.returncode != 0, "a run that could not train must fail"
    [comment] = github_standin.repositories[REPO].issue_comments(PR)
    assert comment.body.split("\n", 1)[1].startswith(headline + "\n"), comment.body[:600]
    assert reason in comment.body
    [check] = github_standin.repositories[REPO].check_runs
    assert (check["name"], check["conclusion"], check["head_sha"]) == ("mlcd / gates", "failure", head_sha)
    assert reason in check["output"]["summary"]
    trained = "⭐ Run Main mlcd-dev/mlcd/actions/train@" in "\n".join(run.job_lines("train"))
    assert trained is (change == "break-training")  # bad data never reaches training
