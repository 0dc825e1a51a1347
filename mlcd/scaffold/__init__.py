"""``mlcd init``: add mlcd's workflows and a first ``mlcd.yaml`` to an existing repository."""

from __future__ import annotations

from mlcd.scaffold.actions import ACTIONS_REF, ACTIONS_REPOSITORY, ActionsPin

__all__ = ["ACTIONS_REF", "ACTIONS_REPOSITORY", "ActionsPin"]
