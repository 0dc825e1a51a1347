"""Start-up cost of the CLI: `mlcd --version` next to `python -c pass` and `dvc --version`, in one run.

Every CI step that runs mlcd pays this. Target: `mlcd --version` ≤ 0.12 s on a 2-core machine.
Run: python benchmarks/bench_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_SECONDS = 0.12


def wall_times(command: list[str], runs: int) -> list[float]:
    subprocess.run(command, check=True, capture_output=True)  # warm the file cache
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    scripts = Path(sys.executable).parent
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "mlcd --version": [str(scripts / "mlcd"), "--version"],
        "dvc --version": [str(scripts / "dvc"), "--version"],
        "python -c 'import sklearn'": [sys.executable, "-c", "import sklearn"],
    }
    medians = {name: statistics.median(wall_times(cmd, args.runs)) for name, cmd in commands.items()}
    print(f"median wall time over {args.runs} runs")
    for name, seconds in medians.items():
        print(f"  {name:<28} {seconds * 1000:8.1f} ms")
    mlcd = medians["mlcd --version"]
    print(f"mlcd / python -c pass : {mlcd / medians['python -c pass']:.2f}x")
    dvc = medians["dvc --version"]
    print(f"mlcd / dvc --version  : {mlcd / dvc:.3f}x  (dvc is {dvc / mlcd:.1f}x slower)")
    verdict = "meets" if mlcd <= TARGET_SECONDS else "MISSES"
    print(f"target ≤ {TARGET_SECONDS * 1000:.0f} ms: {verdict} ({mlcd * 1000:.1f} ms)")
    return 0 if mlcd <= TARGET_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
