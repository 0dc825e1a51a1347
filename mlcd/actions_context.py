"""What mlcd reads of a GitHub Actions run from its environment: the repository and the run's URL.

Kept apart from :mod:`mlcd.github` (which loads an HTTP client) so reports can link the run cheaply.
"""

from __future__ import annotations

from collections.abc import Mapping

from mlcd.errors import UsageError


def run_url(env: Mapping[str, str]) -> str | None:
    """The workflow run's page, or None outside GitHub Actions."""
    repo, run_id = env.get("GITHUB_REPOSITORY"), env.get("GITHUB_RUN_ID")
    if not (repo and run_id):
        return None
    return f"{env.get('GITHUB_SERVER_URL') or 'https://github.com'}/{repo}/actions/runs/{run_id}"


def repository(given: str | None, env: Mapping[str, str]) -> str:
    """OWNER/NAME: ``--repo`` if given, else the run's repository; a usage error when there is neither."""
    repo = given or env.get("GITHUB_REPOSITORY")
    if not repo:
        raise UsageError("which repository? no --repo, and not on GitHub Actions (no GITHUB_REPOSITORY)",
                         fix="pass --repo OWNER/NAME")
    return repo
