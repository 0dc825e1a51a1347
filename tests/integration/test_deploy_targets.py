"""One contract every deploy target passes (as dvc/testing/remote_tests.py is for DVC's remotes).

* ``docker``: real containers on the Docker engine, images from the local registry (scripts/services);
  small stub servers that answer the health and model endpoints like ``mlcd serve``.
* ``webhook``: an in-process receiver that checks every signature and plays the platform behind it.
* ``kubernetes``: needs a reachable cluster; where there is none (as here) the tests are skipped, and
  the skip says so. The rendered manifests are checked against Kubernetes' schemas in the unit tests.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from mlcd.config.model import KubernetesTargetConfig
from mlcd.errors import DeployFailed
from mlcd.promotion.targets import Deployed, DeployTarget, Release
from testing.images import docker_client, start_services, unique
from testing.promotion import (
    MODEL,
    Receiver,
    build_stub_image,
    fake_sha,
    free_port,
    remove_containers,
    serving_version,
)

pytestmark = pytest.mark.integration

TARGETS = ["docker", "webhook", "kubernetes"]


@dataclass
class Harness:
    target: DeployTarget
    releases: list[Release]  # two that work
    broken: Release  # one that never becomes ready
    live: Callable[[], str | None]  # the digest the live environment serves, None for nothing


# --- docker --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def docker_images() -> Iterator[tuple[Any, list[Release], Release]]:
    problem = start_services()
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    client = docker_client()
    repository = f"mlcd-tests/{unique('stub')}"

    def release(name: str, *, never_ready: bool = False) -> Release:
        sha = fake_sha(name)
        digest = build_stub_image(client, repository, model=MODEL, sha256=sha, metrics={"accuracy": 0.95},
                                  revision=None, never_ready=never_ready)
        return Release(MODEL, "contract", name, f"127.0.0.1:5000/{repository}@{digest}", digest, sha)

    yield client, [release("v1.0.0"), release("v2.0.0")], release("broken", never_ready=True)
    client.close()


def _docker(request: pytest.FixtureRequest) -> Iterator[Harness]:
    from mlcd.promotion.targets.docker import DockerTarget

    request.applymarker(pytest.mark.docker)
    client, releases, broken = request.getfixturevalue("docker_images")
    environment = unique("contract")
    target = DockerTarget(MODEL, environment, port=free_port(), ready_timeout=5, client=client)
    by_version = {r.model_sha256[:12]: r.digest for r in [*releases, broken] if r.model_sha256}
    releases = [Release(r.model, environment, r.version, r.image, r.digest, r.model_sha256) for r in releases]

    def live() -> str | None:
        version = serving_version(target.url, MODEL)
        return by_version.get(version) if version else None

    try:
        yield Harness(target, releases, broken, live)
    finally:
        remove_containers(client, target.name)


# --- webhook -------------------------------------------------------------------------------------------


def _webhook(request: pytest.FixtureRequest) -> Iterator[Harness]:
    from mlcd.promotion.targets.webhook import WebhookTarget

    receiver = Receiver(b"contract-secret").start()
    environment = "contract"
    releases = [Release(MODEL, environment, f"v{n}.0.0", f"registry.example/m@sha256:{str(n) * 64}",
                        f"sha256:{str(n) * 64}", fake_sha(str(n))) for n in (1, 2)]
    broken = Release(MODEL, environment, "broken", f"registry.example/m@sha256:{'f' * 64}", f"sha256:{'f' * 64}")
    receiver.refuse.add(broken.digest)
    target = WebhookTarget(MODEL, environment, hook_url=receiver.url, secret=b"contract-secret", attempts=3,
                           sleep=lambda _: None)

    def live() -> str | None:
        current = receiver.deployed.get(environment)
        return str(current["digest"]) if current else None

    try:
        yield Harness(target, releases, broken, live)
    finally:
        receiver.stop()
    assert receiver.bad_signatures == 0


# --- kubernetes ----------------------------------------------------------------------------------------


def _cluster_problem() -> str | None:
    try:
        probe = subprocess.run(["kubectl", "version", "--request-timeout=5s", "--output=json"],
                               capture_output=True, text=True, timeout=30, check=False)
    except FileNotFoundError:
        return "kubectl is not installed"
    except subprocess.TimeoutExpired:
        return "kubectl did not answer within 30 s"
    if probe.returncode != 0 or '"serverVersion"' not in probe.stdout:
        return "no Kubernetes cluster is reachable (`kubectl version`: " + " ".join(probe.stderr.split())[:200] + ")"
    return None


def _kubernetes(request: pytest.FixtureRequest) -> Iterator[Harness]:
    from mlcd.promotion.targets.kubernetes import KubernetesTarget

    problem = _cluster_problem()
    if problem is not None:
        pytest.skip(f"kubernetes target not applied: {problem}; its manifests are validated in "
                    "tests/unit/test_promotion_decisions.py")
    _, releases, broken = request.getfixturevalue("docker_images")
    environment = unique("contract")
    target = KubernetesTarget(MODEL, environment, KubernetesTargetConfig(replicas=1, rollout_timeout=60))

    def live() -> str | None:
        running = target.current()
        return running.digest if running else None

    try:
        yield Harness(target, [Release(r.model, environment, r.version, r.image, r.digest, r.model_sha256)
                               for r in releases], broken, live)
    finally:
        target.restore(None, {})


@pytest.fixture(params=TARGETS)
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    yield from {"docker": _docker, "webhook": _webhook, "kubernetes": _kubernetes}[request.param](request)


# --- the contract --------------------------------------------------------------------------------------


def test_a_fresh_environment_runs_nothing(harness: Harness) -> None:
    assert harness.target.current() is None
    assert harness.live() is None


def test_deploy_returns_once_the_new_version_serves(harness: Harness) -> None:
    first = harness.releases[0]
    deployed = harness.target.deploy(first, {"version": first.version})
    assert (deployed.digest, deployed.environment) == (first.digest, first.environment)
    assert harness.live() == first.digest
    current = harness.target.current()
    assert current is not None and current.digest == first.digest
    harness.target.verify(deployed)


def test_deploy_replaces_what_runs(harness: Harness) -> None:
    first, second = harness.releases
    harness.target.deploy(first, {})
    deployed = harness.target.deploy(second, {})
    assert harness.live() == second.digest
    harness.target.verify(deployed)
    current = harness.target.current()
    assert current is not None and (current.digest, current.version) == (second.digest, second.version)


def test_deploying_what_runs_again_changes_nothing(harness: Harness) -> None:
    first = harness.releases[0]
    harness.target.deploy(first, {})
    harness.target.deploy(first, {})
    assert harness.live() == first.digest


def test_a_version_that_never_gets_ready_leaves_the_old_one_serving(harness: Harness) -> None:
    first = harness.releases[0]
    harness.target.deploy(first, {})
    with pytest.raises(DeployFailed) as raised:
        harness.target.deploy(harness.broken, {})
    assert harness.broken.image in raised.value.message or harness.broken.digest in raised.value.message
    assert harness.live() == first.digest
    current = harness.target.current()
    assert current is not None and current.digest == first.digest


def test_restore_puts_the_previous_version_back(harness: Harness) -> None:
    first, second = harness.releases
    previous = harness.target.deploy(first, {})
    harness.target.deploy(second, {})
    harness.target.restore(previous, {"reason": "test"})
    assert harness.live() == first.digest
    harness.target.verify(previous)


def test_restore_of_nothing_empties_the_environment(harness: Harness) -> None:
    harness.target.deploy(harness.releases[0], {})
    harness.target.restore(None, {})
    assert harness.target.current() is None
    assert harness.live() is None


def test_verify_refuses_what_does_not_run(harness: Harness) -> None:
    first, second = harness.releases
    harness.target.deploy(first, {})
    claimed = Deployed(first.environment, first.environment, second.digest, second.image, second.version)
    with pytest.raises(DeployFailed, match=second.digest):
        harness.target.verify(claimed)
