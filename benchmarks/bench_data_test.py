"""Cost of `mlcd data test`'s schema check next to plain pandera and a hand-written pandas check, in one run.

The frame (default 1,000,000 rows × 20 columns, fixed seed) is made in memory, so reading the file is not
timed. The same rules are checked three ways: mlcd's contract validation (schema built from a Contract,
pandera, findings), a pandera schema written by hand, and hand-written vectorised pandas. Target: mlcd
≤ 2× plain pandera. The full data test on a frame (schema and quality checks, then the label-leakage check
on its own) is timed too.
Run: python benchmarks/bench_data_test.py [--rows N] [--repeat N]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

from mlcd.config import ColumnSpec, Config, Contract
from mlcd.config.model import DataConfig, ModelConfig, QualityConfig
from mlcd.data.contract import contract_checks, validate_contract
from mlcd.data.leakage import label_leakage_check
from mlcd.data.quality import quality_checks

TARGET_RATIO = 2.0
LABELS = ("low", "mid", "high")
CATEGORIES = ("a", "b", "c", "d", "e")


def make_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {"id": np.arange(rows), "label": pd.Series(rng.choice(LABELS, rows), dtype="str")}
    for i in range(7):
        values = rng.normal(50.0, 10.0, rows)
        values[rng.random(rows) < 0.01] = np.nan
        data[f"f{i}"] = values
    for i in range(4):
        data[f"n{i}"] = rng.integers(0, 1000, rows)
    counts = rng.integers(0, 100, rows).astype("float64")  # an int column with gaps reads as float
    counts[rng.random(rows) < 0.01] = np.nan
    data["count"] = counts
    for i in range(4):
        data[f"c{i}"] = pd.Series(rng.choice(CATEGORIES, rows), dtype="str")
    data["note"] = pd.Series(rng.choice(["x", "y", "z"], rows), dtype="str")
    data["flag"] = rng.random(rows) < 0.5
    return pd.DataFrame(data)


def make_contract() -> Contract:
    columns = [ColumnSpec("id", "int", min=0), ColumnSpec("label", "category", allowed=LABELS)]
    columns += [ColumnSpec(f"f{i}", "float", nullable=True, min=-1000, max=1000) for i in range(7)]
    columns += [ColumnSpec(f"n{i}", "int", min=0, max=999) for i in range(4)]
    columns.append(ColumnSpec("count", "int", nullable=True, min=0, max=99))
    columns += [ColumnSpec(f"c{i}", "category", allowed=CATEGORIES) for i in range(4)]
    columns += [ColumnSpec("note", "string"), ColumnSpec("flag", "bool")]
    return Contract(label="label", columns=tuple(columns), unique=("id",), strict=True)


def hand_pandera() -> pa.DataFrameSchema:
    columns = {"id": pa.Column(int, pa.Check.ge(0)), "label": pa.Column(str, pa.Check.isin(LABELS))}
    columns |= {f"f{i}": pa.Column(float, [pa.Check.ge(-1000), pa.Check.le(1000)], nullable=True) for i in range(7)}
    columns |= {f"n{i}": pa.Column(int, [pa.Check.ge(0), pa.Check.le(999)]) for i in range(4)}
    columns["count"] = pa.Column(float, [pa.Check.ge(0), pa.Check.le(99)], nullable=True)
    columns |= {f"c{i}": pa.Column(str, pa.Check.isin(CATEGORIES)) for i in range(4)}
    columns |= {"note": pa.Column(str), "flag": pa.Column(bool)}
    return pa.DataFrameSchema(columns, strict=True, unique=["id"])


def hand_pandas(frame: pd.DataFrame) -> list[str]:
    """The same rules in plain vectorised pandas, as someone would write them without a schema library."""
    problems = []
    expected = {"id", "label", "count", "note", "flag"} | {f"f{i}" for i in range(7)} | {f"n{i}" for i in range(4)} \
        | {f"c{i}" for i in range(4)}
    if set(frame.columns) != expected:
        problems.append("columns")
    for name in [f"f{i}" for i in range(7)]:
        values = frame[name]
        if values.dtype != "float64" or ((values < -1000) | (values > 1000)).any():
            problems.append(name)
    for name, high in [*((f"n{i}", 999) for i in range(4)), ("count", 99)]:
        values = frame[name]
        present = values.dropna()
        if (present != present.round()).any() or ((present < 0) | (present > high)).any():
            problems.append(name)
        if name != "count" and values.isna().any():
            problems.append(name)
    for name, allowed in [("label", LABELS), *((f"c{i}", CATEGORIES) for i in range(4))]:
        if not frame[name].isin(allowed).all():
            problems.append(name)
    if frame["id"].duplicated().any() or (frame["id"] < 0).any():
        problems.append("id")
    if frame["flag"].dtype != bool or frame["note"].isna().any():
        problems.append("flag/note")
    return problems


def best_of(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    frame = make_frame(args.rows)
    contract = make_contract()
    schema = hand_pandera()
    config = Config(
        root=Path("."), source="benchmark", data=DataConfig(path="benchmark.csv"), contract=contract,
        model=ModelConfig(name="benchmark", path="model.skops"), metrics={"accuracy": "higher"},
        quality=QualityConfig(min_class_fraction=0.1, min_rows_per_slice=100), slices=("c0", "c1"),
    )

    # Every way must agree that the frame is clean, or the comparison means nothing.
    assert validate_contract(frame, contract) == [], "mlcd found problems in clean data"
    schema.validate(frame, lazy=True)
    assert hand_pandas(frame) == [], "the pandas check found problems in clean data"

    timings = {
        "mlcd contract (schema)": best_of(args.repeat, lambda: validate_contract(frame, contract)),
        "pandera by hand": best_of(args.repeat, lambda: schema.validate(frame, lazy=True)),
        "pandas by hand": best_of(args.repeat, lambda: hand_pandas(frame)),
        "mlcd schema + quality": best_of(args.repeat,
                                         lambda: (contract_checks(frame, contract), quality_checks(frame, config))),
        "  + label leakage": best_of(args.repeat, lambda: label_leakage_check(frame, contract)),
    }
    print(f"{len(frame):,} rows × {len(frame.columns)} columns, best of {args.repeat}")
    for name, seconds in timings.items():
        print(f"  {name:<24} {seconds * 1000:9.1f} ms")
    mlcd = timings["mlcd contract (schema)"]
    ratio = mlcd / timings["pandera by hand"]
    print(f"mlcd / pandera        : {ratio:.2f}x")
    print(f"mlcd / pandas by hand : {mlcd / timings['pandas by hand']:.2f}x")
    verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
    print(f"target mlcd ≤ {TARGET_RATIO:.0f}x pandera: {verdict} ({ratio:.2f}x)")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    raise SystemExit(main())
