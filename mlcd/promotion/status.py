"""``mlcd status``: what runs in each environment, since when and by whose hand, and its last promotions,
read from the promotion tags."""

from __future__ import annotations

from typing import Any

from mlcd import record
from mlcd.config import Config
from mlcd.record import Event, History


def _entry(history: History, event: Event) -> dict[str, Any]:
    return {"version": event.version, "digest": history.digest_of(event), "action": event.action,
            "kind": event.kind, "at": event.created.isoformat(), "by": event.who, "tag": event.tag,
            "run_url": event.run_url}


def status(history: History, environments: list[str], last: int) -> dict[str, Any]:
    result: dict[str, Any] = {"model": history.model, "environments": {}}
    for name in environments:
        current = history.current(name)
        events = history.stage_events(name)
        result["environments"][name] = {
            "current": _entry(history, current) if current else None,
            "history": [_entry(history, e) for e in reversed(events)][:last],
        }
    return result


def read_status(config: Config, *, fetch: bool, last: int) -> dict[str, Any]:
    """The status of every environment mlcd.yaml names or the record has, each with its ``last`` events;
    with ``fetch`` (and deploy.push), the remote's tags are fetched first."""
    model = config.model.name
    record.check_model_name(model)
    fetch = config.deploy.push and fetch
    record.check_repository(config.root, config.deploy.remote if fetch else None, config.source)
    if fetch:
        record.fetch_tags(config.root, config.deploy.remote, model)
    history = History.read(config.root, model)
    environments = list(dict.fromkeys([*config.deploy.stages, *config.deploy.environments]))
    environments += sorted({e.stage for e in history.events if e.stage and e.stage not in environments})
    return status(history, environments, last)
