from __future__ import annotations

import argparse
import json

from mlcd.config.validate import load_schema


def run(args: argparse.Namespace) -> int:
    print(json.dumps(load_schema(), indent=2))
    return 0
