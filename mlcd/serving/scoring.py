"""Batch scoring for ``mlcd predict``: a CSV or Parquet file in chunks, with the server's contract checks.

Each chunk is checked with :mod:`mlcd.serving.validation` (the same rules and messages as the server)
and scored by the same :class:`~mlcd.serving.predictor.Predictor`. Predictions are written to a
temporary file next to the output, which replaces the output only when every row was valid: a run with
invalid rows leaves no partial output behind.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mlcd.config.model import CsvOptions
from mlcd.errors import InputError
from mlcd.serving.validation import InputSchema, column_problems, name_list

__all__ = ["ScoringResult", "column_values", "score_file"]

PARQUET_SUFFIXES = (".parquet", ".pq")
SHOWN_PROBLEMS = 20


@dataclass
class ScoringResult:
    rows: int = 0
    invalid_rows: set[int] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.invalid_rows and not self.problems


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() in PARQUET_SUFFIXES


def _chunks(path: Path, rows: int, csv: CsvOptions) -> Iterator[Any]:
    import pandas as pd

    if not path.is_file():
        raise InputError(f"{path} does not exist", fix="pass the CSV or Parquet file to score")
    try:
        if _is_parquet(path):
            import pyarrow.parquet as pq

            for batch in pq.ParquetFile(path).iter_batches(batch_size=rows):
                yield batch.to_pandas()
            return
        yield from pd.read_csv(path, sep=csv.delimiter, encoding=csv.encoding,
                               na_values=list(csv.na_values) or None, chunksize=rows)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}", fix="pass a readable CSV or Parquet file") from None


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def column_values(series: Any, numeric: bool) -> list[Any]:
    """The column as Python values (None for missing); a text value in a numeric column stays text."""
    import pandas as pd

    if numeric and not pd.api.types.is_numeric_dtype(series.dtype):
        converted = pd.to_numeric(series, errors="coerce")
        values = [None if _missing(c) else c for c in converted.tolist()]
        for index in (series.notna() & converted.isna()).to_numpy().nonzero()[0].tolist():
            values[index] = series.iloc[index]  # reported as "not a number", with its row
        return values
    return [None if _missing(v) else v for v in series.tolist()]


class Scorer(Protocol):
    """What score_file needs: the in-process Predictor, or a model served by an image."""

    classes: list[Any] | None

    def predict(self, columns: Mapping[str, list[Any]], proba: bool = True) -> tuple[Any, Any]: ...


class _Sink:
    """Predictions appended chunk by chunk to a CSV or Parquet file."""

    def __init__(self, path: Path, parquet: bool, classes: list[Any] | None) -> None:
        self.path = path
        self.parquet = parquet
        self.classes = classes
        self._writer: Any = None
        self._started = False

    def write(self, first: int, labels: Any, proba: Any) -> None:
        import numpy as np
        import pandas as pd

        out = pd.DataFrame({"row": np.arange(first, first + len(labels)), "prediction": labels})
        for index, cls in enumerate(self.classes or []):
            out[f"proba_{cls}"] = proba[:, index] if proba is not None else np.zeros(len(labels))
        if self.parquet:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(out, preserve_index=False)
            if self._writer is None:
                self._writer = pq.ParquetWriter(self.path, table.schema)
            self._writer.write_table(table)
        else:
            out.to_csv(self.path, mode="a" if self._started else "w", header=not self._started, index=False,
                       float_format="%.17g")
        self._started = True

    def close(self) -> None:
        if not self._started:  # no rows: still a file with the columns
            self.write(0, [], None)
        if self._writer is not None:
            self._writer.close()


def score_file(predictor: Scorer, schema: InputSchema, source: Path, target: Path, *, chunk_rows: int,
               csv: CsvOptions) -> ScoringResult:
    result = ScoringResult()
    temporary = target.with_name(f".{target.name}.partial")
    target.parent.mkdir(parents=True, exist_ok=True)
    sink = _Sink(temporary, _is_parquet(target), predictor.classes)
    try:
        for frame in _chunks(source, chunk_rows, csv):
            first = result.rows
            result.rows += len(frame)
            unknown = [str(name) for name in frame.columns if not schema.knows(str(name))]
            missing = [name for name in schema.names if name not in frame.columns]
            if unknown:
                result.problems.append(f"unknown column(s) {name_list(unknown)}: not in the data contract")
            if missing:
                result.problems.append(f"missing column(s) {name_list(missing)}: the contract requires every "
                                       "feature column")
            if unknown or missing:
                break
            columns = {spec.name: column_values(frame[spec.name], spec.dtype in ("int", "float"))
                       for spec in schema.features}
            for spec in schema.features:
                for row, message in column_problems(columns[spec.name], spec, first, limit=len(frame)):
                    result.invalid_rows.add(row)
                    if len(result.problems) < SHOWN_PROBLEMS:
                        result.problems.append(message)
            if result.passed and len(frame):
                labels, proba = predictor.predict(columns, proba=True)
                sink.classes = predictor.classes  # a served model names its classes with its first answer
                sink.write(first, labels, proba)
            # after an invalid row, keep checking so the report lists them all, but write nothing more
        if result.passed:
            sink.close()
            os.replace(temporary, target)
    finally:
        if sink._writer is not None and not result.passed:
            sink._writer.close()
        if temporary.exists():
            temporary.unlink()
    return result
