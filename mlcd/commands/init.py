"""``mlcd init``: add mlcd's workflows and a first mlcd.yaml to the repository in the current directory;
with ``--train SCRIPT``, also the DVC pipeline around that script."""

from __future__ import annotations

import argparse
from pathlib import Path

from mlcd.output import get_output
from mlcd.scaffold.run import InitRequest, run_init


def run(args: argparse.Namespace) -> int:
    out = get_output()
    root = Path.cwd()
    outcome = run_init(root, InitRequest(data=args.data, label=args.label, train=args.train, ref=args.ref,
                                         force=args.force), out)
    for path in outcome.result.conflicts:
        out.warning(f"{path.relative_to(root)} differs from what mlcd init writes (changed by you?): left as it is",
                    title="mlcd init")
    out.info("")
    out.info("Next steps:")
    for number, step in enumerate(outcome.next_steps, 1):
        out.info(f"  {number}. {step}")
    error = outcome.conflicts_error()
    if error is not None:
        raise error
    return 0
