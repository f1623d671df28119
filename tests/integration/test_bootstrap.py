"""``fraudstream state bootstrap`` against workers that streamed the same history (issue 17, item 1).

One history over four partitions, two worker processes in each run but the last:

* the **streamed** pair decides every event from the start; its changelogs hold the state a
  bootstrap must write;
* the state bootstrapped from the topics equals that changelog byte for byte (offsets included),
  and the state bootstrapped from the files equals it but for the replay guard's offsets;
* a pair started on state bootstrapped from the files up to T, fed only the events after T, and
  a worker started on state bootstrapped from the topics (its group committed at T) decide every
  later transaction exactly as the streamed pair did. The three run at the same time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition

from consumers.scoring.bootstrap import changelog_topics
from consumers.scoring.records import CARD_TABLE, TERMINAL_TABLE
from consumers.scoring.terminal_view import WATERMARK_KEY
from features.card_state import CardState
from features.terminal_state import TerminalState
from fraudstream.settings import PROJECT_ROOT, TopicNames
from producers.adapters import load_dataset
from producers.config import GeneratorConfig
from producers.replay import encoded_events
from tests.integration.worker_harness import WorkerProcess, all_decided, decisions, produce, promoted_model, wait_for

PARTITIONS = 4


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    root = tmp_path_factory.mktemp("bootstrap")
    data, store, _ = promoted_model(root, GeneratorConfig(n_customers=300, n_terminals=600, n_days=28, seed=5))
    dataset = load_dataset(data)
    until = dataset.transactions["event_time"].min().normalize() + timedelta(days=21)
    return {"root": root, "data": data, "store": store, "dataset": dataset, "until": until}


def _topics(topic_factory) -> TopicNames:
    return TopicNames(
        transactions=topic_factory("tx", PARTITIONS), labels=topic_factory("labels", PARTITIONS),
        decisions=topic_factory("decisions", PARTITIONS), dlq=topic_factory("dlq", PARTITIONS),
    )  # fmt: skip


def _pair(bootstrap: str, topics: TopicNames, store: str, app_id: str, root: Path) -> list[WorkerProcess]:
    workers = []
    for name, extra in (("a", ()), ("b", ("--state-store", "memory://"))):
        (root / name).mkdir(parents=True)
        workers.append(WorkerProcess(bootstrap, topics, store, app_id, root / name, *extra, partitions=PARTITIONS))
    return workers


def _commit_lag(bootstrap: str, group: str, topics: list[str]) -> dict[str, int]:
    """Per partition of ``topics`` (``topic[p]``), how far ``group``'s committed offset is behind its
    end (the whole partition when nothing is committed); partitions at their end are left out."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        wanted = [TopicPartition(t, p) for t in topics for p in range(PARTITIONS)]
        lag = {}
        for tp in consumer.committed(wanted, timeout=10):
            end = consumer.get_watermark_offsets(tp, timeout=10)[1]
            committed = max(tp.offset, 0)
            if committed != end:
                lag[f"{tp.topic}[{tp.partition}] committed {tp.offset} of {end}"] = end - committed
        return lag
    finally:
        consumer.close()


def _changelog(bootstrap: str, topic: str) -> dict[bytes, tuple[bytes, int]]:
    """The newest value and partition of every key of a changelog (watermarks left out)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"read-{uuid.uuid4().hex}",
                         "enable.partition.eof": True, "enable.auto.commit": False})  # fmt: skip
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(PARTITIONS)}
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    values: dict[bytes, tuple[bytes, int]] = {}
    done = {p for p, end in ends.items() if end == 0}
    try:
        while len(done) < PARTITIONS:
            for message in consumer.consume(1000, timeout=1.0):
                if message.error() is not None:
                    assert message.error().code() == KafkaError._PARTITION_EOF, message.error()
                    done.add(message.partition())
                    continue
                if message.key() != WATERMARK_KEY:
                    values[message.key()] = (message.value(), message.partition())
                if message.offset() + 1 >= ends[message.partition()]:
                    done.add(message.partition())
    finally:
        consumer.close()
    return values


def _bootstrap(bootstrap: str, topics: TopicNames, app_id: str, *flags: str) -> str:
    env = {**os.environ, "FRAUDSTREAM_BOOTSTRAP_SERVERS": bootstrap, "FRAUDSTREAM_PARTITIONS": str(PARTITIONS),
           **topics.as_env()}  # fmt: skip
    out = subprocess.run([sys.executable, "-m", "cli.main", "state", "bootstrap", "--app-id", app_id, *flags],
                         cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def _without_offsets(table: str, value: bytes) -> bytes:
    state = CardState.from_bytes(value) if table == CARD_TABLE else TerminalState.from_bytes(value)
    state.offsets = {}
    return state.to_bytes()


def _by_transaction(records: list[dict]) -> dict[str, dict]:
    """One decision per transaction (a duplicate is identical but for its decision time)."""
    return {d["transaction_id"]: {**d, "decision_time": None} for d in records}


def test_bootstrapped_state_equals_streamed_state_and_workers_started_on_it_decide_as_streamed(
    history, bootstrap_servers, topic_factory, tmp_path
) -> None:
    dataset, store, until = history["dataset"], history["store"], history["until"]
    n = len(dataset.transactions)
    run = uuid.uuid4().hex[:8]
    later = dataset.between(until, None)
    later_ids = set(later.transactions["transaction_id"])
    assert 0.15 * n < len(later_ids) < 0.4 * n

    # three runs at once: the streamed pair decides every event from the start; a pair on state
    # bootstrapped from the files up to T is fed only the events after T; and a worker on state
    # bootstrapped from the streamed topics up to T, its group committed there, reads those topics
    streamed_topics = _topics(topic_factory)
    streamed_app = f"streamed-{run}"
    produce(bootstrap_servers, list(encoded_events(dataset, streamed_topics)))
    warm_topics = _topics(topic_factory)
    warm_app = f"warm-files-{run}"
    out = _bootstrap(bootstrap_servers, warm_topics, warm_app, "--data", str(history["data"]),
                     "--until", until.isoformat())  # fmt: skip
    assert "left for the stream" in out
    produce(bootstrap_servers, list(encoded_events(later, warm_topics)))
    resumed_topics = streamed_topics.model_copy(update={"decisions": topic_factory("resumed", PARTITIONS),
                                                        "dlq": topic_factory("resumed-dlq", PARTITIONS)})  # fmt: skip
    resumed_app = f"warm-topics-{run}"
    out = _bootstrap(bootstrap_servers, resumed_topics, resumed_app, "--from-topics", "--until", until.isoformat())
    assert "committed at the first event after that time" in out
    streamed_pair = _pair(bootstrap_servers, streamed_topics, store, streamed_app, tmp_path / "streamed")
    (tmp_path / "resumed").mkdir()
    runs = [
        (streamed_topics, n, streamed_pair),
        (warm_topics, len(later_ids), _pair(bootstrap_servers, warm_topics, store, warm_app, tmp_path / "warm")),
        (resumed_topics, len(later_ids),
         [WorkerProcess(bootstrap_servers, resumed_topics, store, resumed_app, tmp_path / "resumed",
                        partitions=PARTITIONS)]),
    ]  # fmt: skip
    try:
        for _, _, workers in runs:
            for worker in workers:
                worker.start()
        for topics, expected, workers in runs:
            wait_for(all_decided(bootstrap_servers, topics.decisions, expected), 300,
                     f"a decision for every transaction on {topics.decisions}", workers,
                     detail=lambda t=topics: f"{len(_by_transaction(decisions(bootstrap_servers, t.decisions)))} "
                                             "transactions decided")  # fmt: skip
        sources = [streamed_topics.transactions, streamed_topics.labels]
        lag = lambda: _commit_lag(bootstrap_servers, streamed_app, sources)  # noqa: E731
        decided = lambda: len(_by_transaction(decisions(bootstrap_servers, streamed_topics.decisions)))  # noqa: E731
        wait_for(lambda: not lag(), 120, "every event committed", streamed_pair,
                 detail=lambda: f"behind: {lag()}; {decided()} of {n} transactions decided")  # fmt: skip
    finally:
        for _, _, workers in runs:
            for worker in workers:
                worker.stop()
    streamed = {table: _changelog(bootstrap_servers, topic) for table, topic in changelog_topics(streamed_app).items()}
    streamed_decisions = _by_transaction(decisions(bootstrap_servers, streamed_topics.decisions))
    assert len(streamed_decisions) == n
    assert len(streamed[CARD_TABLE]) > 250
    assert len(streamed[TERMINAL_TABLE]) > 1000

    # the whole history, bootstrapped: from the topics, exactly the streamed changelog
    whole_from_topics = f"whole-topics-{run}"
    out = _bootstrap(bootstrap_servers, streamed_topics, whole_from_topics, "--from-topics")
    assert "card states" in out
    got = {table: _changelog(bootstrap_servers, topic) for table, topic in changelog_topics(whole_from_topics).items()}
    for table in (CARD_TABLE, TERMINAL_TABLE):
        assert got[table].keys() == streamed[table].keys(), table
        differing = [key for key in streamed[table] if got[table][key] != streamed[table][key]]
        assert not differing, f"{table}: {len(differing)} of {len(streamed[table])} values differ, e.g. {differing[:3]}"
    # ... and from the files, the same but for the replay guard's source offsets
    whole_from_files = f"whole-files-{run}"
    _bootstrap(bootstrap_servers, streamed_topics, whole_from_files, "--data", str(history["data"]))
    got = {table: _changelog(bootstrap_servers, topic) for table, topic in changelog_topics(whole_from_files).items()}
    for table in (CARD_TABLE, TERMINAL_TABLE):
        assert got[table].keys() == streamed[table].keys(), table
        differing = [key for key, (value, partition) in streamed[table].items()
                     if got[table][key] != (_without_offsets(table, value), partition)]  # fmt: skip
        assert not differing, f"{table}: {len(differing)} values differ, e.g. {differing[:3]}"

    # an app that has state is never bootstrapped again
    env = {**os.environ, "FRAUDSTREAM_BOOTSTRAP_SERVERS": bootstrap_servers, "FRAUDSTREAM_PARTITIONS": str(PARTITIONS)}
    again = subprocess.run([sys.executable, "-m", "cli.main", "state", "bootstrap", "--app-id", streamed_app,
                            "--data", str(history["data"])], cwd=PROJECT_ROOT, env=env, capture_output=True,
                           text=True, timeout=300)  # fmt: skip
    assert again.returncode == 2, again.stdout + again.stderr
    assert "has state already" in again.stderr

    # the warm workers decided every transaction after T exactly as the streamed pair did
    for topics, _, _ in runs[1:]:
        warm = _by_transaction(decisions(bootstrap_servers, topics.decisions))
        assert set(warm) == later_ids, topics.decisions
        differing = [tx for tx in later_ids if warm[tx] != streamed_decisions[tx]]
        assert not differing, (
            f"{topics.decisions}: {len(differing)} of {len(later_ids)} decisions differ from the streamed ones, "
            f"e.g. {warm[differing[0]]} vs {streamed_decisions[differing[0]]}"
        )
