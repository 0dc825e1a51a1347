"""`mlcd shadow` on 1,000,000 logged rows, next to `mlcd predict` scoring the same rows with the same model.

Made once, with a fixed seed: a logistic regression (one-hot encoded category, five numbers) saved with skops,
a day of prediction logs in the writer's format (rotated JSON Lines files, production's answer in each row,
10% of them from a different model so there is churn to count), and the same rows' features as a CSV. Both
commands run in this process through ``mlcd.cli.main``, so neither pays for an interpreter's start.
Timed: ``mlcd shadow`` end to end (read the logs, score the candidate, flip rate, confusion, per slice,
the report) and ``mlcd predict MODEL rows.csv out.csv`` (contract checks on every row, scoring, writing).
Replay does more than scoring (reading JSON, comparing); the ratio says what that costs.
Run: python benchmarks/bench_shadow.py [--rows N] [--files N]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

CONFIG = """\
version: 1
data: {path: rows.csv}
contract:
  label: y
  columns:
    y: {dtype: category, allowed: ["no", "yes"]}
    plan: {dtype: category, allowed: [basic, plus, pro]}
    x0: {dtype: float}
    x1: {dtype: float}
    x2: {dtype: float}
    x3: {dtype: float}
    x4: {dtype: float}
slices: [plan]
model: {name: bench, path: model.skops}
monitoring: {logs: logs}
gates: {max_prediction_churn: 0.5}
"""
FEATURES = ["plan", "x0", "x1", "x2", "x3", "x4"]
START = pd.Timestamp("2024-05-01", tz="UTC")


def features(rng: np.random.Generator, rows: int) -> pd.DataFrame:
    frame = pd.DataFrame({f"x{i}": rng.normal(0.0, 1.0, rows).round(6) for i in range(5)})
    frame.insert(0, "plan", rng.choice(np.array(["basic", "plus", "pro"]), rows, p=[0.6, 0.3, 0.1]))
    return frame


def train(directory: Path, rng: np.random.Generator) -> None:
    import skops.io
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame = features(rng, 5000)
    label = np.where(frame["x0"] + 0.5 * frame["x1"] + (frame["plan"] == "pro") + rng.normal(0, 0.5, 5000) > 0,
                     "yes", "no")
    encode = ColumnTransformer([("plan", OneHotEncoder(), ["plan"])], remainder="passthrough")
    skops.io.dump(make_pipeline(encode, LogisticRegression()).fit(frame, label), directory / "model.skops")


def write_logs(directory: Path, rows: int, files: int, rng: np.random.Generator) -> pd.DataFrame:
    from mlcd.monitoring.log_writer import log_file_name

    frame = features(rng, rows)
    ts = START + pd.to_timedelta(np.sort(rng.random(rows)) * 86_400, unit="s")
    score = frame["x0"] + 0.5 * frame["x1"] + (frame["plan"] == "pro")
    other = rng.random(rows) < 0.1  # rows answered by a different model: churn to find
    score = np.where(other, score + rng.normal(0, 1.0, rows), score)
    logged = pd.DataFrame({"ts": ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "model": "bench", "model_version": "prod",
                           "request_id": [f"{i:016x}" for i in range(rows)], **frame,
                           "prediction": np.where(score > 0, "yes", "no")})
    (directory / "logs").mkdir()
    for n, part in enumerate(np.array_split(np.arange(rows), files)):
        chunk = logged.iloc[part]
        opened = pd.Timestamp(chunk["ts"].iloc[0][:19], tz="UTC").to_pydatetime()
        chunk.to_json(directory / "logs" / log_file_name(opened, n), orient="records", lines=True)
    return frame


def timed(argv: list[str]) -> float:
    from mlcd.cli import main

    start = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        code = main(argv)
    elapsed = time.perf_counter() - start
    if code not in (0, 3):
        raise SystemExit(f"mlcd {argv[0]} exited {code}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=16)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as temp:
        directory = Path(temp)
        (directory / "mlcd.yaml").write_text(CONFIG, encoding="utf-8")
        train(directory, rng)
        frame = write_logs(directory, args.rows, args.files, rng)
        frame.to_csv(directory / "rows.csv", index=False)
        config = str(directory / "mlcd.yaml")
        shadow = timed(["shadow", "--config", config, "--logs", str(directory / "logs"),
                        "--json", str(directory / "shadow.json"), "--markdown", str(directory / "shadow.md")])
        predict = timed(["predict", "--config", config, str(directory / "model.skops"), str(directory / "rows.csv"),
                         str(directory / "out.csv")])
        churn = json.loads((directory / "shadow.json").read_text())["churn"]
    print(f"rows: {args.rows:,} in {args.files} log files; churn found: {churn['rate']:.2%} of {churn['rows']:,}")
    print(f"mlcd shadow (replay)   {shadow:7.2f} s  {args.rows / shadow:12,.0f} rows/s")
    print(f"mlcd predict (score)   {predict:7.2f} s  {args.rows / predict:12,.0f} rows/s")
    print(f"replay / predict time: {shadow / predict:.2f}×")


if __name__ == "__main__":
    main()
