from __future__ import annotations

import argparse
from pathlib import Path

from mlcd.config import load_config
from mlcd.output import get_output
from mlcd.packaging.build import package


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    out = get_output()
    result = package(
        config,
        out,
        tag=args.tag,
        base_image=args.base_image,
        wheelhouse=Path(args.wheelhouse) if args.wheelhouse else None,
        context_dir=Path(args.context_dir) if args.context_dir else None,
        sbom_path=Path(args.sbom),
    )
    out.success(f"built {result.tag} ({result.image_id[7:19]}) in {result.seconds:.1f}s; "
                f"{result.cached_steps} of {result.steps} steps from the build cache")
    out.info(f"  Dockerfile → {result.dockerfile}")
    if result.sbom is not None:
        out.info(f"  SBOM ({result.components} components) → {result.sbom}")
        out.set_output("sbom-file", str(result.sbom))
    out.set_output("image", result.tag)
    out.set_output("image-id", result.image_id)
    out.set_output("dockerfile", str(result.dockerfile))
    return 0
