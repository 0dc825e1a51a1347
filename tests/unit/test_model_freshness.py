"""monitoring.max_model_age: how old the production model is by the promotion record, and how that age
joins the drift verdict (drift and skew first, then stale)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from mlcd.config.validate import load_schema
from mlcd.monitoring.freshness import ModelAge, model_age
from mlcd.monitoring.run import DriftRun
from mlcd.record import Event, History

NOW = datetime(2026, 12, 4, 12, tzinfo=timezone.utc)
MODEL = "churn-model"


def event(tag: str, action: str, version: str, days_ago: float, stage: str | None = None) -> Event:
    return Event(tag=tag, action=action, model=MODEL, commit="c" * 40,  # type: ignore[arg-type]
                 created=NOW - timedelta(days=days_ago), tagger="bot", tagger_email="bot@localhost", summary="",
                 version=version, stage=stage)


def history(*events: Event) -> History:
    return History(MODEL, tuple(sorted(events, key=lambda e: e.created)))


REGISTERED = event(f"{MODEL}@v0.0.3", "register", "v0.0.3", 41.2)
PROMOTED = event(f"{MODEL}#production#4", "assign", "v0.0.3", 3, stage="production")


def test_the_age_counts_from_the_registration_and_names_version_and_limit() -> None:
    age = model_age(history(REGISTERED, PROMOTED), "30d", NOW)
    assert age is not None and age.stale
    assert age.tag == f"{MODEL}@v0.0.3" and age.days == 41
    assert age.reason() == "the production model v0.0.3 is 41 days old, older than monitoring.max_model_age 30d"
    assert age.to_json()["stale"] is True and age.to_json()["age_days"] == pytest.approx(41.2)


def test_a_model_within_the_limit_is_not_stale() -> None:
    age = model_age(history(REGISTERED, PROMOTED), "6w", NOW)
    assert age is not None and not age.stale
    assert age.reason() == "the production model v0.0.3 is 41 days old, within monitoring.max_model_age 6w"
    young = model_age(history(event(f"{MODEL}@v0.0.4", "register", "v0.0.4", 0.5),
                              event(f"{MODEL}#production#5", "assign", "v0.0.4", 0.4, stage="production")), "1d", NOW)
    assert young is not None and not young.stale and "is 12 hours old" in young.reason()


@pytest.mark.parametrize(("limit", "days", "stale"), [("30d", 30.0, False), ("30d", 30.01, True),
                                                     ("4w", 28.01, True), ("720h", 29.9, False)])
def test_stale_only_past_the_limit(limit: str, days: float, stale: bool) -> None:
    age = ModelAge("v1", "t", NOW - timedelta(days=days), NOW, limit)
    assert age.stale is stale


def test_without_a_registration_the_age_counts_from_the_promotion() -> None:
    age = model_age(history(PROMOTED), "1d", NOW)
    assert age is not None and age.tag == f"{MODEL}#production#4" and age.days == 3


def test_nothing_in_production_has_no_age() -> None:
    assert model_age(history(REGISTERED), "30d", NOW) is None
    gone = event(f"{MODEL}#production!#5", "unassign", "v0.0.3", 1, stage="production")
    assert model_age(history(REGISTERED, PROMOTED, gone), "30d", NOW) is None


def test_the_schema_takes_durations_and_has_no_default() -> None:
    spec = load_schema()["properties"]["monitoring"]["properties"]["max_model_age"]
    assert "default" not in spec and spec["pattern"] == "^[1-9][0-9]*[mhdw]$"


STALE = ModelAge("v0.0.3", "t", NOW - timedelta(days=41), NOW, "30d")
FRESH = ModelAge("v0.0.3", "t", NOW - timedelta(days=2), NOW, "30d")


def test_a_stale_model_without_logs_fails_on_its_own() -> None:
    run = DriftRun(None, None, age=STALE)
    assert run.verdict == "stale" and run.failed
    failure = run.failure("drift.md")
    assert failure is not None and failure.failures == [STALE.reason()]
    assert STALE.reason() in failure.one_line()
    assert run.markdown().startswith("## ❌ mlcd drift: the production model is stale\n")
    assert "The production model v0.0.3 is 41 days old" in run.markdown()
    assert DriftRun(None, None, age=FRESH).verdict == "not configured"
    assert DriftRun(None, None, age=FRESH).failure("drift.md") is None
