"""Fixtures of the worker's unit tests."""

from __future__ import annotations

import pytest

from registry import LoadedModel
from tests.consumers.scoring.fakes import tiny_model as make_tiny_model


@pytest.fixture(scope="session")
def tiny_model() -> LoadedModel:
    return make_tiny_model()
