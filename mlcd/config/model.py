"""Typed view of a validated mlcd.yaml. Every default is the JSON schema's (``schema_default``); a field without
one is None or empty when mlcd.yaml leaves it out. tests/unit/test_config_defaults.py keeps them equal."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mlcd.config.validate import schema_default
from mlcd.errors import ConfigError, Location

Direction = Literal["higher", "lower"]
Dtype = Literal["int", "float", "string", "category", "bool", "datetime"]

# Direction of each metric mlcd knows how to compute; mlcd.yaml may override it.
DEFAULT_DIRECTIONS: dict[str, Direction] = {
    "accuracy": "higher",
    "balanced_accuracy": "higher",
    "f1_macro": "higher",
    "precision_macro": "higher",
    "recall_macro": "higher",
    "log_loss": "lower",
    "roc_auc_ovr": "higher",
    "rmse": "lower",
    "mae": "lower",
    "r2": "higher",
}


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    dtype: Dtype
    nullable: bool = schema_default("contract", "columns", "*", "nullable")
    min: float | None = None
    max: float | None = None
    allowed: tuple[Any, ...] | None = None
    feature: bool = schema_default("contract", "columns", "*", "feature")


@dataclass(frozen=True)
class Contract:
    label: str
    columns: tuple[ColumnSpec, ...]
    unique: tuple[str, ...] = ()
    strict: bool = schema_default("contract", "strict")

    def column(self, name: str) -> ColumnSpec:
        for spec in self.columns:
            if spec.name == name:
                return spec
        raise KeyError(name)

    @property
    def features(self) -> tuple[ColumnSpec, ...]:
        return tuple(c for c in self.columns if c.feature and c.name != self.label)

    @property
    def feature_names(self) -> list[str]:
        return [c.name for c in self.features]


@dataclass(frozen=True)
class CsvOptions:
    delimiter: str = schema_default("data", "csv", "delimiter")
    encoding: str = schema_default("data", "csv", "encoding")
    na_values: tuple[str, ...] = ()


@dataclass(frozen=True)
class DataConfig:
    path: str
    format: Literal["csv", "parquet"] | None = None
    csv: CsvOptions = field(default_factory=CsvOptions)
    train: str | None = None
    test: str | None = None
    reference_rev: str | None = None
    reference_path: str | None = None


@dataclass(frozen=True)
class QualityConfig:
    max_null_rate: float = schema_default("quality", "max_null_rate")
    max_null_rate_per_column: dict[str, float] = field(default_factory=dict)
    max_duplicate_rate: float = schema_default("quality", "max_duplicate_rate")
    min_rows: int = schema_default("quality", "min_rows")
    max_rows: int | None = None
    min_class_fraction: float | None = None
    min_rows_per_slice: int = schema_default("quality", "min_rows_per_slice")


@dataclass(frozen=True)
class EffectFloors:
    """The smallest shift worth an alarm, whatever the p-value: PSI for numbers, Jensen–Shannon distance for
    categories."""

    psi: float = schema_default("drift", "min_effect", "psi")
    js: float = schema_default("drift", "min_effect", "js")


@dataclass(frozen=True)
class DriftConfig:
    """When a column drifted, for `mlcd data test` and `mlcd drift` alike (:mod:`mlcd.drift`)."""

    alpha: float = schema_default("drift", "alpha")
    min_effect: EffectFloors = field(default_factory=EffectFloors)
    min_rows: int = schema_default("drift", "min_rows")
    bins: int = schema_default("drift", "bins")
    columns: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ModelConfig:
    name: str
    path: str
    trusted_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrainConfig:
    stage: str = schema_default("train", "stage")
    params: str = schema_default("train", "params")
    seed_param: str | None = None


@dataclass(frozen=True)
class EvaluateConfig:
    task: Literal["classification", "regression"] = schema_default("evaluate", "task")
    holdout: str | None = None
    metrics_file: str = schema_default("evaluate", "metrics_file")
    predictions_file: str = schema_default("evaluate", "predictions_file")
    gates_file: str = schema_default("evaluate", "gates_file")


@dataclass(frozen=True)
class MetricGate:
    metric: str
    min: float | None = None
    max: float | None = None
    max_regression_vs_base: float | None = None
    max_regression_vs_production: float | None = None
    tolerance: float = schema_default("gates", "metrics", "*", "tolerance")


@dataclass(frozen=True)
class NoiseConfig:
    method: Literal["auto", "off"] = schema_default("gates", "noise", "method")
    confidence: float = schema_default("gates", "noise", "confidence")
    resamples: int = schema_default("gates", "noise", "resamples")


@dataclass(frozen=True)
class GatesConfig:
    metrics: tuple[MetricGate, ...] = ()
    max_slice_gap: dict[str, float] = field(default_factory=dict)
    require_data_tests: bool = schema_default("gates", "require_data_tests")
    max_prediction_churn: float | None = None
    churn_tolerance: float = schema_default("gates", "churn_tolerance")
    noise: NoiseConfig = field(default_factory=NoiseConfig)


@dataclass(frozen=True)
class CompareConfig:
    base: str | None = None
    production: str | None = None
    history: int = schema_default("compare", "history")
    importance_repeats: int = schema_default("compare", "importance_repeats")


@dataclass(frozen=True)
class PackageConfig:
    base_image: str = schema_default("package", "base_image")
    image: str | None = None
    port: int = schema_default("package", "port")
    requirements: tuple[str, ...] = ()


TargetKind = Literal["docker", "kubernetes", "webhook"]


@dataclass(frozen=True)
class DockerTargetConfig:
    port: int | None = None
    container: str | None = None
    ready_timeout: float = schema_default("deploy", "environments", "*", "docker", "ready_timeout")
    memory: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    prediction_log: str | None = None  # a directory on the Docker host, mounted where the server logs


@dataclass(frozen=True)
class KubernetesTargetConfig:
    namespace: str = schema_default("deploy", "environments", "*", "kubernetes", "namespace")
    context: str | None = None
    name: str | None = None
    replicas: int = schema_default("deploy", "environments", "*", "kubernetes", "replicas")
    service_port: int = schema_default("deploy", "environments", "*", "kubernetes", "service_port")
    rollout_timeout: int = schema_default("deploy", "environments", "*", "kubernetes", "rollout_timeout")
    image_pull_secret: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    prediction_log: str | None = None  # an fsspec URL the pods write to


@dataclass(frozen=True)
class WebhookTargetConfig:
    url: str
    secret_env: str = schema_default("deploy", "environments", "*", "webhook", "secret_env")
    timeout: float = schema_default("deploy", "environments", "*", "webhook", "timeout")
    attempts: int = schema_default("deploy", "environments", "*", "webhook", "attempts")


@dataclass(frozen=True)
class EnvironmentConfig:
    name: str
    target: TargetKind
    url: str | None = None
    reviewers: tuple[str, ...] = ()
    prevent_self_review: bool = schema_default("deploy", "environments", "*", "prevent_self_review")
    branches: tuple[str, ...] = schema_default("deploy", "environments", "*", "branches")
    wait_minutes: int = schema_default("deploy", "environments", "*", "wait_minutes")
    docker: DockerTargetConfig = field(default_factory=DockerTargetConfig)
    kubernetes: KubernetesTargetConfig = field(default_factory=KubernetesTargetConfig)
    webhook: WebhookTargetConfig | None = None


@dataclass(frozen=True)
class DeployConfig:
    stages: tuple[str, ...] = schema_default("deploy", "stages")
    environments: dict[str, EnvironmentConfig] = field(default_factory=dict)
    push: bool = schema_default("deploy", "push")
    remote: str = schema_default("deploy", "remote")
    tolerance: float = schema_default("deploy", "tolerance")


# The delivery workflow has this many stage jobs (a reusable workflow cannot make jobs from a list).
MAX_DELIVERY_STAGES = 3


def delivery_stages(config: Config) -> tuple[str, ...]:
    """deploy.stages, in order, when the delivery workflow can run each of them as a job."""
    stages = config.deploy.stages
    if len(stages) > MAX_DELIVERY_STAGES:
        raise ConfigError(f"deploy.stages has {len(stages)} stages ({', '.join(stages)}); the delivery workflow "
                          f"runs at most {MAX_DELIVERY_STAGES}",
                          fix=f"keep the {MAX_DELIVERY_STAGES} stages a model must pass through, e.g. "
                              "[staging, production]", location=Location(config.source))
    return stages


def build_deploy(raw: dict[str, Any]) -> DeployConfig:
    environments = {}
    for name, spec in (raw.get("environments") or {}).items():
        webhook = spec.get("webhook")
        environments[name] = EnvironmentConfig(
            name=name,
            **given(spec, "docker", "kubernetes", "webhook"),
            docker=DockerTargetConfig(**_with_env(spec.get("docker", {}))),
            kubernetes=KubernetesTargetConfig(**_with_env(spec.get("kubernetes", {}))),
            webhook=WebhookTargetConfig(**webhook) if webhook else None,
        )
    return DeployConfig(**given(raw, "environments"), environments=environments)


def given(section: dict[str, Any], *leave_out: str) -> dict[str, Any]:
    """The keys mlcd.yaml sets in ``section`` (lists as tuples), but ``leave_out``: the arguments of the
    section's dataclass, whose fields hold the schema's defaults for the keys left out."""
    return {key: tuple(value) if isinstance(value, list) else value
            for key, value in section.items() if key not in leave_out}


def env_value(value: str | float | bool) -> str:
    """An environment variable's value as mlcd.yaml may write it: `0.2` and `true` need no quotes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _with_env(settings: dict[str, Any]) -> dict[str, Any]:
    return {**settings, "env": {name: env_value(value) for name, value in (settings.get("env") or {}).items()}}


@dataclass(frozen=True)
class PredictionLogConfig:
    """What `mlcd serve` logs; off while ``path`` is None."""

    path: str | None = None
    sample_rate: float = schema_default("monitoring", "prediction_log", "sample_rate")
    rotate_mb: float = schema_default("monitoring", "prediction_log", "rotate_mb")
    rotate_minutes: float = schema_default("monitoring", "prediction_log", "rotate_minutes")
    compress: bool = schema_default("monitoring", "prediction_log", "compress")
    max_queue: int = schema_default("monitoring", "prediction_log", "max_queue")


@dataclass(frozen=True)
class LabelsConfig:
    """Where ground truth arrives, and the column that pairs it with logged predictions (``key``: a
    feature column; else ``id_column``, the logged request id)."""

    path: str
    id_column: str | None = None
    key: str | None = None


@dataclass(frozen=True)
class MonitoringConfig:
    logs: str | None = None
    window: str | None = None
    max_violation_rate: float = schema_default("monitoring", "max_violation_rate")
    max_model_age: str | None = None
    prediction_log: PredictionLogConfig = field(default_factory=PredictionLogConfig)
    labels: LabelsConfig | None = None


@dataclass(frozen=True)
class Config:
    root: Path
    source: str
    data: DataConfig
    contract: Contract
    model: ModelConfig
    metrics: dict[str, Direction]
    quality: QualityConfig = field(default_factory=QualityConfig)
    drift: DriftConfig = field(default_factory=DriftConfig)
    slices: tuple[str, ...] = ()
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    gates: GatesConfig = field(default_factory=GatesConfig)
    compare: CompareConfig = field(default_factory=CompareConfig)
    package: PackageConfig = field(default_factory=PackageConfig)
    deploy: DeployConfig = field(default_factory=DeployConfig)
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)

    def resolve(self, relative: str) -> Path:
        """A path from mlcd.yaml, relative to the repository root."""
        return self.root / relative

    @property
    def holdout_path(self) -> str | None:
        return self.evaluate.holdout or self.data.test


def build_config(raw: dict[str, Any], root: Path, source: str) -> Config:
    data = raw["data"]
    splits = data.get("splits", {})
    reference = data.get("reference", {})
    contract = raw["contract"]
    columns = tuple(ColumnSpec(name=name, **given(spec, "description")) for name, spec in contract["columns"].items())
    metrics_raw = raw.get("metrics") or schema_default("metrics")
    metrics: dict[str, Direction] = {
        name: (options or {}).get("direction", DEFAULT_DIRECTIONS[name]) for name, options in metrics_raw.items()
    }
    gates = raw.get("gates", {})
    return Config(
        root=root,
        source=source,
        data=DataConfig(
            **given(data, "csv", "splits", "reference"),
            csv=CsvOptions(**given(data.get("csv", {}))),
            train=splits.get("train"),
            test=splits.get("test"),
            reference_rev=reference.get("rev"),
            reference_path=reference.get("path"),
        ),
        contract=Contract(**given(contract, "columns"), columns=columns),
        model=ModelConfig(**given(raw["model"])),
        metrics=metrics,
        quality=QualityConfig(**given(raw.get("quality", {}))),
        drift=build_drift(raw.get("drift", {})),
        slices=tuple(raw.get("slices", ())),
        train=TrainConfig(**given(raw.get("train", {}))),
        evaluate=EvaluateConfig(**given(raw.get("evaluate", {}))),
        gates=GatesConfig(
            **given(gates, "metrics", "noise"),
            metrics=tuple(MetricGate(metric=name, **spec) for name, spec in gates.get("metrics", {}).items()),
            noise=NoiseConfig(**given(gates.get("noise", {}))),
        ),
        compare=CompareConfig(**given(raw.get("compare", {}))),
        package=PackageConfig(**given(raw.get("package", {}))),
        deploy=build_deploy(raw.get("deploy", {})),
        monitoring=build_monitoring(raw.get("monitoring", {})),
    )


def build_drift(raw: dict[str, Any]) -> DriftConfig:
    """The drift section of a document whose deprecated keys :func:`mlcd.config.deprecated.migrate` has
    moved or dropped."""
    return DriftConfig(**given(raw, "min_effect"), min_effect=EffectFloors(**raw.get("min_effect", {})))


def build_monitoring(raw: dict[str, Any]) -> MonitoringConfig:
    labels = raw.get("labels")
    return MonitoringConfig(**given(raw, "prediction_log", "labels"),
                            prediction_log=PredictionLogConfig(**raw.get("prediction_log", {})),
                            labels=LabelsConfig(**labels) if labels is not None else None)
