"""`mlcd predict MODEL|IMAGE INPUT OUTPUT`: score a file with the server's contract checks.

MODEL is a model file scored in this process; anything else is an image built by `mlcd package`,
run hardened on 127.0.0.1 and scored through its endpoint (the predictions production would give).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mlcd.config import load_config
from mlcd.errors import CheckFailed, UsageError
from mlcd.output import get_output


def run(args: argparse.Namespace) -> int:
    if args.chunk_rows < 1:
        raise UsageError("--chunk-rows must be at least 1")
    from mlcd.packaging.predict import predict_file

    out = get_output()
    result = predict_file(load_config(args.config), args.model, Path(args.input), Path(args.output),
                          chunk_rows=args.chunk_rows, timeout=args.timeout, out=out)
    if not result.passed:
        for problem in result.problems:
            out.error(problem, title="mlcd predict: invalid row")
        rows = sorted(result.invalid_rows)
        shown = ", ".join(map(str, rows[:20])) + (" …" if len(rows) > 20 else "")
        what = f"{len(rows)} of {result.rows} row(s) break the data contract (rows {shown})" if rows else \
            "the file's columns do not match the data contract"
        raise CheckFailed(f"{what}; nothing was written to {args.output}", failures=result.problems,
                          fix="fix or drop those rows (numbered from 0, the first data row) and run again")
    out.success(f"scored {result.rows} row(s) → {args.output}")
    out.set_output("predictions-file", args.output)
    return 0
