"""The issue's scenarios, end to end: `mlcd promote`, `mlcd rollback` and `mlcd status` as a workflow runs
them, with the docker target on the real engine, images in the local registry (scripts/services),
promotion tags pushed to a bare remote and read back with the `gto` CLI, and GitHub Deployments
recorded in the OpenAPI-validated stand-in. Every outcome is checked on the live endpoints.

The images are small stub servers labelled as `mlcd package` labels (model name, sha256, metrics, the
commit they were built from): what promotion reads. Each test gets its own copy of one seed repository,
so the commits the images name exist in every copy.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlcd.record import History
from testing.images import docker_client, start_services, unique
from testing.promotion import (
    MODEL,
    RegistryProxy,
    build_stub_image,
    free_port,
    gto,
    make_project,
    project_config,
    remove_containers,
    serving_version,
    set_deploy,
)
from testing.repos import git, mlcd, tool_env

pytestmark = [pytest.mark.integration, pytest.mark.docker]

REPO = "acme/penguins"
RUN_ID = 4242
GOOD = {"accuracy": 0.95, "log_loss": 0.2}


@dataclass(frozen=True)
class Image:
    name: str
    digest: str
    model: bytes  # the model file it serves
    revision: str

    @property
    def sha(self) -> str:
        return hashlib.sha256(self.model).hexdigest()

    @property
    def version(self) -> str:  # what the endpoint reports
        return self.sha[:12]


@dataclass
class Seed:
    origin: Path  # a bare repository holding the commits the images were built from
    repository: str
    images: dict[str, Image]
    client: Any


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seed]:
    problem = start_services()
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    client = docker_client()
    root = tmp_path_factory.mktemp("seed")
    project = make_project(root, "version: 1\n")
    repository = f"mlcd-tests/{unique('promote')}"
    specs = {  # name: (metrics, never ready, label sha differs from the model)
        "v1": (GOOD, False, False),
        "v2": ({"accuracy": 0.96, "log_loss": 0.18}, False, False),
        "never-ready": ({"accuracy": 0.97, "log_loss": 0.15}, True, False),
        "regressed": ({"accuracy": 0.91, "log_loss": 0.3}, False, False),
        "below-minimum": ({"accuracy": 0.85, "log_loss": 0.3}, False, False),
        "mislabelled": (GOOD, False, True),
    }
    images = {}
    for name, (metrics, never_ready, mislabelled) in specs.items():
        git(project, "commit", "-q", "--allow-empty", "-m", f"train {name}")
        revision = git(project, "rev-parse", "HEAD").strip()
        model = f"model {name}".encode()
        label_sha = hashlib.sha256(b"some other model" if mislabelled else model).hexdigest()
        digest = build_stub_image(client, repository, model=MODEL, sha256=label_sha, metrics=metrics,
                                  revision=revision, never_ready=never_ready)
        images[name] = Image(name, digest, model, revision)
    git(project, "push", "-q", "origin", "main")
    yield Seed(root / "origin.git", repository, images, client)
    client.close()


@dataclass
class Project:
    path: Path
    origin: Path
    ports: dict[str, int]
    containers: dict[str, str]
    env: dict[str, str]

    def url(self, environment: str) -> str:
        return f"http://127.0.0.1:{self.ports[environment]}"

    def serving(self, environment: str) -> str | None:
        return serving_version(self.url(environment), MODEL)

    def train(self, image: Image) -> None:
        """The model file in the work tree, as `mlcd train` leaves it before the image is promoted."""
        (self.path / "models").mkdir(exist_ok=True)
        (self.path / "models" / "model.skops").write_bytes(image.model)

    def mlcd(self, *args: str) -> subprocess.CompletedProcess[str]:
        return mlcd(self.path, *args, **self.env)

    def history(self) -> History:
        return History.read(self.path, MODEL)


def _environments(ports: dict[str, int], containers: dict[str, str]) -> str:
    return "\n".join(
        f"    {name}: {{target: docker, url: \"http://127.0.0.1:{port}\", "
        f"docker: {{container: {containers[name]}, ready_timeout: 8}}}}"
        for name, port in ports.items())


def _project(tmp_path: Path, seed: Seed, registry: str = "127.0.0.1:5000", **env: str) -> Iterator[Project]:
    origin = tmp_path / "origin.git"
    shutil.copytree(seed.origin, origin)
    path = tmp_path / "project"
    git(tmp_path, "clone", "-q", str(origin), str(path))
    ports = {"staging": free_port(), "production": free_port()}
    containers = {name: unique(f"mlcd-test-{name}") for name in ports}
    config = project_config(f"{registry}/{seed.repository}", _environments(ports, containers))
    (path / "mlcd.yaml").write_text(config)
    (path / ".gitignore").write_text("models/\n*.md\n")
    git(path, "add", "mlcd.yaml", ".gitignore")
    git(path, "commit", "-qm", "deploy: staging and production")
    git(path, "push", "-q", "origin", "main")
    project = Project(path, origin, ports, containers, dict(env))
    try:
        yield project
    finally:
        for name in containers.values():
            remove_containers(seed.client, name)


@pytest.fixture
def project(tmp_path: Path, seed: Seed) -> Iterator[Project]:
    yield from _project(tmp_path, seed)


@pytest.fixture
def on_github(tmp_path: Path, seed: Seed, github_standin: Any) -> Iterator[Project]:
    """A project promoted from a workflow run: GitHub Deployments go to the stand-in."""
    github_standin.add_repository(REPO)
    github_standin.permissions.update({"deployments": "write", "actions": "read", "contents": "write"})
    yield from _project(tmp_path, seed, GITHUB_TOKEN=github_standin.token, GITHUB_API_URL=github_standin.url,
                        GITHUB_REPOSITORY=REPO, GITHUB_RUN_ID=str(RUN_ID), GITHUB_ACTOR="release-bot",
                        GITHUB_SERVER_URL="https://github.com")


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stderr


def _refused(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, result.stderr
    return result.stderr


def _to_staging(project: Project, image: Image, version: str) -> None:
    project.train(image)
    _ok(project.mlcd("promote", image.digest, "--to", "staging", "--register-as", version))


# --- the story ---------------------------------------------------------------------------------------------


def test_v1_to_staging_and_production_then_v2_then_back_to_v1(on_github: Project, seed: Seed,
                                                               github_standin: Any) -> None:
    project, v1, v2 = on_github, seed.images["v1"], seed.images["v2"]
    github_standin.approve_run(REPO, RUN_ID, "production", "octocat")

    _to_staging(project, v1, "v1.0.0")
    assert project.serving("staging") == v1.version
    _ok(project.mlcd("promote", "v1.0.0", "--to", "production"))
    assert project.serving("production") == v1.version

    _to_staging(project, v2, "v2.0.0")
    _ok(project.mlcd("promote", "v2.0.0", "--to", "production"))
    assert (project.serving("staging"), project.serving("production")) == (v2.version, v2.version)
    assert gto(project.path, "show")[MODEL]["stage"] == {"staging": "v2.0.0", "production": "v2.0.0"}

    _ok(project.mlcd("rollback", "production"))
    assert project.serving("production") == v1.version
    assert project.serving("staging") == v2.version
    assert gto(project.path, "show")[MODEL]["stage"] == {"staging": "v2.0.0", "production": "v1.0.0"}

    events = [(e["event"], e["version"], e["stage"]) for e in reversed(gto(project.path, "history", MODEL))]
    assert events == [
        ("registration", "v1.0.0", None), ("assignment", "v1.0.0", "staging"),
        ("assignment", "v1.0.0", "production"),
        ("registration", "v2.0.0", None), ("unassignment", "v1.0.0", "staging"), ("assignment", "v2.0.0", "staging"),
        ("unassignment", "v1.0.0", "production"), ("assignment", "v2.0.0", "production"),
        ("unassignment", "v2.0.0", "production"), ("assignment", "v1.0.0", "production"),
    ]
    # the record is on the remote, with its evidence
    remote = History.read(project.origin, MODEL)
    current = remote.current("production")
    assert current is not None and current.kind == "rollback" and remote.digest_of(current) == v1.digest
    assert current.data["approver"] == "octocat" and current.data["actor"] == "release-bot"
    assert current.run_url == f"https://github.com/{REPO}/actions/runs/{RUN_ID}"
    assert current.data["previous"] == {"version": "v2.0.0", "digest": v2.digest}
    registered = remote.version("v2.0.0")
    assert registered is not None and registered.commit == v2.revision and registered.model_sha256 == v2.sha
    assert registered.metrics == {"accuracy": 0.96, "log_loss": 0.18}

    status = project.mlcd("status", "--last", "3")
    assert status.returncode == 0, status.stderr
    assert f"production: v1.0.0  {v1.digest}" in status.stdout
    assert "by octocat" in status.stdout
    assert status.stdout.count("rollback") == 1

    deployments = github_standin.repositories[REPO].deployments
    states = {d["environment"]: [] for d in deployments.values()}
    for number, deployment in sorted(deployments.items()):
        states[deployment["environment"]].append(
            [s["state"] for s in github_standin.repositories[REPO].deployment_statuses[number]])
    assert states["production"] == [["queued", "in_progress", "success", "inactive"],
                                    ["queued", "in_progress", "success", "inactive"],
                                    ["queued", "in_progress", "success"]]
    assert states["staging"][-1] == ["queued", "in_progress", "success"]


def test_running_the_same_promotion_again_changes_nothing(project: Project, seed: Seed) -> None:
    v1 = seed.images["v1"]
    _to_staging(project, v1, "v1.0.0")
    tags = git(project.path, "tag", "--list")
    again = _ok(project.mlcd("promote", v1.digest, "--to", "staging"))
    assert "nothing to do" in again
    assert git(project.path, "tag", "--list") == tags
    assert project.serving("staging") == v1.version


def test_production_only_after_staging(project: Project, seed: Seed) -> None:
    v1 = seed.images["v1"]
    project.train(v1)
    said = _refused(project.mlcd("promote", v1.digest, "--to", "production"), 3)
    assert "has not run in staging" in said and "promote it to staging first" in said
    assert project.serving("production") is None
    assert project.history().events == ()


# --- faults ------------------------------------------------------------------------------------------------


def test_a_new_version_that_never_gets_ready_leaves_the_previous_serving(on_github: Project, seed: Seed,
                                                                        github_standin: Any) -> None:
    project, v1, broken = on_github, seed.images["v1"], seed.images["never-ready"]
    _to_staging(project, v1, "v1.0.0")
    tags = git(project.path, "tag", "--list")
    project.train(broken)
    said = _refused(project.mlcd("promote", broken.digest, "--to", "staging"), 9)
    assert "did not become ready" in said and "v1.0.0 still serves" in said
    assert project.serving("staging") == v1.version
    assert git(project.path, "tag", "--list") == tags  # nothing recorded as running
    repository = github_standin.repositories[REPO]
    last = max(repository.deployments)
    assert [s["state"] for s in repository.deployment_statuses[last]] == ["queued", "in_progress", "failure"]
    assert "deploy failed" in repository.deployment_statuses[last][-1]["description"]
    first = min(repository.deployments)
    assert repository.deployment_statuses[first][-1]["state"] == "success"  # the old deployment is still live


def test_a_registry_gone_during_the_retag_leaves_production_unchanged(tmp_path: Path, seed: Seed) -> None:
    proxy = RegistryProxy()
    try:
        project = next(_project(tmp_path, seed, registry=proxy.address))
        v1, v2 = seed.images["v1"], seed.images["v2"]
        _to_staging(project, v1, "v1.0.0")
        _ok(project.mlcd("promote", "v1.0.0", "--to", "production"))
        _to_staging(project, v2, "v2.0.0")
        tags = git(project.path, "tag", "--list")

        proxy.refuse_writes = True
        said = _refused(project.mlcd("promote", "v2.0.0", "--to", "production"), 8)
        assert "cannot reach the registry" in said
        assert proxy.refused and proxy.refused[0].startswith("PUT ")
        assert project.serving("production") == v1.version
        assert git(project.path, "tag", "--list") == tags
        current = project.history().current("production")
        assert current is not None and current.version == "v1.0.0"
    finally:
        for name in project.containers.values():
            remove_containers(seed.client, name)
        proxy.stop()


def test_a_record_the_remote_refuses_puts_the_previous_version_back(project: Project, seed: Seed) -> None:
    """The deployment succeeded, but the promotion cannot be recorded: what is not recorded must not run."""
    v1, v2 = seed.images["v1"], seed.images["v2"]
    _to_staging(project, v1, "v1.0.0")
    tags = git(project.path, "tag", "--list")
    hook = project.origin / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\nwhile read old new ref; do case $ref in refs/tags/*) "
                    "echo 'tags are frozen' >&2; exit 1;; esac; done\n")
    hook.chmod(0o755)
    project.train(v2)
    said = _refused(project.mlcd("promote", v2.digest, "--to", "staging"), 9)
    assert "refused the promotion tags" in said and "v1.0.0 was restored" in said
    assert project.serving("staging") == v1.version
    assert git(project.path, "tag", "--list") == tags  # the unpushed tags are gone too
    assert not git(project.origin, "for-each-ref", "refs/mlcd/locks").strip()  # and the lock released


def test_a_regression_against_what_runs_is_refused_with_the_reasons(project: Project, seed: Seed) -> None:
    _to_staging(project, seed.images["v2"], "v2.0.0")
    regressed = seed.images["regressed"]
    project.train(regressed)
    said = _refused(project.mlcd("promote", regressed.digest, "--to", "staging"), 3)
    assert "accuracy vs staging (max regression 0.02): accuracy is 0.91 vs 0.96 in staging: worse by 0.05" in said
    assert project.serving("staging") == seed.images["v2"].version

    below = seed.images["below-minimum"]
    project.train(below)
    said = _refused(project.mlcd("promote", below.digest, "--to", "staging"), 3)
    assert "accuracy ≥ 0.9: accuracy is 0.85, below the minimum 0.9" in said


def test_an_image_whose_labels_do_not_match_the_model_is_refused(project: Project, seed: Seed) -> None:
    mislabelled = seed.images["mislabelled"]
    project.train(mislabelled)
    said = _refused(project.mlcd("promote", mislabelled.digest, "--to", "staging"), 3)
    assert f"but models/model.skops here says {mislabelled.sha[:12]}" in said
    assert project.serving("staging") is None


def test_a_digest_the_registry_does_not_hold_is_refused(project: Project) -> None:
    said = _refused(project.mlcd("promote", "sha256:" + "0" * 64, "--to", "staging"), 3)
    assert "no image 127.0.0.1:5000/" in said and "push it first" in said
    assert project.history().events == ()


def test_two_promotions_to_one_environment_never_run_at_once(project: Project, seed: Seed, tmp_path: Path) -> None:
    """Two runners, each with its own clone, promote to staging at the same moment: one deploys, the
    other is told another promotion is running (exit 10), and nothing is half done."""
    v1 = seed.images["v1"]
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(project.origin), str(other))
    for clone in (project.path, other):
        (clone / "models").mkdir(exist_ok=True)
        (clone / "models" / "model.skops").write_bytes(v1.model)
    command = [sys.executable, "-m", "mlcd", "promote", v1.digest, "--to", "staging", "--register-as", "v1.0.0"]
    runs = [subprocess.Popen(command, cwd=clone, env=tool_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for clone in (project.path, other)]
    results = [(run.wait(timeout=300), run.stderr.read() if run.stderr else "") for run in runs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 10], results
    loser = next(said for code, said in results if code == 10)
    assert "another promotion of penguins-classifier to staging is running" in loser
    assert project.serving("staging") == v1.version
    assert gto(project.origin, "show")[MODEL]["stage"] == {"staging": "v1.0.0"}


# --- a real model image --------------------------------------------------------------------------------


def test_a_real_model_image_is_promoted_with_parity_through_the_deployed_endpoint(tmp_path: Path,
                                                                                   seed: Seed) -> None:
    """The template project trained, `mlcd package`d and `mlcd push`ed as a workflow does, then promoted:
    the deployed `mlcd serve` scores the holdout exactly as the model file does offline."""
    from testing.images import hermetic_package, trained_project

    project = trained_project(tmp_path / "project")
    repository = f"127.0.0.1:5000/{unique('mlcd-tests/penguins')}"
    port = free_port()
    container = unique("mlcd-test-real")
    set_deploy(project, {"push": False, "environments": {"staging": {
        "target": "docker", "url": f"http://127.0.0.1:{port}", "docker": {"container": container}}}})
    tag = f"mlcd-tests/penguins:{unique('t')}"
    try:
        _ok(hermetic_package(project, tag))
        _ok(mlcd(project, "push", tag, "--to", repository))
        digest = (project / "image-digest.txt").read_text().strip()
        said = _ok(mlcd(project, "promote", f"{repository}@{digest}", "--to", "staging", "--register-as", "v1.0.0",
                        "--require-parity"))
        assert "parity:" in said and "rows scored identically" in said
        lineage = (project / "models" / "model.lineage.json").read_text()
        sha = json.loads(lineage)["model"]["sha256"]
        assert serving_version(f"http://127.0.0.1:{port}", MODEL) == sha[:12]
        assert History.read(project, MODEL).current("staging") is not None
        assert git(project, "ls-remote", "--tags", ".") != ""  # recorded locally (deploy.push: false)
    finally:
        remove_containers(seed.client, container)
        with contextlib.suppress(Exception):
            seed.client.images.remove(tag, force=True, noprune=True)
