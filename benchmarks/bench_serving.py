"""Serving throughput and latency: mlcd serve next to MLflow's scoring server, on the same models, in one run.

Two scikit-learn pipelines on the penguins data (the template project's preprocessing with a logistic
regression, and with a 100-tree random forest) are each served by `mlcd serve` and by
`mlflow models serve --env-manager local`, one worker each, on 127.0.0.1. A load generator in a separate
process (keep-alive HTTP/1.1 on raw asyncio streams) sends single-row JSON requests from 1 and from 16
connections for a fixed time, in rounds that alternate the servers (each configuration keeps its best
round). On a machine with two or more cores the servers run on core 0 and the load generator on core 1.
The in-process limit (predict calls per second without HTTP) is measured too.

Targets, at concurrency 16 against MLflow on the same request (``/invocations``, ``dataframe_split``):
logistic regression ≥ 3× MLflow's throughput with p99 ≤ 0.2× MLflow's; random forest ≥ 4× MLflow's
throughput; and mlcd loses no throughput from concurrency 1 to 16.

Run: pip install -e '.[bench]' palmerpenguins; python benchmarks/bench_serving.py [--seconds S]
Without MLflow installed, mlcd alone is measured (--no-mlflow does the same on purpose).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template-repo"
FEATURES = ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"]
ROW = ["Biscoe", 45.1, 14.5, 215.0, 5000.0, "female"]
TARGETS = {"logistic": 3.0, "forest": 4.0}
P99_TARGET = 0.2

# --- load generator (runs in its own process: `bench_serving.py --loadgen ...`) ---------------------------


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes) -> int:
    writer.write(payload)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return int(head[9:12])


async def _drive(port: int, payload: bytes, concurrency: int, seconds: float, warmup: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    clock = time.perf_counter  # the event loop's clock may tick in milliseconds
    start = clock() + warmup
    stop = start + seconds

    async def client() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while True:
                sent = clock()
                if sent >= stop:
                    return
                status = await _exchange(reader, writer, payload)
                if sent >= start:
                    latencies.append(clock() - sent)
                    errors += status != 200
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    latencies.sort()

    def percentile(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else float("nan")

    return {"requests": len(latencies), "errors": errors, "rps": len(latencies) / seconds,
            "p50_ms": percentile(0.50), "p99_ms": percentile(0.99)}


def loadgen(port: int, path: str, body: str, concurrency: int, seconds: float, warmup: float) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    data = body.encode()
    payload = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(data)}\r\n\r\n").encode() + data
    print(json.dumps(asyncio.run(_drive(port, payload, concurrency, seconds, warmup))))


# --- models --------------------------------------------------------------------------------------------


def penguins() -> Any:
    import pandas as pd

    try:
        import palmerpenguins

        frame = palmerpenguins.load_penguins()
    except ImportError:  # a synthetic frame of the same shape
        import numpy as np

        rng = np.random.default_rng(0)
        n = 344
        frame = pd.DataFrame({
            "species": rng.choice(["Adelie", "Chinstrap", "Gentoo"], n),
            "island": rng.choice(["Biscoe", "Dream", "Torgersen"], n),
            "bill_length_mm": rng.uniform(32, 60, n), "bill_depth_mm": rng.uniform(13, 22, n),
            "flipper_length_mm": rng.uniform(170, 232, n), "body_mass_g": rng.uniform(2700, 6300, n),
            "sex": rng.choice(["female", "male"], n), "year": rng.integers(2007, 2010, n)})
    return frame.dropna(subset=["species"]).reset_index(drop=True)


def build_models() -> dict[str, Any]:
    import yaml
    from sklearn.ensemble import RandomForestClassifier

    sys.path.insert(0, str(TEMPLATE / "src"))
    from penguins.model import build_pipeline
    from penguins.settings import features_from_contract

    contract = yaml.safe_load((TEMPLATE / "mlcd.yaml").read_text())["contract"]
    params = yaml.safe_load((TEMPLATE / "params.yaml").read_text())["train"]
    features = features_from_contract(contract)
    frame = penguins()
    logistic = build_pipeline(features, params).fit(frame[FEATURES], frame["species"])
    forest = build_pipeline(features, params)
    forest.steps[-1] = ("classify", RandomForestClassifier(n_estimators=100, random_state=0))
    forest.fit(frame[FEATURES], frame["species"])
    return {"logistic": logistic, "forest": forest}


def write_project(work: Path, name: str, model: Any, with_mlflow: bool) -> Path:
    import skops.io
    import yaml

    from mlcd.lineage import lineage_path
    from mlcd.model import file_sha256

    project = work / name
    project.mkdir()
    config = yaml.safe_load((TEMPLATE / "mlcd.yaml").read_text())
    config["model"] = {"name": f"penguins-{name}", "path": "model.skops"}
    (project / "mlcd.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    skops.io.dump(model, project / "model.skops")
    lineage_path(project / "model.skops").write_text(json.dumps({"model": {"sha256": file_sha256(
        project / "model.skops")}}))
    if with_mlflow:
        import mlflow.sklearn

        mlflow.sklearn.save_model(model, str(project / "mlflow-model"),
                                  serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE)
    return project


def in_process(model: Any, project: Path) -> dict[str, float]:
    """Predict calls per second without HTTP: scikit-learn's own, and mlcd's Predictor."""
    import pandas as pd

    from mlcd.config import load_config
    from mlcd.serving.predictor import Predictor, limit_threads
    from mlcd.serving.validation import InputSchema

    limit_threads()
    config = load_config(str(project / "mlcd.yaml"))
    predictor = Predictor(model, InputSchema.from_contract(config.contract), "classification")
    one = {name: [value] for name, value in zip(FEATURES, ROW, strict=True)}
    sixteen = {name: values * 16 for name, values in one.items()}
    frame = pd.DataFrame([ROW], columns=FEATURES)

    def rate(call: Any, budget: float = 1.5) -> float:
        call()
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < budget:
            call()
            count += 1
        return count / (time.perf_counter() - started)

    return {"sklearn predict, 1 row": rate(lambda: model.predict(frame)),
            "mlcd predict+proba, 1 row": rate(lambda: predictor.predict(one)),
            "mlcd predict+proba, 16 rows (rows/s)": 16 * rate(lambda: predictor.predict(sixteen))}


# --- servers -------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _pin(cpu: int | None) -> Any:
    def pin() -> None:
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
    return pin


@contextmanager
def running(command: list[str], cwd: Path, ready_url: str, cpu: int | None, log: Path) -> Iterator[None]:
    # MLflow starts `uvicorn` from PATH: this interpreter's scripts come first
    env = {**os.environ, "NO_COLOR": "1", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT, env=env,
                                   preexec_fn=_pin(cpu), start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(ready_url, timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{ready_url} not ready in 180 s: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def measure(port: int, path: str, body: str, concurrency: int, seconds: float, cpu: int | None) -> dict[str, Any]:
    command = [sys.executable, __file__, "--loadgen", str(port), path, body, str(concurrency), str(seconds)]
    result = subprocess.run(command, capture_output=True, text=True, check=True, preexec_fn=_pin(cpu),
                            timeout=seconds + 120)
    measured: dict[str, Any] = json.loads(result.stdout)
    return measured


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per run (default: 8)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per configuration, best kept (default: 2)")
    parser.add_argument("--no-mlflow", action="store_true", help="measure mlcd only")
    parser.add_argument("--loadgen", nargs=5, metavar=("PORT", "PATH", "BODY", "CONCURRENCY", "SECONDS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loadgen:
        port, path, body, concurrency, seconds = args.loadgen
        loadgen(int(port), path, body, int(concurrency), float(seconds), warmup=1.0)
        return 0

    with_mlflow = not args.no_mlflow
    if with_mlflow:
        try:
            import mlflow  # noqa: F401
        except ImportError:
            print("MLflow is not installed (pip install -e '.[bench]'): measuring mlcd alone")
            with_mlflow = False
    load_before = f"{os.getloadavg()[0]:.2f}"
    cores = len(os.sched_getaffinity(0))
    server_cpu, client_cpu = (0, 1) if cores >= 2 else (None, None)
    print(f"{cores} cores; server on core {server_cpu}, load generator on core {client_cpu}; "
          f"{args.seconds:g} s per run after 1 s of warm-up, best of {args.rounds} rounds; single-row JSON")
    split = json.dumps({"dataframe_split": {"columns": FEATURES, "data": [ROW]}})
    oip = json.dumps({"inputs": [{"name": n, "shape": [1], "datatype": "BYTES" if isinstance(v, str) else "FP64",
                                  "data": [v]} for n, v in zip(FEATURES, ROW, strict=True)]})
    results: dict[tuple[str, str, int], dict[str, Any]] = {}
    work = Path(tempfile.mkdtemp(prefix="mlcd-bench-serving-"))
    try:
        for name, model in build_models().items():
            project = write_project(work, name, model, with_mlflow)
            print(f"\n== {name}: in-process limit (no HTTP)")
            for label, value in in_process(model, project).items():
                print(f"  {label:<38} {value:9.0f} /s")
            mlcd_port, mlflow_port = free_port(), free_port()
            runs = [("mlcd /invocations", mlcd_port, "/invocations", split),
                    ("mlcd OIP infer", mlcd_port, f"/v2/models/penguins-{name}/infer", oip)]
            with contextlib.ExitStack() as servers:
                servers.enter_context(running(
                    [sys.executable, "-m", "mlcd", "serve", "--port", str(mlcd_port)], project,
                    f"http://127.0.0.1:{mlcd_port}/v2/health/ready", server_cpu, work / f"{name}-mlcd.log"))
                if with_mlflow:
                    servers.enter_context(running(
                        [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(project / "mlflow-model"),
                         "--env-manager", "local", "-h", "127.0.0.1", "-p", str(mlflow_port), "-w", "1"],
                        project, f"http://127.0.0.1:{mlflow_port}/ping", server_cpu, work / f"{name}-mlflow.log"))
                    runs.append(("MLflow /invocations", mlflow_port, "/invocations", split))
                # rounds alternate the servers, so a busy moment on the machine hits each of them alike;
                # each configuration keeps its best round
                for _ in range(args.rounds):
                    for label, port, path, body in runs:
                        for concurrency in (1, 16):
                            run = measure(port, path, body, concurrency, args.seconds, client_cpu)
                            best = results.get((name, label, concurrency))
                            if best is None or run["rps"] > best["rps"]:
                                results[(name, label, concurrency)] = run
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nload average before: {load_before}, after: {os.getloadavg()[0]:.2f} (other work on the machine "
          "slows both servers)")
    return report(results, with_mlflow)


def report(results: dict[tuple[str, str, int], dict[str, Any]], with_mlflow: bool) -> int:
    print(f"\n{'model':<9} {'server':<22} {'conc':>4} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
    for (name, label, concurrency), r in results.items():
        print(f"{name:<9} {label:<22} {concurrency:>4} {r['rps']:8.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} "
              f"{r['errors']:>6}")
    verdicts: list[bool] = []
    print()
    for name in TARGETS:
        for label in ("mlcd /invocations", "mlcd OIP infer"):
            one, sixteen = results[(name, label, 1)], results[(name, label, 16)]
            ok = sixteen["rps"] >= one["rps"]
            verdicts.append(ok)
            print(f"{name}: {label} concurrency 1 → 16: {one['rps']:.0f} → {sixteen['rps']:.0f} req/s "
                  f"(no loss: {'meets' if ok else 'MISSES'})")
        if not with_mlflow:
            continue
        theirs = results[(name, "MLflow /invocations", 16)]
        ours = results[(name, "mlcd /invocations", 16)]
        ratio = ours["rps"] / theirs["rps"]
        ok = ratio >= TARGETS[name]
        verdicts.append(ok)
        print(f"{name}: throughput at 16 vs MLflow: {ratio:.1f}× (target ≥ {TARGETS[name]:g}×: "
              f"{'meets' if ok else 'MISSES'})")
        if name == "logistic":
            p99 = ours["p99_ms"] / theirs["p99_ms"]
            ok = p99 <= P99_TARGET
            verdicts.append(ok)
            print(f"{name}: p99 at 16 vs MLflow: {p99:.2f}× (target ≤ {P99_TARGET:g}×: {'meets' if ok else 'MISSES'})")
        oip = results[(name, "mlcd OIP infer", 16)]
        print(f"{name}: OIP infer (labels and probabilities) at 16 vs MLflow: {oip['rps'] / theirs['rps']:.1f}×")
    errors = sum(r["errors"] for r in results.values())
    print(f"\n{'all targets met' if all(verdicts) and not errors else 'some targets MISSED'}; {errors} errors")
    return 0 if all(verdicts) and not errors else 1


if __name__ == "__main__":
    raise SystemExit(main())
