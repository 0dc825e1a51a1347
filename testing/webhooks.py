"""Webhook event payloads for act, checked against GitHub's webhook schemas (npm ``@octokit/webhooks-schemas``).

Each payload starts from the community example of that event (``@octokit/webhooks-examples``, same
version) with the repository, numbers, refs and commits of the test's own git repository put in; the
result must validate against the schema of exactly that event and action, or the test fails.
"""

from __future__ import annotations

import copy
import functools
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator

PACKAGES = ("@octokit/webhooks-schemas", "@octokit/webhooks-examples")
VERSION = "7.6.1"
CACHE = Path(__file__).resolve().parents[1] / "tests" / ".cache" / "webhooks"


class WebhooksUnavailable(RuntimeError):
    pass


def ensure_packages(cache_dir: Path = CACHE) -> Path:
    """node_modules/@octokit under cache_dir, installing the pinned packages with npm when missing."""
    root = cache_dir / "node_modules" / "@octokit"
    if all(_version(root / name.split("/")[1]) == VERSION for name in PACKAGES):
        return root
    npm = shutil.which("npm")
    if npm is None:
        raise WebhooksUnavailable(f"npm is needed to install {', '.join(PACKAGES)} (e.g. `apt-get install npm`)")
    cache_dir.mkdir(parents=True, exist_ok=True)
    command = [npm, "install", "--prefix", str(cache_dir), "--no-save", "--no-package-lock", "--ignore-scripts",
               "--no-audit", "--no-fund", "--loglevel=error", *(f"{name}@{VERSION}" for name in PACKAGES)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise WebhooksUnavailable(f"`{' '.join(command[1:])}` failed: {result.stderr.strip()}")
    return root


def _version(package_dir: Path) -> str | None:
    try:
        return str(json.loads((package_dir / "package.json").read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError):
        return None


@functools.cache
def _schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ensure_packages() / "webhooks-schemas" / "schema.json").read_text())
    return data


@functools.cache
def _examples() -> dict[str, list[dict[str, Any]]]:
    data = json.loads((ensure_packages() / "webhooks-examples" / "api.github.com" / "index.json").read_text())
    return {event["name"]: event["examples"] for event in data}


def schema_errors(event: dict[str, Any], definition: str) -> list[str]:
    """Every way ``event`` breaks the schema ``definition`` (e.g. ``pull_request$synchronize``)."""
    schema = _schema()
    validator = Draft7Validator({"$ref": f"#/definitions/{definition}", "definitions": schema["definitions"]})
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in validator.iter_errors(event)]


def validated(event: dict[str, Any], definition: str) -> dict[str, Any]:
    errors = schema_errors(event, definition)
    if errors:
        raise AssertionError(f"the {definition} payload does not match GitHub's webhook schema:\n  "
                             + "\n  ".join(errors[:20]))
    return event


def _repository(template: dict[str, Any], full_name: str) -> dict[str, Any]:
    owner, name = full_name.split("/")
    repo = copy.deepcopy(template)
    old = repo["full_name"]
    text = json.dumps(repo).replace(old, full_name).replace(f'"{old.split("/")[0]}"', f'"{owner}"')
    repo = json.loads(text)
    repo.update(name=name, full_name=full_name, default_branch="main", fork=False, private=False)
    repo["owner"]["login"] = owner
    return repo


def pull_request(full_name: str, number: int, *, head_ref: str, head_sha: str, base_ref: str, base_sha: str,
                 action: str = "synchronize") -> dict[str, Any]:
    """A ``pull_request`` event from a branch of the same repository (not a fork)."""
    example = next(e for e in _examples()["pull_request"] if e.get("action") == action)
    event = copy.deepcopy(example)
    repo = _repository(event["repository"], full_name)
    event["repository"] = repo
    event["number"] = number
    pr = event["pull_request"]
    pr["number"] = number
    base_url = f"https://api.github.com/repos/{full_name}"
    pr.update(url=f"{base_url}/pulls/{number}", html_url=f"https://github.com/{full_name}/pull/{number}",
              issue_url=f"{base_url}/issues/{number}", comments_url=f"{base_url}/issues/{number}/comments",
              state="open", merged=False, draft=False)
    for side, ref, sha in (("head", head_ref, head_sha), ("base", base_ref, base_sha)):
        pr[side].update(ref=ref, sha=sha, label=f"{repo['owner']['login']}:{ref}", repo=copy.deepcopy(repo))
        pr[side]["user"] = copy.deepcopy(repo["owner"])
    if "before" in event:
        event["before"], event["after"] = base_sha, head_sha
    return validated(event, f"pull_request${action}")


def push(full_name: str, *, ref: str, before: str, after: str) -> dict[str, Any]:
    """A ``push`` event of one commit to ``ref`` (e.g. refs/heads/main)."""
    example = next(e for e in _examples()["push"] if e.get("head_commit") and not e.get("deleted"))
    event = copy.deepcopy(example)
    repo = _repository(event["repository"], full_name)
    # the push example predates fields the schema now requires
    repo.update({"is_template": False, "web_commit_signoff_required": False, "topics": [],
                 "visibility": "public", "custom_properties": {}})
    event["repository"] = repo
    event.update(ref=ref, before=before, after=after, created=False, deleted=False, forced=False,
                 compare=f"https://github.com/{full_name}/compare/{before[:12]}...{after[:12]}")
    event["head_commit"]["id"] = after
    event["head_commit"]["tree_id"] = after
    event["commits"] = [event["head_commit"]]
    return validated(event, "push$event")


def workflow_dispatch(full_name: str, *, workflow: str, ref: str = "refs/heads/main",
                      inputs: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``workflow_dispatch`` event: ``workflow`` (its path, .github/workflows/NAME) started on ``ref``."""
    event = copy.deepcopy(_examples()["workflow_dispatch"][0])
    repo = _repository(event["repository"], full_name)
    repo.update({"is_template": False, "web_commit_signoff_required": False, "topics": [], "visibility": "public",
                 "custom_properties": {}})
    event["repository"] = repo
    if "organization" in event:
        event["organization"]["login"] = full_name.split("/")[0]
    event.update(ref=ref, workflow=workflow, inputs=dict(inputs or {}))
    return validated(event, "workflow_dispatch$event")
