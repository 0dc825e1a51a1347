"""What a deploy target gives the serving container: its environment (``docker.env``, ``kubernetes.env``)
and the prediction log (a host directory mounted for docker, an fsspec URL for kubernetes). The config,
the rendered settings, and how a host directory is made writable for the image's user."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mlcd.config import validate_text
from mlcd.config.model import KubernetesTargetConfig, build_deploy
from mlcd.errors import ConfigError
from mlcd.promotion.targets import Release
from mlcd.promotion.targets.docker import (
    LOG_MOUNT,
    LogDirAccess,
    container_env,
    from_config,
    local_engine,
    log_dir_access,
    prepare_log_dir,
)
from mlcd.promotion.targets.kubernetes import render
from testing.configs import MINIMAL_CONFIG

DIGEST = "sha256:" + "a" * 64
UID = 10001

CONFIG = MINIMAL_CONFIG + """\
deploy:
  environments:
    staging:
      target: docker
      url: "http://127.0.0.1:8081"
      docker:
        env: {MLCD_LOG_SAMPLE_RATE: 0.2, MLCD_LOG_ROTATE_MINUTES: 5, VERBOSE: true, REGION: eu-west-1}
        prediction_log: /srv/demo-logs
    production:
      target: kubernetes
      kubernetes:
        namespace: ml
        env: {MLCD_LOG_SAMPLE_RATE: "0.1", AWS_REGION: eu-west-1}
        prediction_log: s3://acme-ml/prediction-logs
"""


def problems_of(text: str) -> list[str]:
    return [p.one_line() for p in validate_text(text, "mlcd.yaml")[1]]


# --- configuration ------------------------------------------------------------------------------------


def test_env_and_prediction_log_are_typed_with_values_as_text() -> None:
    data, problems = validate_text(CONFIG, "mlcd.yaml")
    assert problems == []
    deploy = build_deploy(data["deploy"])
    docker = deploy.environments["staging"].docker
    assert docker.env == {"MLCD_LOG_SAMPLE_RATE": "0.2", "MLCD_LOG_ROTATE_MINUTES": "5", "VERBOSE": "true",
                          "REGION": "eu-west-1"}
    assert docker.prediction_log == "/srv/demo-logs"
    kubernetes = deploy.environments["production"].kubernetes
    assert kubernetes.env == {"MLCD_LOG_SAMPLE_RATE": "0.1", "AWS_REGION": "eu-west-1"}
    assert kubernetes.prediction_log == "s3://acme-ml/prediction-logs"


def test_without_them_nothing_is_added() -> None:
    deploy = build_deploy({"environments": {"staging": {"target": "docker", "url": "http://127.0.0.1:8081"}}})
    assert deploy.environments["staging"].docker.env == {}
    assert deploy.environments["staging"].docker.prediction_log is None
    assert deploy.environments["staging"].kubernetes.env == {}


@pytest.mark.parametrize(("change", "expected"), [
    ("prediction_log: /srv/demo-logs", "prediction_log: demo-logs"),  # a host directory is absolute
    ("prediction_log: s3://acme-ml/prediction-logs", "prediction_log: /var/log/demo"),  # pods: a URL
    ("REGION: eu-west-1}", "REGION: [eu, west]}"),
    ("VERBOSE: true", "2FAST: true"),
])
def test_invalid_settings_are_refused_by_the_schema(change: str, expected: str) -> None:
    assert change in CONFIG
    assert problems_of(CONFIG.replace(change, expected)), expected


def test_the_port_is_the_targets_own() -> None:
    problems = problems_of(CONFIG.replace("VERBOSE: true", "MLCD_PORT: 9000"))
    assert len(problems) == 1
    assert problems[0].startswith("mlcd.yaml:15:")  # the env line
    assert "deploy.environments.staging.docker.env.MLCD_PORT: the docker target sets the port itself" in problems[0]


def test_the_log_is_set_in_one_place() -> None:
    problems = problems_of(CONFIG.replace("AWS_REGION: eu-west-1", "MLCD_PREDICTION_LOG: s3://other"))
    assert len(problems) == 1
    assert "kubernetes.env.MLCD_PREDICTION_LOG: kubernetes.prediction_log sets it already" in problems[0]
    assert "(fix: keep one of the two)" in problems[0]
    # without kubernetes.prediction_log, the variable alone is how a docker container logs to a bucket
    alone = CONFIG.replace("        prediction_log: /srv/demo-logs\n", "").replace(
        "REGION: eu-west-1}", "MLCD_PREDICTION_LOG: s3://acme-ml/logs}")
    assert problems_of(alone) == []


# --- docker ---------------------------------------------------------------------------------------------


def test_the_container_logs_where_the_directory_is_mounted() -> None:
    assert container_env({"A": "1"}, "/srv/logs") == {"A": "1", "MLCD_PREDICTION_LOG": LOG_MOUNT}
    assert container_env({"A": "1"}, None) == {"A": "1"}


def test_the_target_takes_its_settings_from_the_environment_config() -> None:
    deploy = build_deploy(validate_text(CONFIG, "mlcd.yaml")[0]["deploy"])
    target = from_config("demo", deploy.environments["staging"], {})
    assert target.env["MLCD_PREDICTION_LOG"] == "/logs" and target.env["REGION"] == "eu-west-1"
    assert target.prediction_log == "/srv/demo-logs" and target.local_engine
    remote = from_config("demo", deploy.environments["staging"], {"DOCKER_HOST": "ssh://deploy@models"})
    assert not remote.local_engine


@pytest.mark.parametrize(("docker_host", "local"), [
    (None, True), ("", True), ("unix:///var/run/docker.sock", True),
    ("tcp://10.0.0.5:2376", False), ("ssh://deploy@models.example.com", False),
])
def test_only_a_local_engine_sees_this_machines_directories(docker_host: str | None, local: bool) -> None:
    assert local_engine(docker_host) is local


@pytest.mark.parametrize(("owner", "group", "mode", "euid", "empty", "expected"), [
    # already writable for uid 10001: nothing changes
    (UID, UID, 0o755, 1000, False, LogDirAccess()),
    (0, UID, 0o775, 1000, False, LogDirAccess()),
    (0, 0, 0o1777, 1000, False, LogDirAccess()),
    # mlcd as root: the empty directory is given to the server's user
    (0, 0, 0o755, 0, True, LogDirAccess(owner=UID, mode=0o755)),
    (0, 0, 0o700, 0, True, LogDirAccess(owner=UID, mode=0o700)),
    # mlcd as the directory's owner: group write + setgid, and the container joins the group
    (1000, 1000, 0o755, 1000, True, LogDirAccess(mode=0o2775, group=1000)),
    (1000, 1000, 0o2775, 1000, False, LogDirAccess(group=1000)),  # as an earlier deployment left it
    # nothing mlcd may do
    (1000, 1000, 0o755, 1000, False, None),  # holds files
    (0, 0, 0o755, 0, False, None),  # holds files, even for root
    (2000, 2000, 0o755, 1000, True, None),  # someone else's
])
def test_how_a_directory_becomes_writable_for_the_server(owner: int, group: int, mode: int, euid: int,
                                                         empty: bool, expected: LogDirAccess | None) -> None:
    assert log_dir_access(owner, group, stat.S_IFDIR | mode, uid=UID, gid=UID, euid=euid, empty=empty) == expected


FIELD = "deploy.environments.production.docker.prediction_log"


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a directory's owner needs root")
def test_as_root_a_missing_directory_is_made_and_given_to_the_server(tmp_path: Path) -> None:
    logs = tmp_path / "srv" / "logs"
    assert prepare_log_dir(logs, UID, UID, field=FIELD) is None
    info = logs.stat()
    assert info.st_uid == UID and info.st_mode & 0o700 == 0o700
    assert prepare_log_dir(logs, UID, UID, field=FIELD) is None  # again: nothing to change


@pytest.mark.skipif(os.geteuid() != 0, reason="makes a directory owned by another user")
def test_as_its_owner_the_directory_is_shared_through_its_group(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir(mode=0o755)
    os.chown(logs, 1000, 1000)
    assert prepare_log_dir(logs, UID, UID, field=FIELD, euid=1000) == 1000
    assert stat.S_IMODE(logs.stat().st_mode) == 0o2775 and logs.stat().st_uid == 1000


def test_a_directory_that_holds_files_is_not_changed_but_named_with_the_fix(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir(mode=0o755)
    (logs / "notes.txt").write_text("mine")
    os.chown(logs, os.geteuid(), os.getegid())
    with pytest.raises(ConfigError) as raised:
        prepare_log_dir(logs, UID, UID, field=FIELD)
    text = raised.value.one_line()
    assert text.startswith(f"{FIELD}: {logs} is not writable by uid {UID} (the server's user)")
    assert "changes only an empty directory" in text
    assert f"sudo chown {UID} {logs}" in text and "\n" not in text
    assert stat.S_IMODE(logs.stat().st_mode) == 0o755


def test_a_directory_that_cannot_be_made_is_one_line_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError) as raised:
        prepare_log_dir(tmp_path / "file" / "logs", UID, UID, field=FIELD)
    text = raised.value.one_line()
    assert text.startswith(f"{FIELD}: cannot create or read {tmp_path / 'file' / 'logs'}: Not a directory")
    assert "sudo mkdir -p" in text


# --- kubernetes ---------------------------------------------------------------------------------------


def _release() -> Release:
    return Release("demo", "production", "v1.2.0", f"127.0.0.1:5000/demo@{DIGEST}", DIGEST, "c" * 64, 8080)


LOGGING = KubernetesTargetConfig(namespace="ml", env={"MLCD_LOG_SAMPLE_RATE": "0.1", "AWS_REGION": "eu-west-1"},
                                 prediction_log="s3://acme-ml/prediction-logs")


def test_the_pod_gets_the_env_and_the_prediction_log_url() -> None:
    deployment, _ = render(_release(), LOGGING, name="demo-production")
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "MLCD_PORT", "value": "8080"}, {"name": "MLCD_LOG_SAMPLE_RATE", "value": "0.1"},
                   {"name": "AWS_REGION", "value": "eu-west-1"},
                   {"name": "MLCD_PREDICTION_LOG", "value": "s3://acme-ml/prediction-logs"}]


def test_without_settings_the_pod_gets_the_port_alone() -> None:
    deployment, _ = render(_release(), KubernetesTargetConfig(), name="demo-production")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "MLCD_PORT", "value": "8080"}]


@pytest.mark.parametrize("settings", [LOGGING, KubernetesTargetConfig(env={"A": ""})])
def test_the_manifests_with_env_are_valid_kubernetes_objects(settings: KubernetesTargetConfig) -> None:
    import kubernetes_validate

    version = kubernetes_validate.latest_version()
    for manifest in render(_release(), settings, name="demo-production"):
        kubernetes_validate.validate(manifest, version, strict=True)
