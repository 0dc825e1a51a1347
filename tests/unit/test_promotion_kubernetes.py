"""The kubernetes target's kubectl calls, against a stand-in kubectl that keeps the Deployment's revisions
in a file: what is applied, that a rollout that does not finish is undone, and the flags that scope it.
(Applying to a real cluster is in the contract suite, where a cluster is reachable.)"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from mlcd.config.model import KubernetesTargetConfig
from mlcd.errors import DeployFailed
from mlcd.promotion.targets import Release
from mlcd.promotion.targets.kubernetes import KubernetesTarget

KUBECTL = '''\
import json, os, sys
state_file, log_file = os.environ["FAKE_KUBE_STATE"], os.environ["FAKE_KUBE_LOG"]
args = sys.argv[1:]
with open(log_file, "a") as log:
    log.write(json.dumps(args) + "\\n")
state = json.load(open(state_file)) if os.path.exists(state_file) else {"revisions": []}
verb = [a for a in args if not a.startswith("--")]
def save():
    json.dump(state, open(state_file, "w"))
if verb[:2] == ["get", "deployment"]:
    if not state["revisions"]:
        sys.exit("Error from server (NotFound): deployments.apps \\"x\\" not found")
    print(json.dumps(state["revisions"][-1]))
elif verb[:1] == ["apply"]:
    items = json.load(sys.stdin)["items"]
    state["revisions"].append(next(i for i in items if i["kind"] == "Deployment"))
    save()
elif verb[:2] == ["rollout", "status"]:
    image = state["revisions"][-1]["spec"]["template"]["spec"]["containers"][0]["image"]
    if "broken" in image:
        sys.exit('error: deployment "x" exceeded its progress deadline')
elif verb[:2] == ["rollout", "undo"]:
    state["revisions"].pop()
    save()
elif verb[:1] == ["delete"]:
    state["revisions"] = []
    save()
'''


@pytest.fixture
def kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    script = tmp_path / "kubectl"
    script.write_text(f"#!{sys.executable}\n{KUBECTL}")
    script.chmod(0o755)
    monkeypatch.setenv("FAKE_KUBE_STATE", str(tmp_path / "state.json"))
    monkeypatch.setenv("FAKE_KUBE_LOG", str(tmp_path / "calls.jsonl"))
    return script


def _calls(kubectl: Path) -> list[list[str]]:
    log = kubectl.parent / "calls.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def _release(name: str) -> Release:
    digest = "sha256:" + (name[0] * 64 if name[0] in "0123456789abcdef" else "f" * 64)
    return Release("penguins", "production", name, f"127.0.0.1:5000/{name}@{digest}", digest, "c" * 64)


def _target(kubectl: Path) -> KubernetesTarget:
    settings = KubernetesTargetConfig(namespace="ml", context="prod-cluster", rollout_timeout=30)
    return KubernetesTarget("penguins", "production", settings, kubectl=str(kubectl))


def test_deploy_applies_the_manifests_and_waits_for_the_rollout(kubectl: Path) -> None:
    target = _target(kubectl)
    assert target.current() is None
    deployed = target.deploy(_release("a1"), {})
    current = target.current()
    assert current is not None and current.digest == deployed.digest == _release("a1").digest
    verbs = [[a for a in call if not a.startswith("--")] for call in _calls(kubectl)]
    assert verbs == [["get", "deployment", "penguins-production"], ["get", "deployment", "penguins-production"],
                     ["apply"], ["rollout", "status", "deployment/penguins-production"],
                     ["get", "deployment", "penguins-production"]]
    for call in _calls(kubectl):
        assert call[:2] == ["--context=prod-cluster", "--namespace=ml"]
    assert "--timeout=30s" in _calls(kubectl)[3]


def test_a_rollout_that_does_not_finish_is_undone(kubectl: Path) -> None:
    target = _target(kubectl)
    target.deploy(_release("a1"), {})
    with pytest.raises(DeployFailed, match="exceeded its progress deadline") as raised:
        target.deploy(_release("broken"), {})
    assert raised.value.fix and "kubectl describe deployment penguins-production" in raised.value.fix
    assert ["--context=prod-cluster", "--namespace=ml", "rollout", "undo", "deployment/penguins-production"] in \
        _calls(kubectl)
    current = target.current()
    assert current is not None and current.digest == _release("a1").digest


def test_a_first_rollout_that_fails_leaves_nothing_behind(kubectl: Path) -> None:
    target = _target(kubectl)
    with pytest.raises(DeployFailed):
        target.deploy(_release("broken"), {})
    assert any("delete" in call for call in _calls(kubectl))
    assert target.current() is None


def test_restore_applies_the_previous_release_again(kubectl: Path) -> None:
    target = _target(kubectl)
    previous = target.deploy(_release("a1"), {})
    target.deploy(_release("b2"), {})
    target.restore(previous, {})
    current = target.current()
    assert current is not None and current.digest == previous.digest
