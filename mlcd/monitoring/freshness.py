"""How old the production model is, against ``monitoring.max_model_age``: a model trained long ago goes
stale even when its inputs do not drift (the world the labels describe moves on), so the drift workflow
opens its issue and retrains when the model is older than that.

The age counts from when the production version was registered (the delivery that trained and packaged
it), else from when it was promoted, as the promotion record says."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from mlcd.monitoring.log_reader import parse_duration
from mlcd.record import History

__all__ = ["ModelAge", "model_age", "production_age"]

PRODUCTION = "production"
_FIELD = "monitoring.max_model_age"


@dataclass(frozen=True)
class ModelAge:
    version: str
    tag: str  # the record's tag the age counts from
    since: datetime
    now: datetime
    limit: str  # as mlcd.yaml writes it, e.g. "30d"

    @property
    def age(self) -> timedelta:
        return self.now - self.since

    @property
    def stale(self) -> bool:
        return self.age > parse_duration(self.limit)

    @property
    def days(self) -> int:
        return self.age.days

    def reason(self) -> str:
        """e.g. ``the production model v0.0.3 is 41 days old, older than monitoring.max_model_age 30d``."""
        relation = "older than" if self.stale else "within"
        return f"the production model {self.version} is {_span(self.age)} old, {relation} {_FIELD} {self.limit}"

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "tag": self.tag, "since": self.since.isoformat(),
                "age_days": round(self.age.total_seconds() / 86400, 2), "max_model_age": self.limit,
                "stale": self.stale}


def _span(age: timedelta) -> str:
    if age >= timedelta(days=2):
        return f"{age.days} days"
    hours = int(age.total_seconds() // 3600)
    return f"{hours} hour{'s' if hours != 1 else ''}"


def model_age(history: History, limit: str, now: datetime) -> ModelAge | None:
    """The age of what runs in production, from its registration (else its promotion); None when nothing
    was promoted to production."""
    current = history.current(PRODUCTION)
    if current is None:
        return None
    version = current.version or current.tag
    registered = history.version(current.version) if current.version else None
    since = registered if registered is not None else current
    return ModelAge(version, since.tag, since.created, now, limit)


def production_age(root: Path, model: str, limit: str | None, now: datetime) -> ModelAge | None:
    """:func:`model_age` of the record in the repository at ``root``; None without a limit or a production model."""
    if limit is None:
        return None
    return model_age(History.read(root, model), limit, now)
