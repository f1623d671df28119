"""Shared fixtures: one real Kafka broker per test session, and factories over it.

The broker is the project's own (``cli.broker.LocalBroker``) on a test port (19092 by
default, ``FRAUDSTREAM_TEST_KAFKA_PORT`` to change it) with its own data folder, so tests never
touch a user's broker. It is reused if already running and stopped at the end only if this session
started it. Tests that need it are marked ``integration`` automatically by living in
``tests/integration``.
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cli.broker import LocalBroker
from fraudstream.kafka import delete_topics, ensure_topics
from tests.lanes import suite_broker
from tests.mlflow_server import MlflowServer

#: the integration files that run in lane "a" (``tests/lanes.py``) beside every unit test; lane "b"
#: runs the other integration files. Together the two lanes are the whole suite, each item once;
#: the split keeps the two lanes' times close (BENCHMARKS.md).
LANE_A_INTEGRATION = frozenset({"test_demo.py", "test_bench_smoke.py", "test_failures.py"})


def lane_of(path: Path) -> str:
    return "b" if "integration" in path.parts and path.name not in LANE_A_INTEGRATION else "a"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in Path(str(item.fspath)).parts:
            item.add_marker(pytest.mark.integration)
    lane = os.environ.get("FRAUDSTREAM_TEST_LANE")
    if lane is None:
        return
    if lane not in ("a", "b"):
        raise pytest.UsageError(f"FRAUDSTREAM_TEST_LANE must be 'a' or 'b', not {lane!r}")
    selected = [item for item in items if lane_of(Path(str(item.fspath))) == lane]
    deselected = [item for item in items if lane_of(Path(str(item.fspath))) != lane]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


_MLFLOW: list[MlflowServer] = []


class _BrokerStart:
    """The test broker, started in a thread as soon as collection selects a test that needs it:
    resolving its jars and starting the JVM then overlap the unit tests that run first."""

    def __init__(self) -> None:
        self.broker = suite_broker()
        self.started_here = False
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._start, name="test-broker-start", daemon=True)
        self._thread.start()

    def _start(self) -> None:
        try:
            self.started_here = not (self.broker.pid() is not None and self.broker.is_ready())
            self.broker.start(wait_seconds=90)
        except BaseException as exc:  # re-raised in the fixture, in the test that needs the broker
            self.error = exc

    def wait(self) -> LocalBroker:
        self._thread.join()
        if self.error is not None:
            raise self.error
        return self.broker


_BROKER: list[_BrokerStart] = []


def pytest_collection_finish(session: pytest.Session) -> None:
    if any(Path(str(item.fspath)).name == "test_mlflow.py" for item in session.items):
        _MLFLOW.append(MlflowServer())  # starts now, in the background of the tests before it
    if any("integration" in Path(str(item.fspath)).parts for item in session.items):
        _BROKER.append(_BrokerStart())


def pytest_sessionfinish(session: pytest.Session) -> None:
    for server in _MLFLOW:
        server.stop()
    for start in _BROKER:  # started for tests that then did not run (the fixture stops it otherwise)
        with contextlib.suppress(BaseException):
            start.wait()
        if start.started_here and start.broker.pid() is not None:
            start.broker.stop()


@pytest.fixture(scope="session")
def mlflow_tracking_uri() -> str:
    """The session's MLflow server, once it answers."""
    if not _MLFLOW:
        _MLFLOW.append(MlflowServer())
    return _MLFLOW[0].wait_ready()


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[LocalBroker]:
    if not _BROKER:  # a test outside tests/integration asked for it
        _BROKER.append(_BrokerStart())
    start = _BROKER[0]
    broker = start.wait()
    yield broker
    if start.started_here:
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
