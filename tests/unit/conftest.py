"""Fixtures of the unit tests: the template project's config and the input schema its contract gives (the
serving tests), and this mlcd dressed as a release (init and upgrade)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlcd import __version__
from mlcd.config import Config
from mlcd.release import RELEASE_FILE, Release
from mlcd.serving.validation import InputSchema
from testing.release import REUSABLE, SAMPLE_SHA

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def config(template_config: Config) -> Config:
    return template_config


@pytest.fixture(scope="session")
def schema(template_config: Config) -> InputSchema:
    return InputSchema.from_contract(template_config.contract)


@pytest.fixture
def released() -> Iterator[Release]:
    """This mlcd as a release would be: mlcd/resources/release.json as scripts/release writes it."""
    release = Release(__version__, SAMPLE_SHA, "mlcd-dev/mlcd", REUSABLE)
    record = ROOT / "mlcd" / "resources" / RELEASE_FILE
    assert not record.exists(), "a release.json left in the checkout would make every install a release"
    record.write_text(json.dumps(release.to_json()), encoding="utf-8")
    try:
        yield release
    finally:
        record.unlink()
