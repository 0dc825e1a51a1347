"""Reading the record: every promotion tag of a model, as GTO reads them, and the queries on them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mlcd import git
from mlcd.record.names import Action, parse_message, parse_tag_name, tag_refs

_FIELD, _RECORD = "\x1f", "\x1e"
_FORMAT = _FIELD.join(["%(refname:strip=2)", "%(objecttype)", "%(*objectname)", "%(taggername)", "%(taggeremail)",
                       "%(taggerdate:unix)", "%(contents)"]).replace(_FIELD, "%1f") + "%1e"


@dataclass(frozen=True)
class Event:
    tag: str
    action: Action
    model: str
    commit: str
    created: datetime
    tagger: str
    tagger_email: str
    summary: str
    data: Mapping[str, Any] = field(default_factory=dict)
    version: str | None = None
    stage: str | None = None
    number: int | None = None

    @property
    def digest(self) -> str | None:
        return _text(self.data.get("digest"))

    @property
    def image(self) -> str | None:
        return _text(self.data.get("image"))

    @property
    def model_sha256(self) -> str | None:
        return _text(self.data.get("model_sha256"))

    @property
    def metrics(self) -> dict[str, float]:
        raw = self.data.get("metrics")
        if not isinstance(raw, dict):
            return {}
        return {str(k): float(v) for k, v in raw.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}

    @property
    def kind(self) -> str:
        return _text(self.data.get("kind")) or ("register" if self.action == "register" else "promote")

    @property
    def who(self) -> str:
        return _text(self.data.get("approver")) or _text(self.data.get("actor")) or self.tagger

    @property
    def run_url(self) -> str | None:
        return _text(self.data.get("run_url"))


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def read_events(root: Path, model: str) -> list[Event]:
    """Every GTO tag of ``model`` in the repository, oldest first."""
    listed = git.run(root, "for-each-ref", f"--format={_FORMAT}", *tag_refs(model)).stdout
    events = []
    for record in listed.split(_RECORD):
        fields = record.lstrip("\n").split(_FIELD)
        if len(fields) != 7:
            continue
        tag, kind, peeled, tagger, email, when, message = fields
        name = parse_tag_name(tag)
        if kind != "tag" or name is None or name.model != model:
            continue  # GTO ignores lightweight tags too
        summary, data = parse_message(message)
        version = name.version or _text(data.get("version"))
        events.append(Event(tag, name.action, model, peeled, datetime.fromtimestamp(int(when or 0), timezone.utc),
                            tagger, email.strip("<>"), summary, data, version, name.stage, name.number))
    return _ordered(events, versions_by_commit(events))


def versions_by_commit(events: Iterable[Event]) -> dict[str, str]:
    return {e.commit: e.version for e in events if e.action == "register" and e.version}


def _ordered(events: list[Event], by_commit: Mapping[str, str]) -> list[Event]:
    """Oldest first; a stage tag without mlcd's evidence gets its version from its commit, as GTO does."""
    filled = [e if e.version or e.action == "register" else _with_version(e, by_commit.get(e.commit))
              for e in events]
    return sorted(filled, key=lambda e: (e.created, e.number if e.number is not None else -1, e.tag))


def _with_version(event: Event, version: str | None) -> Event:
    from dataclasses import replace

    return replace(event, version=version)


@dataclass(frozen=True)
class History:
    """A model's promotion record, read from its tags; pure queries, no git."""

    model: str
    events: tuple[Event, ...]

    @classmethod
    def read(cls, root: Path, model: str) -> History:
        return cls(model, tuple(read_events(root, model)))

    def registrations(self) -> list[Event]:
        return [e for e in self.events if e.action == "register"]

    def version(self, name: str) -> Event | None:
        return next((e for e in self.registrations() if e.version == name), None)

    def version_at(self, commit: str) -> Event | None:
        return next((e for e in self.registrations() if e.commit == commit), None)

    def by_digest(self, digest: str) -> Event | None:
        return next((e for e in self.registrations() if e.digest == digest), None)

    def stage_events(self, stage: str) -> list[Event]:
        return [e for e in self.events if e.stage == stage and e.action in ("assign", "unassign")]

    def current(self, stage: str) -> Event | None:
        """The assignment that says what runs in ``stage`` now; None if nothing was promoted there."""
        current: Event | None = None
        for event in self.stage_events(stage):
            if event.action == "assign":
                current = event
            elif current is not None and event.version == current.version:
                current = None
        return current

    def promotions(self, stage: str) -> list[Event]:
        return [e for e in self.stage_events(stage) if e.action == "assign"]

    def previous(self, stage: str) -> Event | None:
        """The newest assignment to ``stage`` of a version other than the current one: what a rollback restores."""
        current = self.current(stage)
        for event in reversed(self.promotions(stage)):
            if current is None or event.version != current.version:
                return event
        return None

    def was_in(self, stage: str, version: str) -> bool:
        return any(e.version == version for e in self.promotions(stage))

    def digest_of(self, event: Event) -> str | None:
        """An assignment's digest: from its own evidence, else from its version's registration."""
        if event.digest:
            return event.digest
        registered = self.version(event.version) if event.version else None
        return registered.digest if registered else None

    def next_number(self) -> int:
        return max((e.number for e in self.events if e.number is not None), default=0) + 1

    def next_version(self) -> str:
        """GTO's rule for an unnamed registration: the greatest version's next patch, or v0.0.1."""
        from gto.versions import SemVer

        versions = [SemVer(e.version) for e in self.registrations()
                    if e.version and SemVer.is_valid(e.version)]  # type: ignore[no-untyped-call]
        if not versions:
            return str(SemVer.get_minimal().version)  # type: ignore[no-untyped-call]
        return str(max(versions).bump_patch().version)  # type: ignore[no-untyped-call]

    def latest_time(self) -> int:
        return max((int(e.created.timestamp()) for e in self.events), default=0)
