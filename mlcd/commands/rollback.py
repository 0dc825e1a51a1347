"""``mlcd rollback ENV``: back to the version that ran before (or ``--to VERSION``), by digest, through
the same checks, deployment and verification as a promotion, and recorded like one."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from mlcd.config import load_config
from mlcd.output import get_output
from mlcd.promotion import evidence
from mlcd.promotion.context import Context
from mlcd.promotion.saga import rollback


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    out = get_output()
    ctx = Context.create(config, os.environ, out)
    outcome = rollback(ctx, args.environment, args.to, parity_golden=Path(args.golden) if args.golden else None,
                       require_parity=args.require_parity)
    out.step_summary(evidence.markdown(outcome.plan, parity=outcome.parity, directions=config.metrics, outcome=outcome))
    out.set_output("version", outcome.plan.candidate.version)
    out.set_output("digest", outcome.plan.candidate.digest)
    return 0
