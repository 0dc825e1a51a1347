"""`mlcd predict MODEL|IMAGE INPUT OUTPUT`: score a file with the server's contract checks.

MODEL is a model file scored in this process; anything else is an image built by `mlcd package`,
run hardened on 127.0.0.1 and scored through its endpoint (the predictions production would give).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mlcd.config import load_config
from mlcd.errors import CheckFailed, InputError, UsageError
from mlcd.output import get_output

# What a model file is called; an image reference never ends so, nor starts like a path.
MODEL_FILE_SUFFIXES = (".skops", ".pkl", ".pickle", ".joblib", ".onnx")


def looks_like_a_file(model: str) -> bool:
    return model.endswith(MODEL_FILE_SUFFIXES) or model.startswith(("./", "../", "/", "~"))


def run(args: argparse.Namespace) -> int:
    if args.chunk_rows < 1:
        raise UsageError("--chunk-rows must be at least 1")
    from mlcd.serving.predictor import Predictor, limit_threads, load_verified
    from mlcd.serving.scoring import score_file
    from mlcd.serving.validation import InputSchema

    config = load_config(args.config)
    out = get_output()
    schema = InputSchema.from_contract(config.contract)
    source, target = Path(args.input), Path(args.output)
    if not Path(args.model).exists() and looks_like_a_file(args.model):
        raise InputError(f"model file {args.model} does not exist",
                         fix="pass the path of a model file (e.g. models/model.skops after `mlcd train`), or an "
                             "image `mlcd package` built (NAME:TAG)")
    if Path(args.model).exists():
        limit_threads()
        loaded = load_verified(Path(args.model), config.model.trusted_types)
        if not loaded.verified:
            out.warning(f"{args.model} has no lineage file next to it: its sha256 ({loaded.sha256[:12]}…) "
                        "is not verified")
        with out.group(f"predict {args.input} → {args.output}", ticker=True):
            result = score_file(Predictor(loaded.model, schema, config.evaluate.task), schema, source, target,
                                chunk_rows=args.chunk_rows, csv=config.data.csv)
    else:
        from mlcd.packaging import parity
        from mlcd.packaging.engine import connect
        from mlcd.packaging.served_predictor import ServedPredictor
        from mlcd.packaging.smoke import hardened_container, inspect_served_image

        docker = connect()
        served = inspect_served_image(docker, args.model, config)
        with hardened_container(docker, served, out, timeout=args.timeout, purpose="predict") as (http, _), \
                out.group(f"predict {args.input} → {args.output} through {args.model}", ticker=True):
            predictor = ServedPredictor(http, parity.datatypes(config.contract.features))
            result = score_file(predictor, schema, source, target, chunk_rows=args.chunk_rows, csv=config.data.csv)
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
