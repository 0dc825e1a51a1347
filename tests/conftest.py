"""Fixtures shared by every test directory."""

# --- GitHub REST API stand-in (tests/github_standin): github_openapi, github_standin -------------------
from github_standin.fixtures import github_openapi, github_standin

__all__ = ["github_openapi", "github_standin"]
# --- end GitHub REST API stand-in ----------------------------------------------------------------------
