"""A small project for shadow replay tests: a prediction log of 1,000 rows that production answered with
``x > 0``, and real model files that answer ``x > threshold`` (so the true flip rate is known)."""

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
