"""What a promotion talks to (:class:`Context`), and the environments mlcd.yaml configures."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from mlcd import record
from mlcd.config import Config
from mlcd.config.model import EnvironmentConfig
from mlcd.errors import ConfigError
from mlcd.github.client import GitHubClient
from mlcd.output import Output
from mlcd.promotion.targets import DeployTarget, make_target
from mlcd.registry import Registry

DEPLOY_DIR = "deploy"


@dataclass
class Context:
    """What a promotion talks to; tests swap any of it."""

    config: Config
    env: Mapping[str, str]
    out: Output
    registry_for: Callable[[str], Registry] | None = None
    target_for: Callable[[str, EnvironmentConfig, Mapping[str, str]], DeployTarget] = make_target
    github: GitHubClient | None = None
    repo: str | None = None

    @classmethod
    def create(cls, config: Config, env: Mapping[str, str], out: Output) -> Context:
        repo = env.get("GITHUB_REPOSITORY") or None
        client = GitHubClient.from_env(env) if env.get("GITHUB_TOKEN") and repo else None
        return cls(config, env, out, github=client, repo=repo)

    def registry(self, host: str) -> Registry:
        return self.registry_for(host) if self.registry_for else Registry(host, env=self.env)

    @property
    def root(self) -> Path:
        return self.config.root


def environment_config(config: Config, name: str) -> EnvironmentConfig:
    environments = config.deploy.environments
    if name not in environments:
        known = ", ".join(environments) or "none"
        raise ConfigError(f"environment '{name}' is not in deploy.environments of {config.source} (known: {known})",
                          fix=f"add `{name}: {{target: docker, url: http://127.0.0.1:8081}}` under "
                              "deploy.environments")
    record.check_stage_name(name)
    return environments[name]


@dataclass(frozen=True)
class NotConfigured:
    """An environment ``deploy.environments`` does not name: what to say, and the settings to add."""

    message: str
    snippet: str

    def markdown(self) -> str:
        return (f"## Not promoted\n\n{self.message}\n\nTo deploy, add to `mlcd.yaml` (see mlcd's "
                f"docs/promotion.md for the targets: docker, kubernetes, webhook):\n\n```yaml\n{self.snippet}```\n")


def not_configured(config: Config, environment: str, image: str | None = None) -> NotConfigured | None:
    """Why nothing is promoted to ``environment`` when mlcd.yaml does not configure it (a new repository's
    mlcd.yaml has no ``deploy:``); None when it does."""
    environments = config.deploy.environments
    if environment in environments:
        return None
    source = os.path.relpath(config.source)
    source = config.source if source.startswith("..") else source  # mlcd.yaml, not the runner's work path
    where = (f"deploy.environments of {source} has no '{environment}' (it has {', '.join(environments)})"
             if environments else f"{source} has no deploy.environments")
    names = list(dict.fromkeys([*config.deploy.stages, environment]))
    lines = ["deploy:", f"  stages: [{', '.join(config.deploy.stages)}]", "  environments:"]
    lines += [f"    {name}: {{target: docker, url: \"http://127.0.0.1:{8081 + i}\"}}" for i, name in enumerate(names)
              if name not in environments]
    built = f"the image {image} is built and pushed" if image else "the image is built and pushed"
    message = (f"{built}, and not promoted to {environment}: {where}; add `{environment}` under "
               f"deploy.environments (a target: docker, kubernetes or webhook, and its url) to deploy it")
    return NotConfigured(message, "\n".join(lines) + "\n")


def deploy_file(config: Config, environment: str) -> Path:
    return config.resolve(f"{DEPLOY_DIR}/{environment}.yaml")
