"""``mlcd shadow --image``: the logged production rows replayed through the candidate image itself, run
hardened on 127.0.0.1 as `mlcd smoke` runs it and scored through its endpoint, so what is replayed is
exactly what would be promoted. Without an image, the model file (:func:`mlcd.monitoring.shadow_run.run_shadow`).

The replayed requests ask the image not to log them: a replay is not production traffic."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mlcd.config import Config
from mlcd.monitoring.shadow_run import Candidate, ShadowRequest, ShadowRun, configured, run_shadow
from mlcd.output import Output

if TYPE_CHECKING:
    import pandas as pd

    from mlcd.packaging.served_predictor import ServedPredictor

__all__ = ["ShadowRequest", "ShadowRun", "replay_shadow"]

CHUNK_ROWS = 1_000  # rows per request to the image


class _ThroughImage:
    """The image's answers to logged features, a chunk of rows per request."""

    def __init__(self, predictor: ServedPredictor, chunk_rows: int) -> None:
        self.predictor = predictor
        self.chunk_rows = chunk_rows

    def predict(self, features: pd.DataFrame) -> Any:
        answers = []
        for start in range(0, len(features), self.chunk_rows):
            part = features.iloc[start:start + self.chunk_rows]
            columns = {name: part[name].tolist() for name in features.columns}
            answers.append(self.predictor.predict(columns, proba=False)[0])
        return np.concatenate(answers) if answers else np.array([])


def replay_shadow(config: Config, request: ShadowRequest, out: Output, *, image: str | None = None,
                  timeout: float = 60.0, chunk_rows: int = CHUNK_ROWS) -> ShadowRun | None:
    """The shadow replay through ``image`` (a reference `mlcd package` built), else through the model file;
    None when ``request.if_configured`` and no prediction logs are configured (no image is started then)."""
    if image is None or not configured(config, request):
        return run_shadow(config, request)
    from mlcd.packaging import parity
    from mlcd.packaging.container import hardened_container, inspect_served_image
    from mlcd.packaging.engine import connect
    from mlcd.packaging.served_predictor import ServedPredictor

    docker = connect()
    served = inspect_served_image(docker, image, config)
    with hardened_container(docker, served, out, timeout=timeout, purpose="shadow") as (http, _):
        predictor = ServedPredictor(http, parity.datatypes(config.contract.features))
        return run_shadow(config, request, candidate=Candidate(image, served.sha256, _ThroughImage(predictor,
                                                                                                   chunk_rows)))
