"""Shared fixtures: one real Kafka broker per test session, and factories over it.

The broker is the project's own (``cli.broker.LocalBroker``) on a test port (19092 by
default, ``FRAUDSTREAM_TEST_KAFKA_PORT`` to change it) with its own data folder, so tests never
touch a user's broker. It is reused if already running and stopped at the end only if this session
started it. Tests that need it are marked ``integration`` automatically by living in
``tests/integration``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cli.broker import LocalBroker
from fraudstream.kafka import delete_topics, ensure_topics
from fraudstream.settings import PROJECT_ROOT
from tests.mlflow_server import MlflowServer

TEST_PORT = int(os.environ.get("FRAUDSTREAM_TEST_KAFKA_PORT", "19092"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in Path(str(item.fspath)).parts:
            item.add_marker(pytest.mark.integration)


_MLFLOW: list[MlflowServer] = []


def pytest_collection_finish(session: pytest.Session) -> None:
    if any(Path(str(item.fspath)).name == "test_mlflow.py" for item in session.items):
        _MLFLOW.append(MlflowServer())  # starts now, in the background of the tests before it


def pytest_sessionfinish(session: pytest.Session) -> None:
    for server in _MLFLOW:
        server.stop()


@pytest.fixture(scope="session")
def mlflow_tracking_uri() -> str:
    """The session's MLflow server, once it answers."""
    if not _MLFLOW:
        _MLFLOW.append(MlflowServer())
    return _MLFLOW[0].wait_ready()


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[LocalBroker]:
    broker = LocalBroker(PROJECT_ROOT / ".fraudstream" / "test-kafka", port=TEST_PORT, controller_port=TEST_PORT + 1)
    started_here = not (broker.pid() is not None and broker.is_ready())
    broker.start(wait_seconds=90)
    yield broker
    if started_here:
        broker.stop()


@pytest.fixture(scope="session")
def bootstrap_servers(kafka_broker: LocalBroker) -> str:
    return kafka_broker.bootstrap_servers


@pytest.fixture
def topic_factory(bootstrap_servers: str, request: pytest.FixtureRequest) -> Iterator[Callable[..., str]]:
    """Creates uniquely named topics for one test and deletes them afterwards (kept when
    ``FRAUDSTREAM_KEEP_TEST_TOPICS`` is set, to look into a failure)."""
    created: list[str] = []

    def make(purpose: str = "t", partitions: int = 3) -> str:
        name = f"test-{request.node.name[:40]}-{purpose}-{uuid.uuid4().hex[:8]}".replace("[", "_").replace("]", "_")
        ensure_topics(bootstrap_servers, [name], partitions)
        created.append(name)
        return name

    yield make
    if created and not os.environ.get("FRAUDSTREAM_KEEP_TEST_TOPICS"):
        delete_topics(bootstrap_servers, created)
