from __future__ import annotations

from pathlib import Path

import pytest

from producers.config import GeneratorConfig
from producers.generator import generate_to


@pytest.fixture(scope="session")
def long_data(tmp_path_factory) -> Path:
    """80 days: long enough for four prequential folds before a 7/7/7 training protocol."""
    path = tmp_path_factory.mktemp("long")
    config = GeneratorConfig(n_customers=1_200, n_terminals=2_400, n_days=80, seed=21)
    generate_to(config, path, progress=lambda m: None)
    return path
