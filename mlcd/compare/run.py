"""`mlcd compare`: the PR head against the base branch and production, through the gates."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from mlcd import git
from mlcd.compare.base_model import BaseScoring, score_base_model
from mlcd.compare.importance import importance_comparison
from mlcd.compare.noise import NoiseVerdict, bootstrap_verdict, mcnemar_verdict, paired_bootstrap_verdict
from mlcd.compare.snapshot import BaselineUnreadable, Snapshot, changed_data, changed_params, load_snapshot
from mlcd.config import Config
from mlcd.data.result import read_result
from mlcd.errors import InputError
from mlcd.evaluation.gates import FAILING, GateResult, apply_gates, passed
from mlcd.evaluation.metrics import Predictions, compute_metrics
from mlcd.evaluation.run import read_predictions
from mlcd.evaluation.slices import largest_gap
from mlcd.record import History

HISTORY_LENGTH = 10


@dataclass
class Comparison:
    head: Snapshot
    base: Snapshot | None
    production: Snapshot | None
    gates: list[GateResult]
    directions: dict[str, str]
    noise: dict[str, dict[str, Any]] = field(default_factory=dict)
    params_changed: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    data_changed: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    data_tests: dict[str, Any] | None = None
    history: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    pairing: str | None = None  # how the base's predictions were paired with the head's, or why they were not
    importance: dict[str, Any] | None = None  # permutation importance of head and base on this holdout

    @property
    def passed(self) -> bool:
        return passed(self.gates)

    @property
    def failing(self) -> list[GateResult]:
        return [gate for gate in self.gates if gate.verdict in FAILING]

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "head": asdict(self.head),
            "base": asdict(self.base) if self.base else None,
            "production": asdict(self.production) if self.production else None,
            "gates": [g.as_dict() for g in self.gates],
            "directions": self.directions,
            "noise": self.noise,
            "params_changed": {k: list(v) for k, v in self.params_changed.items()},
            "data_changed": {k: list(v) for k, v in self.data_changed.items()},
            "data_tests": self.data_tests,
            "history": [[label, metrics] for label, metrics in self.history],
            "pairing": self.pairing,
            "importance": self.importance,
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Comparison:
        def snapshot(raw: Mapping[str, Any] | None) -> Snapshot | None:
            return Snapshot(**raw) if raw else None

        head = snapshot(document["head"])
        assert head is not None
        return cls(
            head=head, base=snapshot(document.get("base")), production=snapshot(document.get("production")),
            gates=[GateResult(**g) for g in document["gates"]], directions=dict(document["directions"]),
            noise=dict(document.get("noise", {})),
            params_changed={k: (v[0], v[1]) for k, v in document.get("params_changed", {}).items()},
            data_changed={k: (v[0], v[1]) for k, v in document.get("data_changed", {}).items()},
            data_tests=document.get("data_tests"),
            history=[(label, metrics) for label, metrics in document.get("history", [])],
            pairing=document.get("pairing"),
            importance=document.get("importance"),
        )


def default_base(env: Mapping[str, str]) -> str | None:
    """On a pull request, the base branch as fetched from origin."""
    base_ref = env.get("GITHUB_BASE_REF")
    return f"origin/{base_ref}" if base_ref else None


def noise_check(
    gate: GateResult, head: Predictions | None, base: Predictions | None, confidence: float, resamples: int
) -> NoiseVerdict | None:
    """Whether a regression gate's difference is within holdout noise; None when it cannot be told."""
    if gate.metric is None or gate.value is None or gate.reference is None or head is None:
        return None
    metric = gate.metric
    if metric in REGRESSION_METRICS:
        head, base = as_numbers(head), (as_numbers(base) if base is not None else None)
    paired = (base is not None and len(base.y_true) == len(head.y_true)
              and bool(np.all(base.y_true == head.y_true)))

    def score(predictions: Predictions, indices: np.ndarray[Any, Any]) -> float:
        value = compute_metrics([metric], predictions.subset(indices))[metric]
        return float("nan") if value is None else value

    difference = gate.value - gate.reference
    if paired and base is not None:
        if metric in {"accuracy", "balanced_accuracy"}:
            return mcnemar_verdict(head.y_true, head.y_pred, base.y_pred, alpha=1 - confidence)
        paired_base = base
        return paired_bootstrap_verdict(lambda rows: score(head, rows) - score(paired_base, rows), len(head.y_true),
                                        difference, resamples, confidence)
    return bootstrap_verdict(lambda rows: score(head, rows), len(head.y_true), difference, resamples, confidence)


REGRESSION_METRICS = frozenset({"rmse", "mae", "r2"})


def as_numbers(predictions: Predictions) -> Predictions:
    """Regression predictions as floats (predictions.csv is read as text, which classification needs)."""
    return Predictions(predictions.y_true.astype(float), predictions.y_pred.astype(float))


def soften_noisy_failures(
    gates: list[GateResult], head: Predictions | None, base: Predictions | None, config: Config,
    why_unpaired: str | None = None,
) -> tuple[list[GateResult], dict[str, dict[str, Any]]]:
    """A failing regression gate whose difference is within noise passes, and says so; an unpaired test
    (the head's rows alone) says why nothing was paired."""
    noise: dict[str, dict[str, Any]] = {}
    settings = config.gates.noise
    if settings.method == "off":
        return gates, noise
    confidence, resamples = settings.confidence, settings.resamples
    out = []
    for gate in gates:
        if gate.verdict == "fail" and gate.kind in ("regression_vs_base", "regression_vs_production"):
            verdict = noise_check(gate, head, base if gate.kind == "regression_vs_base" else None,
                                  confidence, resamples)
            if verdict is not None:
                if verdict.method == "bootstrap":
                    why = (why_unpaired if gate.kind == "regression_vs_base" else None) or \
                        "no predictions of the baseline on this holdout"
                    verdict = replace(verdict, detail=f"{verdict.detail} (unpaired: {why})")
                noise[gate.name] = asdict(verdict)
                if verdict.within_noise:
                    gate = replace(gate, verdict="pass", reason=f"{gate.reason}; but {verdict.detail}")
                else:
                    gate = replace(gate, reason=f"{gate.reason}; {verdict.detail}")
        out.append(gate)
    return out, noise


def metric_history(root: Path, metrics_file: str, limit: int = HISTORY_LENGTH) -> list[tuple[str, dict[str, Any]]]:
    """(short commit, metrics) for the last commits that changed the metrics file, oldest first."""
    log = git.run(root, "log", f"-n{limit}", "--first-parent", "--format=%h", "--", metrics_file, check=False)
    history = []
    for short in reversed(log.stdout.split()):
        shown = git.run(root, "show", f"{short}:{metrics_file}", check=False)
        if shown.returncode != 0:
            continue
        try:
            history.append((short, json.loads(shown.stdout)))
        except json.JSONDecodeError:
            continue
    return history


def _data_only(hashes: Mapping[str, str], config: Config) -> dict[str, str]:
    """DVC outputs other than the evaluation's own files (metrics, predictions, gate verdicts)."""
    evaluation = {config.evaluate.metrics_file, config.evaluate.predictions_file, config.evaluate.gates_file}
    return {path: digest for path, digest in hashes.items() if path not in evaluation}


def pair_with_base(config: Config, base: Snapshot | None,
                   base_predictions: Path | None) -> tuple[Snapshot | None, BaseScoring]:
    """The base's predictions on this holdout (given, or made by scoring the base commit's model), with the
    base's numbers measured on those rows when mlcd scored them itself; failing that, the numbers the
    delivery of the base commit evaluated (its registration), else the metrics file at the base commit."""
    if base_predictions is not None:
        return base, BaseScoring(read_predictions(base_predictions), f"the base predictions in {base_predictions}")
    if base is None or base.rev is None:
        return base, BaseScoring(None, "", "no base revision")
    scoring = score_base_model(config, base.rev)
    if scoring.predictions is None:
        return base_from_record(config, base), scoring
    return measured_on_this_holdout(base, scoring.predictions, config, scoring.detail), scoring


def base_from_record(config: Config, base: Snapshot) -> Snapshot:
    """The base with the metrics its delivery evaluated, when the base commit was registered as a version
    (deliveries train without committing the metrics file, so the file at the base commit may be older)."""
    registered = History.read(config.root, config.model.name).version_at(base.rev) if base.rev else None
    if registered is None or not registered.metrics:
        return base
    return replace(base, metrics={**base.metrics, **registered.metrics}, recorded=registered.created.isoformat(),
                   source=f"the evaluation recorded when {registered.version} was registered (`{registered.tag}`)")


def measured_on_this_holdout(base: Snapshot, predictions: Predictions, config: Config, source: str) -> Snapshot:
    """The base's configured metrics as its model scores on the head's holdout (the same rows, so that the
    difference is the models' and not the data's); other recorded figures (slices) stay as recorded."""
    names = list(config.metrics)
    scored = predictions if config.evaluate.task == "classification" else as_numbers(predictions)
    measured = {name: value for name, value in compute_metrics(names, scored).items() if value is not None}
    return replace(base, metrics={**base.metrics, **measured}, source=source, recorded=None)


def production_from_record(config: Config, metrics_file: str, params_file: str) -> Snapshot | None:
    """What runs in production by the promotion record (the tags `mlcd promote` writes, read as GTO reads
    them: annotated tags only, an unassignment ends an assignment); None when nothing does. Its numbers are
    the metrics that version was evaluated with when it was registered; a record without them falls back
    to the metrics file at the version's commit (a delivery trains without committing that file, so it
    may be older than the model)."""
    history = History.read(config.root, config.model.name)
    current = history.current("production")
    if current is None:
        return None
    at_commit = load_snapshot(config.root, "production", current.commit, metrics_file, params_file)
    registered = history.version(current.version) if current.version else None
    metrics = current.metrics or (registered.metrics if registered else {})
    if not metrics:
        return replace(at_commit, source=f"{metrics_file} at `{current.commit[:7]}`, the commit of `{current.tag}`")
    return replace(at_commit, metrics=dict(metrics), recorded=current.created.isoformat(),
                   source=f"the promotion record of {current.version} (`{current.tag}`)")


def compare(
    config: Config,
    base_rev: str | None,
    production_rev: str | None,
    data_test_file: Path | None = None,
    base_predictions: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Comparison:
    env = os.environ if env is None else env
    root = config.root
    metrics_file, params_file = config.evaluate.metrics_file, config.train.params
    head = load_snapshot(root, "head", None, metrics_file, params_file)
    if not head.metrics:
        raise InputError(f"{root / metrics_file} does not exist or is empty",
                         fix="run `mlcd train` (or `mlcd evaluate`) before `mlcd compare`")
    base_rev = base_rev or config.compare.base or default_base(env)
    base = None
    unreadable: dict[str, str] = {}  # baseline → why it could not be read
    if base_rev:
        try:
            base = load_snapshot(root, "base", git.ensure_revision(root, base_rev), metrics_file, params_file)
        except BaselineUnreadable as exc:
            unreadable["regression_vs_base"] = exc.one_line()
    base, pairing = pair_with_base(config, base, base_predictions)
    production = None
    production_rev = production_rev or config.compare.production
    try:
        if production_rev:
            commit = git.resolve_commit(root, production_rev)
            if commit is None:
                raise InputError(f"production revision '{production_rev}' does not exist",
                                 fix="pass --production with an existing tag or commit, or fetch tags")
            production = load_snapshot(root, "production", commit, metrics_file, params_file)
        else:
            production = production_from_record(config, metrics_file, params_file)
    except BaselineUnreadable as exc:
        unreadable["regression_vs_production"] = exc.one_line()
    data_tests = read_result(data_test_file, if_present=True) if data_test_file else None
    gaps = head.metrics.get("slice_gaps", {})
    largest = {metric: largest_gap(gaps, metric) for metric in config.metrics}
    gates = apply_gates(config.gates, config.metrics, {m: head.metric(m) for m in config.metrics}, largest,
                        base={m: base.metric(m) for m in config.metrics} if base else None,
                        production={m: production.metric(m) for m in config.metrics} if production else None,
                        data_tests_passed=data_tests.passed if data_tests else None)
    gates = [replace(gate, verdict="error", reason=f"the baseline could not be read: {unreadable[gate.kind]}")
             if gate.kind in unreadable else gate for gate in gates]
    head_predictions = read_predictions(config.resolve(config.evaluate.predictions_file))
    gates, noise = soften_noisy_failures(gates, head_predictions, pairing.predictions, config,
                                         why_unpaired=pairing.summary)
    return Comparison(
        head=head, base=base, production=production, gates=gates, directions=dict(config.metrics), noise=noise,
        params_changed=changed_params(head.params, base.params) if base else {},
        data_changed=changed_data(_data_only(head.data, config), _data_only(base.data, config)) if base else {},
        data_tests=data_tests.document if data_tests else None,
        history=metric_history(root, metrics_file, config.compare.history),
        pairing=pairing.note(),
        importance=importance_comparison(config, pairing),
    )
