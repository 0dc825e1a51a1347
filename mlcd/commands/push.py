from __future__ import annotations

import argparse
from pathlib import Path

from mlcd import git
from mlcd.config import load_config
from mlcd.errors import UsageError
from mlcd.output import get_output
from mlcd.packaging.engine import connect
from mlcd.packaging.push import push


def run(args: argparse.Namespace) -> int:
    out = get_output()
    to = args.to
    if not to:
        to = load_config(args.config).package.image
        if not to:
            raise UsageError("no repository to push to",
                             fix="pass --to REGISTRY/REPO, or set package.image in mlcd.yaml")
    commit, _ = git.head_state(Path.cwd())
    result = push(connect(), args.image, to, out, revision=commit)
    Path(args.digest_file).write_text(result.digest + "\n", encoding="utf-8")
    out.success(f"pushed {result.reference} (the digest the registry reports is the one the engine pushed)")
    out.info(f"  tags: {', '.join(result.tags)}")
    out.info(f"  digest → {args.digest_file}")
    out.set_output("digest", result.digest)
    out.set_output("image", result.reference)
    out.set_output("tags", ",".join(f"{result.target.name}:{tag}" for tag in result.tags))
    out.step_summary(f"### Pushed `{result.reference}`\n\nTags: "
                     + ", ".join(f"`{tag}`" for tag in result.tags) + "\n")
    return 0
