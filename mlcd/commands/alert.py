"""``mlcd alert``: the drift verdict (drift, skew, production metrics below the gates, or a stale model) as
one GitHub issue, opened or updated, and told when drift clears."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from mlcd.actions_context import repository, run_url
from mlcd.github import GitHubClient
from mlcd.github.issues import AlertIssue, clear_alert, raise_alert
from mlcd.github.publish import read_body
from mlcd.output import get_output


def run(args: argparse.Namespace) -> int:
    env = os.environ
    out = get_output()
    repo = repository(args.repo, env)
    report = read_body(Path(args.report), fix="pass --report the Markdown report `mlcd drift --markdown` wrote")
    client = GitHubClient.from_env(env)
    link = run_url(env)
    columns = [c for c in (args.columns or "").split(",") if c.strip()]
    metrics = [m for m in (args.metrics or "").split(",") if m.strip()]
    if args.verdict in ALERTING:
        title = args.title or alert_title(args.verdict, columns, metrics)
        footer = f"\n\n---\nUpdated by mlcd on every drifting run{f': [this run]({link})' if link else ''}. " \
                 "mlcd comments here when drift clears; close the issue once you have acted on it.\n"
        issue = raise_alert(client, repo, title, report + footer, label=args.label)
        out.success(f"drift issue {issue.outcome}: {issue.url}")
    elif args.verdict == "no drift":
        issue = clear_alert(client, repo, recovery_note(report, link), label=args.label)
        if issue.outcome == "quiet":
            out.info("no drift, and no open drift issue: nothing to do")
        else:
            out.success(f"no drift: {'noted on' if issue.outcome == 'recovered' else 'already noted on'} {issue.url}")
    else:
        issue = AlertIssue("quiet")
        out.info(f"{args.verdict}: the drift issue is left as it is")
    out.set_output("outcome", issue.outcome)
    out.set_output("issue-url", issue.url or "")
    out.set_output("issue-number", str(issue.number or ""))
    return 0


ALERTING = ("drift", "skew", "below gates", "stale")


def alert_title(verdict: str, columns: list[str], metrics: list[str]) -> str:
    if verdict == "stale":
        return "mlcd: the production model is older than monitoring.max_model_age"
    if verdict == "below gates":
        return f"mlcd: production {', '.join(metrics) or 'metrics'} below the gates on labelled traffic"
    if not columns:
        return "mlcd: production inputs break the data contract"
    shown = ", ".join(columns[:5]) + (f" and {len(columns) - 5} more" if len(columns) > 5 else "")
    return f"mlcd: drift in production inputs ({shown})"


def recovery_note(report: str, link: str | None) -> str:
    where = f" ([run]({link}))" if link else ""
    return (f"✅ No drift in the latest window{where}. mlcd leaves this issue open: close it once the "
            f"retrained model (or the upstream fix) is in production.\n\n<details><summary>The report</summary>\n\n"
            f"{report}\n\n</details>\n")

