"""The suite's two lanes (``tests/lanes.py``) split it without losing or repeating a test."""

from __future__ import annotations

from pathlib import Path

from fraudstream.settings import PROJECT_ROOT
from tests.conftest import LANE_A_INTEGRATION, lane_of


def test_every_test_file_is_in_exactly_one_lane_and_the_integration_tests_are_split() -> None:
    files = [p.relative_to(PROJECT_ROOT) for p in (PROJECT_ROOT / "tests").rglob("test_*.py")]
    lanes = {path: lane_of(path) for path in files}
    assert set(lanes.values()) == {"a", "b"}
    assert all(lane == "a" for path, lane in lanes.items() if "integration" not in path.parts)
    integration_b = [path for path, lane in lanes.items() if lane == "b"]
    assert integration_b
    assert all("integration" in path.parts for path in integration_b)
    # the doctests of the packages run in lane "a"
    assert lane_of(Path("fraudstream/settings.py")) == "a"


def test_the_integration_files_named_for_lane_a_exist() -> None:
    """A renamed file would otherwise move to lane "b" unnoticed and unbalance the lanes."""
    present = {p.name for p in (PROJECT_ROOT / "tests" / "integration").glob("test_*.py")}
    assert present >= LANE_A_INTEGRATION
