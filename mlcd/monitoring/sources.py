"""Where monitoring reads from: the prediction logs (``monitoring.logs``) and the ground truth that
arrives later (``monitoring.labels``), each a local path relative to the repository or an fsspec URL."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pandas as pd

from mlcd.config import Config
from mlcd.data.io import data_format, parse_table
from mlcd.errors import ConfigError, InputError

__all__ = ["LABEL_SUFFIXES", "REQUEST_ID", "LabelSource", "configured_labels", "configured_logs", "fsspec_errors",
           "read_labels"]

REQUEST_ID = "request_id"  # the field the server logs each row's request id in
LABEL_SUFFIXES = (".csv", ".parquet", ".pq")


@dataclass(frozen=True)
class LabelSource:
    """Where the labels are, and how their rows pair with logged predictions: by ``key`` (a feature column
    in both), else by the logged request id, which the labels hold in ``id_column``."""

    location: str
    id_column: str | None = None
    key: str | None = None

    @property
    def label_id(self) -> str:
        return self.key or self.id_column or REQUEST_ID

    @property
    def log_id(self) -> str:
        return self.key or REQUEST_ID


def configured_logs(config: Config) -> str:
    logs = config.monitoring.logs
    if logs is None:
        raise ConfigError("no prediction logs to read",
                          fix="pass --logs DIR, or set monitoring.logs in mlcd.yaml (a directory or an s3:// URL)")
    return _located(config, logs)


def configured_labels(config: Config, given: str | None = None, id_column: str | None = None,
                      key: str | None = None) -> LabelSource | None:
    """The labels asked for (``given`` with its ``id_column`` or ``key``), else monitoring.labels; None
    when neither names any."""
    if given:
        return LabelSource(_located(config, given), id_column, key)
    labels = config.monitoring.labels
    if labels is None:
        return None
    if id_column or key:  # the pairing asked for replaces the configured one
        return LabelSource(_located(config, labels.path), id_column, key)
    return LabelSource(_located(config, labels.path), labels.id_column, labels.key)


def read_labels(location: str, config: Config, columns: Mapping[str, str], option: str) -> pd.DataFrame:
    """Every labels file at ``location`` (one CSV or Parquet file, or a directory of them, read in name
    order), each checked to hold ``columns`` (each column → the option or field that names it); ``option``
    names where the location came from."""
    fs, files = _label_files(location, option)
    frames = []
    for path in files:
        name = path if "://" in location else posixpath.normpath(path)
        try:
            content = fs.cat_file(path)
        except OSError as exc:
            raise InputError(f"cannot read labels {name}: {exc}", fix="check the path and the credentials to read it") \
                from None
        frame = parse_table(content, name, config.data, data_format(name, None))
        for column, named_by in columns.items():
            if column not in frame.columns:
                raise InputError(f"{name} has no column '{column}' ({named_by}); it has "
                                 f"{', '.join(map(str, frame.columns))}",
                                 fix=f"name the column in {named_by}, or add it to the labels")
        frames.append(frame)
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def _label_files(location: str, option: str) -> tuple[Any, list[str]]:
    from fsspec.core import url_to_fs

    with fsspec_errors("labels", location):
        fs, root = url_to_fs(location)
        if not fs.exists(root):
            raise InputError(f"labels {location} do not exist", fix=f"point {option} at a CSV or Parquet file or a "
                                                                     "directory of them")
        if fs.isfile(root):
            return fs, [root]
        files = sorted(str(path) for path in fs.find(root) if str(path).lower().endswith(LABEL_SUFFIXES))
    if not files:
        raise InputError(f"no labels in {location}: no file ends in {', '.join(LABEL_SUFFIXES)}",
                         fix=f"point {option} at a CSV or Parquet file or a directory of them")
    return fs, files


@contextmanager
def fsspec_errors(what: str, location: str) -> Iterator[None]:
    """fsspec's failures to reach ``location`` as one-line input errors: a protocol whose package is not
    installed (or unknown), and a path that cannot be listed."""
    try:
        yield
    except InputError:
        raise
    except (ImportError, ValueError) as exc:
        raise InputError(f"cannot open {what} {location}: {exc}",
                         fix="install the fsspec backend for the URL (e.g. pip install s3fs)") from None
    except OSError as exc:
        raise InputError(f"cannot list {what} {location}: {exc}", fix="check the path and the credentials to read it") \
            from None


def _located(config: Config, location: str) -> str:
    return location if "://" in location else str(config.resolve(location))
