"""A brand-new user repository: only a CSV and a first training script written to mlcd's documented
contract (the environment of its DVC stage), committed on main. What `mlcd init --train` starts from."""

from __future__ import annotations

import shutil
from pathlib import Path

from testing.repos import git

TRAIN_PY = '''\
"""Train a penguin species classifier: the training split in, a skops model file out."""

import os

import pandas as pd
import skops.io
from sklearn.compose import make_column_selector, make_column_transformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

frame = pd.read_csv(os.environ.get("MLCD_TRAIN_DATA", "data.csv"))
label = os.environ.get("MLCD_LABEL", "species")
features = frame.drop(columns=[label])
numbers = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
categories = make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore"))
model = make_pipeline(
    make_column_transformer((numbers, make_column_selector(dtype_include="number")),
                            (categories, make_column_selector(dtype_exclude="number"))),
    LogisticRegression(max_iter=1000, random_state=int(os.environ.get("MLCD_SEED", "42"))),
)
model.fit(features, frame[label])
skops.io.dump(model, os.environ.get("MLCD_MODEL_PATH", "model.skops"))
'''


def make_fresh_repo(target: Path, csv: Path) -> Path:
    """``target`` as a git repository holding ``csv`` as data.csv and train.py, one commit on main."""
    target.mkdir(parents=True)
    git(target, "init", "-q", "-b", "main")
    shutil.copy(csv, target / "data.csv")
    (target / "train.py").write_text(TRAIN_PY)
    git(target, "add", "data.csv", "train.py")
    git(target, "commit", "-qm", "Penguins and a training script")
    return target


REGRESSION_TRAIN_PY = '''\
"""Fit a smooth additive model (splines + ridge) to the target: the training split in, a skops file out."""

import os

import pandas as pd
import skops.io
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import SplineTransformer

ALPHA = 1.0

frame = pd.read_csv(os.environ.get("MLCD_TRAIN_DATA", "data.csv"))
label = os.environ.get("MLCD_LABEL", "target")
model = make_pipeline(SplineTransformer(n_knots=5), Ridge(alpha=ALPHA))
model.fit(frame.drop(columns=[label]), frame[label])
skops.io.dump(model, os.environ.get("MLCD_MODEL_PATH", "model.skops"))
'''


def make_regression_repo(target: Path, rows: int = 1500) -> Path:
    """A regression project mlcd's template knows nothing of: Friedman's benchmark function (ten numeric
    features, a float target, noise of standard deviation 1) and the user's own spline-ridge script."""
    import pandas as pd
    from sklearn.datasets import make_friedman1

    features, target_values = make_friedman1(n_samples=rows, noise=1.0, random_state=7)
    frame = pd.DataFrame(features, columns=[f"x{index}" for index in range(features.shape[1])])
    frame["target"] = target_values
    target.mkdir(parents=True)
    git(target, "init", "-q", "-b", "main")
    frame.to_csv(target / "data.csv", index=False, float_format="%.6f")
    (target / "train.py").write_text(REGRESSION_TRAIN_PY)
    git(target, "add", "data.csv", "train.py")
    git(target, "commit", "-qm", "Friedman data and a training script")
    return target
