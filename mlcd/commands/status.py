"""``mlcd status``: what runs in each environment, since when and by whose hand, and its last promotions —
read from the promotion tags (fetched from the remote first, when promotions are pushed)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from mlcd import record
from mlcd.config import load_config
from mlcd.output import get_output
from mlcd.record import Event, History


def _when(event: Event) -> str:
    return event.created.strftime("%Y-%m-%d %H:%M UTC")


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


def text(result: dict[str, Any]) -> str:
    lines = [f"{result['model']}"]
    for name, data in result["environments"].items():
        current = data["current"]
        if current is None:
            lines.append(f"  {name}: nothing promoted")
        else:
            lines.append(f"  {name}: {current['version']}  {current['digest'] or '(digest not recorded)'}")
            lines.append(f"    since {current['at'][:16].replace('T', ' ')} UTC, by {current['by']}"
                         + (f"  {current['run_url']}" if current.get("run_url") else ""))
        for entry in data["history"]:
            what = "left" if entry["action"] == "unassign" else entry["kind"]
            lines.append(f"    {entry['at'][:16].replace('T', ' ')}  {what:<9} {entry['version'] or '?':<10} "
                         f"{entry['by']:<20} {entry['tag']}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    model = config.model.name
    record.check_model_name(model)
    fetch = config.deploy.push and not args.no_fetch
    record.check_repository(config.root, config.deploy.remote if fetch else None, config.source)
    if fetch:
        record.fetch_tags(config.root, config.deploy.remote, model)
    history = History.read(config.root, model)
    environments = list(dict.fromkeys([*config.deploy.stages, *config.deploy.environments]))
    environments += sorted({e.stage for e in history.events if e.stage and e.stage not in environments})
    result = status(history, environments, args.last)
    print(json.dumps(result, indent=2) if args.json else text(result))
    get_output().set_output("status", json.dumps(result))
    return 0
