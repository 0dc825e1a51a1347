"""Which mlcd actions the generated workflows use: a repository and a commit, pinned by full SHA."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlcd import __version__
from mlcd.errors import UsageError

# Where mlcd's actions are published, and the commit of that repository whose actions/ the workflows
# written by `mlcd init` use. A release sets ACTIONS_REF to the commit of its tag and re-runs
# `mlcd init --force` in template-repo/ (tests/unit/test_scaffold.py checks the template matches).
ACTIONS_REPOSITORY = "mlcd-dev/mlcd"
ACTIONS_REF = "63a51d371fae76d880ac9dc876186a012be82caf"
_SHA = re.compile(r"[0-9a-f]{40}")
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class ActionsPin:
    repository: str = ACTIONS_REPOSITORY
    ref: str = ACTIONS_REF
    comment: str = f"mlcd v{__version__}"

    @classmethod
    def parse(cls, text: str) -> ActionsPin:
        """``OWNER/NAME@SHA`` as given to ``mlcd init --actions``."""
        repository, _, ref = text.partition("@")
        if not _REPOSITORY.fullmatch(repository) or not _SHA.fullmatch(ref):
            raise UsageError(f"--actions {text!r} is not OWNER/NAME@SHA",
                             fix="give the repository holding mlcd's actions and a full 40-character commit SHA, "
                                 f"e.g. {ACTIONS_REPOSITORY}@{ACTIONS_REF}")
        return cls(repository, ref, f"{repository.split('/')[1]} {ref[:12]}" if ref != ACTIONS_REF else cls.comment)

    def uses(self, action: str) -> str:
        return f"{self.repository}/actions/{action}@{self.ref} # {self.comment}"
