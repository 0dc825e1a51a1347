"""``mlcd promote``: gated promotion of one image (by digest) to an environment; ``--plan`` only checks and
writes the approval evidence; ``--via-pr`` proposes the promotion as a pull request instead;
``--if-configured`` makes an environment mlcd.yaml does not configure a notice instead of an error."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from mlcd.config import Config, load_config
from mlcd.errors import CheckFailed, InputError, MlcdError
from mlcd.output import Output, get_output
from mlcd.promotion import evidence
from mlcd.promotion.context import Context, not_configured
from mlcd.promotion.plan import Plan
from mlcd.promotion.promotion_pr import propose
from mlcd.promotion.saga import Outcome, promote
from mlcd.promotion.state import ShadowFile, data_test_result, review, shadow_result


def _json(path: str | None) -> dict[str, Any] | None:
    if not path:
        return None
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}", fix="pass the file the earlier step wrote") from None
    return data if isinstance(data, dict) else None


def publish(out: Output, config: Config, the_plan: Plan, args: argparse.Namespace, outcome: Outcome | None,
            data_tests: dict[str, Any] | None, shadow: ShadowFile | None) -> str:
    text = evidence.markdown(the_plan, parity=outcome.parity if outcome else None, smoke=_json(args.smoke),
                             data_tests=data_tests, directions=config.metrics,
                             outcome=outcome, shadow=shadow)
    Path(args.evidence).write_text(text, encoding="utf-8")
    out.step_summary(text)
    c = the_plan.candidate
    out.set_output("version", c.version)
    out.set_output("digest", c.digest)
    out.set_output("image", c.reference)
    out.set_output("evidence-file", args.evidence)
    return text


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    out = get_output()
    missing = not_configured(config, args.to, args.what) if args.if_configured else None
    if missing is not None:
        out.notice(missing.message, title=f"mlcd promote: {args.to} is not configured")
        out.step_summary(missing.markdown())
        out.set_output("action", "not-configured")
        return 0
    ctx = Context.create(config, os.environ, out)
    result = data_test_result(Path(args.data_test) if args.data_test else None)
    passed, data_tests = (result.passed, result.document) if result else (None, None)
    shadow = shadow_result(Path(args.shadow) if args.shadow else None)
    if args.plan or args.via_pr:
        the_plan = review(ctx, args.what, args.to, register_as=args.register_as, data_tests_passed=passed,
                          shadow=shadow)
        text = publish(out, config, the_plan, args, None, data_tests, shadow)
        out.info(f"  evidence → {args.evidence}")
        if the_plan.refused:
            raise CheckFailed(f"promotion of {the_plan.candidate.version} to {args.to} would be refused for "
                              f"{len(the_plan.problems)} reason(s), each above and in {args.evidence}",
                              failures=the_plan.problems)
        if args.via_pr:
            url = propose(ctx, the_plan, args.base, text)
            if url is not None:
                out.success(f"promotion pull request: {url}")
                out.set_output("pull-request-url", url)
            return 0
        out.success(f"{the_plan.candidate.version} may be promoted to {args.to}"
                    + (" (it is there already)" if the_plan.noop else ""))
        return 0
    try:
        outcome = promote(ctx, args.what, args.to, register_as=args.register_as, data_tests_passed=passed,
                          shadow=shadow, parity_golden=Path(args.golden) if args.golden else None,
                          require_parity=args.require_parity)
    except MlcdError as exc:
        out.step_summary(f"## ❌ Promotion to {args.to} failed\n\n{exc.one_line()}\n")
        raise
    publish(out, config, outcome.plan, args, outcome, data_tests, shadow)
    if outcome.deployed and outcome.deployed.url:
        out.set_output("url", outcome.deployed.url)
    out.set_output("action", outcome.action)
    return 0

