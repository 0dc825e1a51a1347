"""`mlcd drift` end to end on 1,000,000 logged rows × 20 features, next to a straightforward competitor.

Made once, with a fixed seed: a 10,000-row training reference and a week of prediction logs written as
rotated JSON Lines files (the writer's format) in a temp directory. From the second half of the week,
one numeric feature shifts by 0.5σ and one categorical feature's mix changes, so the report has something
to find. Timed: reading the window (mlcd.monitoring.log_reader), the statistics (tests, Holm, effects,
contract skew, time buckets) and the report (JSON and Markdown). Target: under 10 s in all.

The competitor is what one writes without mlcd: ``pandas.read_json(lines=True)`` per file, then per
column scipy's ``ks_2samp`` / ``chi2_contingency`` and a PSI by hand. Evidently's DataDriftPreset is the
natural one, but evidently 0.7.23 (the newest on PyPI) does not import with pandas 3, which mlcd uses; with
``--evidently-python`` it runs in another interpreter (e.g. a venv with ``pandas<3 evidently``) on the same
frames, handed over as Parquet, and only its analysis is timed.
Run: python benchmarks/bench_drift.py [--rows N] [--files N] [--no-competitor] [--evidently-python PATH]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial.distance import jensenshannon

from mlcd.config import ColumnSpec, Contract
from mlcd.config.model import DriftConfig, MonitoringConfig
from mlcd.drift import monitored_columns
from mlcd.monitoring.drift import analyse, contract_skew
from mlcd.monitoring.log_reader import FieldKind, Window, field_kind, read_window
from mlcd.monitoring.log_writer import log_file_name
from mlcd.monitoring.report import Context, markdown, to_json

TARGET_SECONDS = 10.0
CATEGORIES = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta")
SHARES = np.array([0.3, 0.25, 0.2, 0.12, 0.08, 0.05])
LABELS = ("no", "yes")
START = pd.Timestamp("2024-05-01", tz="UTC")
WEEK = pd.Timedelta(days=7)


def make_contract() -> Contract:
    columns = [ColumnSpec("label", "category", allowed=LABELS)]
    columns += [ColumnSpec(f"x{i}", "float", nullable=True, min=-1000, max=1000) for i in range(10)]
    columns += [ColumnSpec(f"c{i}", "category", allowed=CATEGORIES) for i in range(10)]
    return Contract(label="label", columns=tuple(columns))


def make_features(rng: np.random.Generator, rows: int, drifted: np.ndarray | None = None) -> dict[str, object]:
    data: dict[str, object] = {}
    for i in range(10):
        values = rng.normal(50.0 + i, 10.0, rows) if i % 2 == 0 else rng.gamma(2.0, 5.0 + i, rows)
        if drifted is not None and i == 2:
            values[drifted] += 10.0  # 1σ
        data[f"x{i}"] = values
    for i in range(10):
        values = rng.choice(np.array(CATEGORIES), rows, p=SHARES)
        if drifted is not None and i == 7:
            swap = drifted & (rng.random(rows) < 0.3)
            values[swap] = "epsilon"
        data[f"c{i}"] = values
    return data


def write_logs(directory: Path, rows: int, files: int, seed: int) -> int:
    rng = np.random.default_rng(seed)
    offsets = np.sort(rng.random(rows)) * WEEK.value
    ts = START + pd.to_timedelta(offsets.astype("int64"), unit="ns")
    drifted = ts >= START + WEEK / 2
    frame = pd.DataFrame({"ts": ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "model": "bench",
                          "model_version": "3f2a9c1b7d4e", "request_id": [f"{i:032x}" for i in range(rows)],
                          **make_features(rng, rows, np.asarray(drifted))})
    proba = rng.random(rows)
    frame["prediction"] = np.where(proba > 0.5, "yes", "no")
    frame["proba_no"], frame["proba_yes"] = 1.0 - proba, proba
    size = 0
    for n, part in enumerate(np.array_split(np.arange(rows), files)):
        chunk = frame.iloc[part]
        opened = chunk["ts"].iloc[0][:19]
        path = directory / log_file_name(pd.Timestamp(opened, tz="UTC").to_pydatetime(), n)
        chunk.to_json(path, orient="records", lines=True)
        size += path.stat().st_size
    return size


def make_reference(seed: int, rows: int = 10_000) -> pd.DataFrame:
    rng = np.random.default_rng(seed + 1)
    frame = pd.DataFrame(make_features(rng, rows))
    frame["label"] = rng.choice(np.array(LABELS), rows)
    return frame


# --- the competitor -----------------------------------------------------------------------------------


def naive_read(directory: Path) -> pd.DataFrame:
    return pd.concat([pd.read_json(path, lines=True) for path in sorted(directory.glob("predictions-*.jsonl"))],
                     ignore_index=True)


def naive_analysis(reference: pd.DataFrame, current: pd.DataFrame, numeric: list[str],
                   categorical: list[str]) -> list[str]:
    drifted = []
    for name in numeric:
        ref, cur = reference[name].dropna(), current[name].dropna()
        pvalue = stats.ks_2samp(ref, cur).pvalue
        edges = np.quantile(ref, np.linspace(0, 1, 11))
        edges[0], edges[-1] = -np.inf, np.inf
        expected = np.histogram(ref, edges)[0] / len(ref) + 1e-4
        actual = np.histogram(cur, edges)[0] / len(cur) + 1e-4
        psi = float(np.sum((actual - expected) * np.log(actual / expected)))
        if pvalue < 0.05 / 20 and psi >= 0.1:
            drifted.append(name)
    for name in categorical:
        counts = pd.concat([reference[name].value_counts(), current[name].value_counts()], axis=1).fillna(0)
        pvalue = stats.chi2_contingency(counts.to_numpy().T).pvalue
        js = jensenshannon(counts.iloc[:, 0], counts.iloc[:, 1], base=2)
        if pvalue < 0.05 / 20 and js >= 0.1:
            drifted.append(name)
    return drifted


EVIDENTLY = """
import json, sys, time
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

reference, current = pd.read_parquet(sys.argv[1]), pd.read_parquet(sys.argv[2])
numeric = [c for c in reference.columns if c.startswith("x")]
definition = DataDefinition(numerical_columns=numeric, categorical_columns=[c for c in reference if c not in numeric])
started = time.perf_counter()
snapshot = Report([DataDriftPreset()]).run(Dataset.from_pandas(current, data_definition=definition),
                                           Dataset.from_pandas(reference, data_definition=definition))
seconds = time.perf_counter() - started
drifted = [m["config"]["column"] for m in snapshot.dict()["metrics"]
           if m["config"]["type"].endswith("ValueDrift") and m["value"] >= m["config"]["threshold"]]
print(json.dumps({"seconds": seconds, "drifted": drifted}))
"""


def evidently(python: str, directory: Path, reference: pd.DataFrame, current: pd.DataFrame) -> tuple[float, list[str]]:
    """Evidently's DataDriftPreset run by ``python`` on the same frames; its analysis time and drifted columns.

    At this size it picks distances (Wasserstein for numbers, Jensen–Shannon for categories) with
    threshold 0.1, so a column drifts when its value reaches the threshold.
    """
    reference.to_parquet(directory / "reference.parquet")
    current.to_parquet(directory / "current.parquet")
    done = subprocess.run([python, "-c", EVIDENTLY, str(directory / "reference.parquet"),
                           str(directory / "current.parquet")], capture_output=True, text=True, check=True)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return float(found["seconds"]), list(found["drifted"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=10, help="rotated log files the rows are spread over")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-competitor", action="store_true")
    parser.add_argument("--evidently-python", metavar="PATH",
                        help="a Python with evidently (and pandas < 3) to time DataDriftPreset on the same rows")
    args = parser.parse_args()
    contract = make_contract()
    columns = monitored_columns(contract)
    fields: dict[str, FieldKind] = {name: field_kind(contract.column(name)) for name in columns}
    fields |= {"prediction": "text", "model_version": "text"}
    reference = make_reference(args.seed)
    drift, monitoring = DriftConfig(), MonitoringConfig()

    with tempfile.TemporaryDirectory(prefix="mlcd-bench-drift-") as tmp:
        directory = Path(tmp)
        started = time.perf_counter()
        size = write_logs(directory, args.rows, args.files, args.seed)
        print(f"wrote {args.rows:,} rows × 20 features in {args.files} files ({size / 1e6:.0f} MB) "
              f"in {time.perf_counter() - started:.1f} s (not timed below)")

        started = time.perf_counter()
        log = read_window(str(directory), fields, Window())
        read = time.perf_counter() - started
        started = time.perf_counter()
        skew = contract_skew(log.frame, contract, monitoring.max_violation_rate)
        result = analyse(reference, log.frame, columns, drift, prediction=(reference["label"], "categorical"),
                         skew=skew)
        analysis = time.perf_counter() - started
        started = time.perf_counter()
        context = Context(model="bench", logs=str(directory), window="every logged row", reference="reference",
                          first=log.frame["ts"].iloc[0].to_pydatetime(), last=log.frame["ts"].iloc[-1].to_pydatetime(),
                          files_read=len(log.files_read), files_total=log.files_total)
        to_json(result, context)
        report = markdown(result, context)
        reporting = time.perf_counter() - started
        total = read + analysis + reporting
        assert len(log.frame) == args.rows, "the reader lost rows"
        print(f"mlcd drift: read {read:.2f} s · analysis {analysis:.2f} s · report {reporting:.2f} s "
              f"· total {total:.2f} s ({len(report):,} characters of Markdown)")
        skewed = result.skew.violating_rows if result.skew else 0
        print(f"  drifted: {', '.join(result.drifted) or 'nothing'}; rows breaking the contract: {skewed}")

        if not args.no_competitor:
            started = time.perf_counter()
            frame = naive_read(directory)
            naive_read_s = time.perf_counter() - started
            started = time.perf_counter()
            numeric = [n for n, k in columns.items() if k == "numeric"]
            flagged = naive_analysis(reference, frame, numeric, [n for n in columns if n not in numeric])
            naive_analysis_s = time.perf_counter() - started
            naive_total = naive_read_s + naive_analysis_s
            print(f"pandas + scipy by hand: read {naive_read_s:.2f} s · analysis {naive_analysis_s:.2f} s "
                  f"· total {naive_total:.2f} s; drifted: {', '.join(flagged) or 'nothing'}")
            print(f"read: pandas.read_json / mlcd = {naive_read_s / read:.1f}x; "
                  f"analysis: by hand / mlcd = {naive_analysis_s / analysis:.1f}x; "
                  f"total: {naive_total / total:.1f}x")
        if args.evidently_python:
            seconds, flagged = evidently(args.evidently_python, directory, reference[list(columns)],
                                         log.frame[list(columns)])
            print(f"Evidently DataDriftPreset (analysis only, frames already in memory): {seconds:.2f} s; "
                  f"drifted: {', '.join(flagged) or 'nothing'}; Evidently / mlcd analysis = {seconds / analysis:.1f}x")
    verdict = "meets" if total <= TARGET_SECONDS else "MISSES"
    print(f"target ≤ {TARGET_SECONDS:.0f} s end to end: {verdict} ({total:.2f} s)")
    return 0 if total <= TARGET_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
