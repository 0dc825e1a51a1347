"""Score a file with the server's contract checks: through a model file in this process, or through an
image built by `mlcd package`, run hardened on 127.0.0.1 (the predictions production would give)."""

from __future__ import annotations

from pathlib import Path

from mlcd.config import Config
from mlcd.errors import InputError
from mlcd.output import Output
from mlcd.serving.scoring import ScoringResult

# What a model file is called; an image reference never ends so, nor starts like a path.
MODEL_FILE_SUFFIXES = (".skops", ".pkl", ".pickle", ".joblib", ".onnx")


def looks_like_a_file(model: str) -> bool:
    return model.endswith(MODEL_FILE_SUFFIXES) or model.startswith(("./", "../", "/", "~"))


def predict_file(config: Config, model: str, source: Path, target: Path, *, chunk_rows: int, timeout: float,
                 out: Output) -> ScoringResult:
    """``model`` (a model file, else an image) scores ``source`` into ``target``; every row is checked
    against the data contract first, and nothing is written when one breaks it."""
    from mlcd.serving.predictor import Predictor, limit_threads, load_verified
    from mlcd.serving.scoring import score_file
    from mlcd.serving.validation import InputSchema

    schema = InputSchema.from_contract(config.contract)
    if not Path(model).exists() and looks_like_a_file(model):
        raise InputError(f"model file {model} does not exist",
                         fix="pass the path of a model file (e.g. models/model.skops after `mlcd train`), or an "
                             "image `mlcd package` built (NAME:TAG)")
    if Path(model).exists():
        limit_threads()
        loaded = load_verified(Path(model), config.model.trusted_types)
        if not loaded.verified:
            out.warning(f"{model} has no lineage file next to it: its sha256 ({loaded.sha256[:12]}…) is not verified")
        with out.group(f"predict {source} → {target}", ticker=True):
            return score_file(Predictor(loaded.model, schema, config.evaluate.task), schema, source, target,
                              chunk_rows=chunk_rows, csv=config.data.csv)
    from mlcd.packaging import parity
    from mlcd.packaging.container import hardened_container, inspect_served_image
    from mlcd.packaging.engine import connect
    from mlcd.packaging.served_predictor import ServedPredictor

    docker = connect()
    served = inspect_served_image(docker, model, config)
    with hardened_container(docker, served, out, timeout=timeout, purpose="predict") as (http, _), \
            out.group(f"predict {source} → {target} through {model}", ticker=True):
        predictor = ServedPredictor(http, parity.datatypes(config.contract.features))
        return score_file(predictor, schema, source, target, chunk_rows=chunk_rows, csv=config.data.csv)
