"""``mlcd config stages``: the stages of deploy.stages, one per line and as the outputs stage-1 … stage-N
that the delivery workflow's stage jobs run on."""

from __future__ import annotations

import argparse

from mlcd.config import load_config
from mlcd.config.model import delivery_stages
from mlcd.output import get_output


def run(args: argparse.Namespace) -> int:
    out = get_output()
    stages = delivery_stages(load_config(args.config))
    for number, stage in enumerate(stages, 1):
        out.info(stage)
        out.set_output(f"stage-{number}", stage)
    out.set_output("count", str(len(stages)))
    return 0
