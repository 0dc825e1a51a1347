"""A local GitHub REST API stand-in whose every call and answer is validated against GitHub's OpenAPI."""

from .ensure_spec import VERSION as OPENAPI_VERSION
from .ensure_spec import ensure_spec
from .openapi import Call, GitHubOpenAPI
from .server import ROUTES, Fault, GitHubStandin, Recorded, Repository, route

__all__ = [
    "OPENAPI_VERSION",
    "ROUTES",
    "Call",
    "Fault",
    "GitHubOpenAPI",
    "GitHubStandin",
    "Recorded",
    "Repository",
    "ensure_spec",
    "route",
]
