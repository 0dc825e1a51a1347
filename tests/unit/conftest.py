"""Fixtures of the serving tests: the template project's config and the input schema its contract gives."""

from __future__ import annotations

import pytest

from mlcd.config import Config
from mlcd.serving.validation import InputSchema


@pytest.fixture(scope="session")
def config(template_config: Config) -> Config:
    return template_config


@pytest.fixture(scope="session")
def schema(template_config: Config) -> InputSchema:
    return InputSchema.from_contract(template_config.contract)
