"""Typed view of a validated mlcd.yaml. Defaults live in the JSON schema and here, nowhere else."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

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
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    allowed: tuple[Any, ...] | None = None
    feature: bool = True


@dataclass(frozen=True)
class Contract:
    label: str
    columns: tuple[ColumnSpec, ...]
    unique: tuple[str, ...] = ()
    strict: bool = True

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
    delimiter: str = ","
    encoding: str = "utf-8"
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
    max_null_rate: float = 0.05
    max_null_rate_per_column: dict[str, float] = field(default_factory=dict)
    max_duplicate_rate: float = 0.0
    min_rows: int = 1
    max_rows: int | None = None
    min_class_fraction: float | None = None
    min_rows_per_slice: int = 0


@dataclass(frozen=True)
class DriftConfig:
    psi_threshold: float = 0.2
    ks_pvalue: float = 0.01
    chi2_pvalue: float = 0.01
    bins: int = 10
    columns: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ModelConfig:
    name: str
    path: str
    trusted_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrainConfig:
    stage: str = "train"
    params: str = "params.yaml"
    seed_param: str | None = None


@dataclass(frozen=True)
class EvaluateConfig:
    task: Literal["classification", "regression"] = "classification"
    holdout: str | None = None
    metrics_file: str = "metrics.json"
    predictions_file: str = "predictions.csv"
    gates_file: str = "gates.json"


@dataclass(frozen=True)
class MetricGate:
    metric: str
    min: float | None = None
    max: float | None = None
    max_regression_vs_base: float | None = None
    max_regression_vs_production: float | None = None
    tolerance: float = 0.0


@dataclass(frozen=True)
class NoiseConfig:
    method: Literal["auto", "off"] = "auto"
    confidence: float = 0.95
    resamples: int = 1000


@dataclass(frozen=True)
class GatesConfig:
    metrics: tuple[MetricGate, ...] = ()
    max_slice_gap: dict[str, float] = field(default_factory=dict)
    require_data_tests: bool = True
    noise: NoiseConfig = field(default_factory=NoiseConfig)


@dataclass(frozen=True)
class CompareConfig:
    base: str | None = None
    production: str | None = None
    history: int = 10


@dataclass(frozen=True)
class PackageConfig:
    base_image: str = "python:3.11-slim"
    image: str | None = None
    port: int = 8080
    requirements: tuple[str, ...] = ()


TargetKind = Literal["docker", "kubernetes", "webhook"]


@dataclass(frozen=True)
class DockerTargetConfig:
    port: int | None = None
    container: str | None = None
    ready_timeout: float = 60.0
    memory: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    prediction_log: str | None = None  # a directory on the Docker host, mounted where the server logs


@dataclass(frozen=True)
class KubernetesTargetConfig:
    namespace: str = "default"
    context: str | None = None
    name: str | None = None
    replicas: int = 2
    service_port: int = 80
    rollout_timeout: int = 300
    image_pull_secret: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    prediction_log: str | None = None  # an fsspec URL the pods write to


@dataclass(frozen=True)
class WebhookTargetConfig:
    url: str
    secret_env: str = "MLCD_WEBHOOK_SECRET"
    timeout: float = 30.0
    attempts: int = 5


@dataclass(frozen=True)
class EnvironmentConfig:
    name: str
    target: TargetKind
    url: str | None = None
    reviewers: tuple[str, ...] = ()
    prevent_self_review: bool = True
    branches: tuple[str, ...] = ("main",)
    wait_minutes: int = 0
    docker: DockerTargetConfig = field(default_factory=DockerTargetConfig)
    kubernetes: KubernetesTargetConfig = field(default_factory=KubernetesTargetConfig)
    webhook: WebhookTargetConfig | None = None


@dataclass(frozen=True)
class DeployConfig:
    stages: tuple[str, ...] = ("staging", "production")
    environments: dict[str, EnvironmentConfig] = field(default_factory=dict)
    push: bool = True
    remote: str = "origin"
    tolerance: float = 0.0


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
            target=spec["target"],
            url=spec.get("url"),
            reviewers=tuple(spec.get("reviewers", ())),
            prevent_self_review=spec.get("prevent_self_review", True),
            branches=tuple(spec.get("branches", ("main",))),
            wait_minutes=spec.get("wait_minutes", 0),
            docker=DockerTargetConfig(**_with_env(spec.get("docker", {}))),
            kubernetes=KubernetesTargetConfig(**_with_env(spec.get("kubernetes", {}))),
            webhook=WebhookTargetConfig(**webhook) if webhook else None,
        )
    return DeployConfig(
        stages=tuple(raw.get("stages", ("staging", "production"))),
        environments=environments,
        push=raw.get("push", True),
        remote=raw.get("remote", "origin"),
        tolerance=raw.get("tolerance", 0.0),
    )


def env_value(value: str | float | bool) -> str:
    """An environment variable's value as mlcd.yaml may write it: `0.2` and `true` need no quotes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _with_env(settings: dict[str, Any]) -> dict[str, Any]:
    return {**settings, "env": {name: env_value(value) for name, value in (settings.get("env") or {}).items()}}


@dataclass(frozen=True)
class EffectFloors:
    """The smallest shift worth an alarm, whatever the p-value: PSI for numbers, Jensen–Shannon distance for
    categories."""

    psi: float = 0.1
    js: float = 0.1


@dataclass(frozen=True)
class PredictionLogConfig:
    """What `mlcd serve` logs; off while ``path`` is None."""

    path: str | None = None
    sample_rate: float = 1.0
    rotate_mb: float = 64
    rotate_minutes: float = 60
    compress: bool = False
    max_queue: int = 10_000


@dataclass(frozen=True)
class MonitoringConfig:
    logs: str | None = None
    window: str | None = None
    alpha: float = 0.05
    min_effect: EffectFloors = field(default_factory=EffectFloors)
    min_rows: int = 500
    bins: int = 10
    max_violation_rate: float = 0.01
    prediction_log: PredictionLogConfig = field(default_factory=PredictionLogConfig)


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
    csv = data.get("csv", {})
    splits = data.get("splits", {})
    reference = data.get("reference", {})
    contract = raw["contract"]
    columns = tuple(
        ColumnSpec(
            name=name,
            dtype=spec["dtype"],
            nullable=spec.get("nullable", False),
            min=spec.get("min"),
            max=spec.get("max"),
            allowed=tuple(spec["allowed"]) if "allowed" in spec else None,
            feature=spec.get("feature", True),
        )
        for name, spec in contract["columns"].items()
    )
    metrics_raw = raw.get("metrics") or {"accuracy": None}
    metrics: dict[str, Direction] = {
        name: (options or {}).get("direction", DEFAULT_DIRECTIONS[name]) for name, options in metrics_raw.items()
    }
    gates = raw.get("gates", {})
    model = raw["model"]
    drift = raw.get("drift", {})
    return Config(
        root=root,
        source=source,
        data=DataConfig(
            path=data["path"],
            format=data.get("format"),
            csv=CsvOptions(
                delimiter=csv.get("delimiter", ","),
                encoding=csv.get("encoding", "utf-8"),
                na_values=tuple(csv.get("na_values", ())),
            ),
            train=splits.get("train"),
            test=splits.get("test"),
            reference_rev=reference.get("rev"),
            reference_path=reference.get("path"),
        ),
        contract=Contract(
            label=contract["label"],
            columns=columns,
            unique=tuple(contract.get("unique", ())),
            strict=contract.get("strict", True),
        ),
        model=ModelConfig(
            name=model["name"], path=model["path"], trusted_types=tuple(model.get("trusted_types", ()))
        ),
        metrics=metrics,
        quality=QualityConfig(**raw.get("quality", {})),
        drift=DriftConfig(
            **{k: v for k, v in drift.items() if k != "columns"},
            columns=tuple(drift["columns"]) if "columns" in drift else None,
        ),
        slices=tuple(raw.get("slices", ())),
        train=TrainConfig(**raw.get("train", {})),
        evaluate=EvaluateConfig(**raw.get("evaluate", {})),
        gates=GatesConfig(
            metrics=tuple(MetricGate(metric=name, **spec) for name, spec in gates.get("metrics", {}).items()),
            max_slice_gap=dict(gates.get("max_slice_gap", {})),
            require_data_tests=gates.get("require_data_tests", True),
            noise=NoiseConfig(**gates.get("noise", {})),
        ),
        compare=CompareConfig(**raw.get("compare", {})),
        package=PackageConfig(
            **{k: v for k, v in raw.get("package", {}).items() if k != "requirements"},
            requirements=tuple(raw.get("package", {}).get("requirements", ())),
        ),
        deploy=build_deploy(raw.get("deploy", {})),
        monitoring=build_monitoring(raw.get("monitoring", {})),
    )


def build_monitoring(raw: dict[str, Any]) -> MonitoringConfig:
    rest = {k: v for k, v in raw.items() if k not in ("min_effect", "prediction_log")}
    return MonitoringConfig(**rest, min_effect=EffectFloors(**raw.get("min_effect", {})),
                            prediction_log=PredictionLogConfig(**raw.get("prediction_log", {})))
