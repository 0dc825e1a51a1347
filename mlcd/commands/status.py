"""``mlcd status``: what runs in each environment, since when and by whose hand, and its last promotions —
read from the promotion tags (fetched from the remote first, when promotions are pushed)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from mlcd.config import load_config
from mlcd.output import get_output
from mlcd.promotion.status import read_status


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
    result = read_status(config, fetch=not args.no_fetch, last=args.last)
    print(json.dumps(result, indent=2) if args.json else text(result))
    get_output().set_output("status", json.dumps(result))
    return 0
