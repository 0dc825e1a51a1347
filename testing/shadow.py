"""Prediction logs for shadow replay tests, with a known churn: a small project whose 1,000 logged rows
production answered with ``x > 0`` and real model files that answer ``x > threshold``; and the template
project's prepared rows, logged with the trained model's answers changed on a known share of rows."""

from __future__ import annotations

import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from mlcd.monitoring.log_writer import PredictionLogWriter, make_row

T0 = datetime(2024, 5, 1, tzinfo=timezone.utc)
CONFIG = """\
    version: 1
    data: {path: data.csv}
    contract:
      label: y
      columns:
        y: {dtype: category, allowed: ["no", "yes"]}
        x: {dtype: float}
        plan: {dtype: category, allowed: [basic, pro]}
    slices: [plan]
    model: {name: demo, path: models/model.skops}
    monitoring: {logs: logs}
"""


def save_threshold_model(path: Path, threshold: float) -> None:
    """A real skops file: labels 'yes' above ``threshold`` of x, whatever the plan."""
    import skops.io
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    x = np.linspace(-5, 5, 401)
    frame = pd.DataFrame({"x": x, "plan": "basic"})
    model = make_pipeline(ColumnTransformer([("x", "passthrough", ["x"])]), LogisticRegression(C=1e6))
    model.fit(frame, np.where(x > threshold, "yes", "no"))
    path.parent.mkdir(parents=True, exist_ok=True)
    skops.io.dump(model, path)


def make_logged_project(root: Path) -> Path:
    """mlcd.yaml and 1,000 logged rows in ``root/logs``, production's answer ``x > 0``."""
    (root / "mlcd.yaml").write_text(textwrap.dedent(CONFIG), encoding="utf-8")
    rng = np.random.default_rng(3)
    xs = rng.uniform(-5, 5, 1000)
    plans = rng.choice(["basic", "pro"], 1000)
    with PredictionLogWriter(root / "logs", clock=T0.timestamp) as writer:
        for i, (x, plan) in enumerate(zip(xs, plans, strict=True)):
            writer.log(make_row(model="demo", model_version="prod1", request_id=f"r{i}",
                                features={"x": float(x), "plan": str(plan)},
                                prediction="yes" if x > 0 else "no", ts=T0 + timedelta(seconds=i)))
    return root


PENGUIN_FEATURES = ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"]
SPECIES = ["Adelie", "Chinstrap", "Gentoo"]


def log_penguin_traffic(repo: Path, logs: Path, flip_every: int, files: tuple[str, ...] = ("train.csv", "test.csv"),
                        ) -> tuple[int, int]:
    """The template project's prepared ``files`` as production traffic, logged by the real log writer; the
    logged answer is the trained model's, except on every ``flip_every``-th row, where it is another species.
    Returns (rows logged, rows whose logged answer differs from the model's)."""
    from mlcd.model import load_model

    traffic = pd.concat([pd.read_csv(repo / "data" / "prepared" / name) for name in files], ignore_index=True)
    answers = load_model(repo / "models" / "model.skops").predict(traffic[PENGUIN_FEATURES])
    changed = 0
    with PredictionLogWriter(logs) as writer:
        for i, (features, label) in enumerate(zip(traffic[PENGUIN_FEATURES].to_dict("records"), answers,
                                                  strict=True)):
            if i % flip_every == 0:
                label, changed = next(s for s in SPECIES if s != label), changed + 1
            plain = {k: None if isinstance(v, float) and np.isnan(v) else v for k, v in features.items()}
            writer.log(make_row(model="penguins-classifier", model_version="v0.0.1", request_id=f"r{i}",
                                features=plain, prediction=str(label)))
    return len(traffic), changed
