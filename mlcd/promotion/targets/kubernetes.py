"""The ``kubernetes`` target: a Deployment and a Service, applied with ``kubectl``.

The pod template names the image by digest, so a Deployment's revision is exactly one image. Pods run
hardened (non-root, read-only root file system, no capabilities, RuntimeDefault seccomp). Readiness and
liveness probes use the Open Inference Protocol health endpoints, and the rolling update never takes a
ready pod away before its replacement is ready (``maxUnavailable: 0``): traffic moves pod by pod.

``deploy`` applies the manifests and waits for ``kubectl rollout status``; if the rollout does not
finish, ``kubectl rollout undo`` returns to the previous revision before the failure is reported.

The container's environment is ``kubernetes.env``; ``kubernetes.prediction_log`` (an fsspec URL: pods
have no host directory to keep) becomes ``MLCD_PREDICTION_LOG``.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

from mlcd.config.model import EnvironmentConfig, KubernetesTargetConfig
from mlcd.errors import DeployFailed, ToolFailed
from mlcd.promotion.targets import Deployed, Release
from mlcd.promotion.verify import require_endpoint

ANNOTATION = "dev.mlcd/"
USER_ID = 10001


def from_config(model: str, environment: EnvironmentConfig, env: Mapping[str, str]) -> KubernetesTarget:
    return KubernetesTarget(model, environment.name, environment.kubernetes, url=environment.url)


def resource_name(model: str, environment: str, settings: KubernetesTargetConfig) -> str:
    return settings.name or f"{model}-{environment}".lower().replace("_", "-")[:63].strip("-")


def render(release: Release, settings: KubernetesTargetConfig, *, name: str) -> list[dict[str, Any]]:
    """The Deployment and the Service for ``release``: plain data, no cluster needed."""
    selector = {"app.kubernetes.io/name": release.model, "app.kubernetes.io/instance": name}
    labels = {**selector, "app.kubernetes.io/managed-by": "mlcd", "app.kubernetes.io/version": release.version,
              ANNOTATION + "environment": release.environment}
    annotations = {ANNOTATION + "digest": release.digest, ANNOTATION + "image": release.image,
                   ANNOTATION + "version": release.version, ANNOTATION + "model-sha256": release.model_sha256 or "",
                   "kubernetes.io/change-cause": f"mlcd: {release.version} ({release.digest})"}
    probe_port = "http"
    container: dict[str, Any] = {
        "name": "model",
        "image": release.image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": release.port, "protocol": "TCP"}],
        "env": pod_env(release.port, settings),
        "startupProbe": {"httpGet": {"path": "/v2/health/live", "port": probe_port},
                         "periodSeconds": 2, "failureThreshold": 60},
        "readinessProbe": {"httpGet": {"path": "/v2/health/ready", "port": probe_port},
                           "periodSeconds": 5, "timeoutSeconds": 2, "failureThreshold": 3},
        "livenessProbe": {"httpGet": {"path": "/v2/health/live", "port": probe_port},
                          "periodSeconds": 10, "timeoutSeconds": 2, "failureThreshold": 3},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    pod_spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": USER_ID, "runAsGroup": USER_ID,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
    }
    if settings.image_pull_secret:
        pod_spec["imagePullSecrets"] = [{"name": settings.image_pull_secret}]
    metadata = {"name": name, "namespace": settings.namespace, "labels": labels}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {**metadata, "annotations": annotations},
        "spec": {
            "replicas": settings.replicas,
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": settings.rollout_timeout,
            "selector": {"matchLabels": selector},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {"metadata": {"labels": labels, "annotations": annotations}, "spec": pod_spec},
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": {"type": "ClusterIP", "selector": selector,
                 "ports": [{"name": "http", "port": settings.service_port, "targetPort": "http", "protocol": "TCP"}]},
    }
    return [deployment, service]


def pod_env(port: int, settings: KubernetesTargetConfig) -> list[dict[str, str]]:
    """The model container's ``env``: the port, ``kubernetes.env``, then the prediction log's URL."""
    env = {"MLCD_PORT": str(port), **settings.env}
    if settings.prediction_log:
        env["MLCD_PREDICTION_LOG"] = settings.prediction_log
    return [{"name": name, "value": value} for name, value in env.items()]


class KubernetesTarget:
    kind = "kubernetes"

    def __init__(self, model: str, environment: str, settings: KubernetesTargetConfig, *, url: str | None = None,
                 kubectl: str = "kubectl") -> None:
        self.model = model
        self.environment = environment
        self.settings = settings
        self.url = url
        self.kubectl = kubectl
        self.name = resource_name(model, environment, settings)

    def current(self) -> Deployed | None:
        result = self._run("get", "deployment", self.name, "--output=json", check=False)
        if result.returncode != 0:
            if "NotFound" in result.stderr or "not found" in result.stderr:
                return None
            raise ToolFailed(f"`kubectl get deployment {self.name}` failed: {_said(result)}")
        annotations = (json.loads(result.stdout).get("metadata") or {}).get("annotations") or {}
        digest = annotations.get(ANNOTATION + "digest")
        if not digest:
            return None
        return Deployed(self.kind, self.environment, digest, annotations.get(ANNOTATION + "image", ""),
                        annotations.get(ANNOTATION + "version") or None, self.url,
                        {"deployment": self.name, "namespace": self.settings.namespace,
                         "model_sha256": annotations.get(ANNOTATION + "model-sha256", "")})

    def deploy(self, release: Release, evidence: Mapping[str, Any]) -> Deployed:
        had = self.current()
        manifests = render(release, self.settings, name=self.name)
        self._run("apply", "--filename=-", input_text=json.dumps({"apiVersion": "v1", "kind": "List",
                                                                  "items": manifests}))
        rollout = self._rollout_status()
        if rollout is not None:
            if had is not None:
                self._run("rollout", "undo", f"deployment/{self.name}", check=False)
                self._rollout_status()
            else:
                self.restore(None, evidence)
            raise DeployFailed(f"{self.environment}: the rollout of {release.image} did not finish: {rollout}",
                               fix=f"`kubectl describe deployment {self.name}` and the pods' events say why")
        return Deployed(self.kind, self.environment, release.digest, release.image, release.version, self.url,
                        {"deployment": self.name, "namespace": self.settings.namespace,
                         "model_sha256": release.model_sha256 or ""})

    def verify(self, deployed: Deployed) -> None:
        running = self.current()
        if running is None or running.digest != deployed.digest:
            raise DeployFailed(f"{self.environment}: deployment/{self.name} runs "
                               f"{running.digest if running else 'nothing'}, not {deployed.digest}")
        rollout = self._rollout_status()
        if rollout is not None:
            raise DeployFailed(f"{self.environment}: deployment/{self.name} is not rolled out: {rollout}")
        if self.url:
            require_endpoint(self.environment, self.url, self.model, deployed.details.get("model_sha256") or None)

    def restore(self, previous: Deployed | None, evidence: Mapping[str, Any]) -> None:
        if previous is None:
            self._run("delete", "deployment,service", self.name, "--ignore-not-found=true")
            return
        release = Release(self.model, self.environment, previous.version or "", previous.image, previous.digest,
                          previous.details.get("model_sha256") or None)
        self.deploy(release, evidence)

    def _rollout_status(self) -> str | None:
        result = self._run("rollout", "status", f"deployment/{self.name}",
                           f"--timeout={self.settings.rollout_timeout}s", check=False)
        return None if result.returncode == 0 else _said(result)

    def _run(self, *args: str, input_text: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [self.kubectl, *self._scope(), *args]
        try:
            result = subprocess.run(command, capture_output=True, text=True, input=input_text, check=False)
        except FileNotFoundError:
            raise ToolFailed("kubectl is not installed",
                             fix="install kubectl and configure access to the cluster (KUBECONFIG)") from None
        if check and result.returncode != 0:
            raise ToolFailed(f"`kubectl {' '.join(args)}` failed: {_said(result)}",
                             fix="check the cluster access (kubectl config current-context) and the namespace")
        return result

    def _scope(self) -> Sequence[str]:
        context = [f"--context={self.settings.context}"] if self.settings.context else []
        return [*context, f"--namespace={self.settings.namespace}"]


def _said(result: subprocess.CompletedProcess[str]) -> str:
    return " ".join((result.stderr or result.stdout).split())[:500]
