"""The drift reference at a git revision: the training split of the model in production, read through DVC
(its cache, else its remote) without checking that revision out."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from mlcd import git
from mlcd.config import Config
from mlcd.data.io import data_format, first_line, parse_table
from mlcd.errors import ConfigError, InputError
from mlcd.record import History

PRODUCTION = "production"


@dataclass(frozen=True)
class Revision:
    commit: str
    describe: str  # e.g. "penguins-classifier#production#3 (1a2b3c4d5e6f)"


def reference_revision(config: Config, rev: str) -> Revision:
    """``rev``'s commit; ``production`` is the commit of what the promotion record says runs in production
    (read as every mlcd command reads it), else HEAD."""
    root = config.root
    if rev == PRODUCTION:
        current = History.read(root, config.model.name).current(PRODUCTION)
        if current is not None:
            return Revision(current.commit, f"{current.tag} ({current.commit[:12]})")
    name = "HEAD" if rev == PRODUCTION else rev
    commit = git.resolve_commit(root, name)
    if commit is None:
        raise InputError(f"revision '{name}' does not exist in {root}",
                         fix="fetch it (actions/checkout with fetch-depth: 0 fetches tags), or pass another "
                             "--reference-rev")
    label = "HEAD (no production tag yet)" if rev == PRODUCTION else name
    return Revision(commit, f"{label} ({commit[:12]})")


def read_reference_at(config: Config, revision: Revision) -> pd.DataFrame:
    import dvc.api
    from dvc.exceptions import DvcException

    if config.data.train is None:
        raise ConfigError("no reference: data.splits.train is not set in mlcd.yaml",
                          fix="set data.splits.train (the training split the pipeline writes)")
    path = config.data.train
    name = f"{path} at {revision.describe}"
    try:
        with dvc.api.open(path, repo=str(config.root), rev=revision.commit, mode="rb") as handle:
            content = handle.read()
    except (DvcException, OSError) as exc:
        raise InputError(f"cannot read {name}: {first_line(exc)}",
                         fix="keep the training data in the DVC remote (`dvc push` after training, as mlcd's "
                             "delivery workflow does), or pass --reference FILE") from None
    return parse_table(content, name, config.data, data_format(path, config.data.format))
