"""Scoring through a running mlcd image: the predictions the image serves, for `mlcd predict IMAGE`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from mlcd.errors import CheckFailed
from mlcd.packaging import parity
from mlcd.packaging.container import Client

Array = np.ndarray[Any, Any]


class ServedPredictor:
    """The same interface as the in-process Predictor (``predict``, ``classes``), over OIP v2 HTTP."""

    def __init__(self, http: Client, datatypes: Mapping[str, str]) -> None:
        self.http = http
        self.datatypes = dict(datatypes)
        self.classes: list[Any] | None = None

    def predict(self, columns: Mapping[str, list[Any]], proba: bool = True) -> tuple[Array, Array | None]:
        rows = len(next(iter(columns.values()), []))
        body = json.dumps(parity.infer_request(columns, self.datatypes)).encode()
        status, answer = self.http.post(self.http.infer_url, body)
        if status != 200:
            detail = answer.get("error") if isinstance(answer, dict) else str(answer)[:200]
            raise CheckFailed(f"the image refused a batch of {rows} row(s): HTTP {status}: {detail}",
                              fix="check the rows against the data contract with `mlcd data test`")
        try:
            served = parity.parse_response(answer, rows)
        except ValueError as exc:
            raise CheckFailed(f"the image's answer is not an OIP v2 prediction: {exc}") from None
        self.classes = list(served.classes) if served.classes is not None else None
        probabilities = np.asarray(served.proba, dtype=float) if proba and served.proba is not None else None
        return np.asarray(served.labels), probabilities
