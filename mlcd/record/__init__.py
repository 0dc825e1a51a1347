"""The promotion record: what runs in each environment, and its history, as git tags in GTO's conventions.

========================================  ===========================================================
``<model>@v<semver>``                     registers a version: one image digest, built from this commit
``<model>#<environment>#<n>``             assigns a version to an environment: a promotion or rollback
``<model>#<environment>!#<n>``            unassigns the version that left the environment
========================================  ===========================================================

Every tag is annotated. Its message is what ``gto`` itself would write (GTO keeps messages as free text
and shows them in ``gto history``), then a blank line, then mlcd's evidence as a YAML mapping that starts
with ``mlcd: 1``: the image digest, the model's sha256, metrics, gate verdicts, approver and run URL.
``n`` counts every stage tag of the model, as GTO counts it, so the newest record is the largest ``n``.

Promotion tags are written with ``git tag`` and pushed atomically; tag names are made and parsed with
GTO's own helpers, and ``gto show`` / ``gto history`` read the result.
"""

from __future__ import annotations

from mlcd.record.history import Event, History, read_events, versions_by_commit
from mlcd.record.names import (
    FORMAT,
    Action,
    TagName,
    assignment_tag,
    check_model_name,
    check_stage_name,
    normalise_version,
    parse_message,
    parse_tag_name,
    registration_tag,
    summary_line,
    tag_message,
    tag_refs,
    unassignment_tag,
)
from mlcd.record.write import (
    Identity,
    NewTag,
    PushRejected,
    check_repository,
    create_tags,
    delete_local_tags,
    fetch_tags,
    push_tags,
)

__all__ = [
    "FORMAT", "Action", "Event", "History", "Identity", "NewTag", "PushRejected", "TagName", "assignment_tag",
    "check_model_name", "check_repository", "check_stage_name", "create_tags", "delete_local_tags", "fetch_tags",
    "normalise_version", "parse_message", "parse_tag_name", "push_tags", "read_events", "registration_tag",
    "summary_line", "tag_message", "tag_refs", "unassignment_tag", "versions_by_commit",
]
