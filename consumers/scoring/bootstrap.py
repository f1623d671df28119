"""Warm worker state from history (``fraudstream state bootstrap``): the tables as of a time T.

A new deployment, a new feature or a restored cluster should not start from empty state: the
30-day card windows would take a month to fill, and every decision meanwhile would be made on
features the model never saw. :func:`state_as_of` applies a history's transactions (at their
``event_time``) and labels (at their ``reported_at``) up to T to card states and per-partition
terminal partials exactly as the worker's processor does; :func:`write_state` writes them to the
worker's changelog topics, from which a worker of that ``--app-id`` restores its tables on start.

What must stay true: the state written equals what a worker has after streaming the same history
(``tests/integration/test_bootstrap.py`` compares it with a worker's changelog, value by value), so
a worker started on it decides every later event as one that streamed everything would.

* **Partitions.** A card's state lives in the partition its events arrive on: from the topics,
  the records' own; from files, the Java client's default partitioner, which the replay uses
  (:func:`~fraudstream.kafka.murmur2_partition` of the card id). Producers that partition
  otherwise need ``--from-topics``. A terminal partial is per (terminal, card partition), as in
  ``processor.py``.
* **Order.** Events are applied in replay order (``producers/replay.py``: by time, a transaction
  before a label at equal times), which is each partition's offset order when the history came
  from the topics.
* **Offsets.** From files the states carry no source offsets: the worker then reads topics that
  hold the events after T (the replay of the newer days). From the topics, each partition's prefix
  up to T is applied with its offsets (the replay guard's), and the worker group's committed
  offsets are set to the end of that prefix, so the worker goes on with the first event after T.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from consumers.scoring.processor import first_time, terminal_key
from consumers.scoring.records import CARD_TABLE, FAUST_TABLE_NAMES, TERMINAL_TABLE
from features.card_state import CardState
from features.definitions import DEFAULT_CONFIG, FeatureConfig
from features.engine import LabelView, TransactionView
from features.terminal_state import TerminalState
from fraudstream.errors import FraudstreamError
from fraudstream.kafka import KafkaTarget, client_config, murmur2_partition
from producers.replay import LABEL, TRANSACTION, replay_order
from schemas.codec import SchemaName
from schemas.dataset import Dataset
from schemas.timestamps import epoch_millis

__all__ = [
    "BootstrapError",
    "BootstrappedState",
    "HistoryEvent",
    "changelog_topics",
    "events_from_dataset",
    "events_from_topics",
    "state_as_of",
    "write_state",
]


class BootstrapError(FraudstreamError):
    """The state cannot be written as asked (the target already holds state, bad input)."""


class HistoryEvent(NamedTuple):
    """A transaction or a label of the history, with the partition (and offset, from a topic) it has."""

    event: TransactionView | LabelView
    partition: int
    #: the record's offset in its topic partition; None for history read from files
    offset: int | None = None


def changelog_topics(app_id: str) -> dict[str, str]:
    """The worker's changelog topic of each table (Faust: ``{app id}-{table}-changelog``)."""
    return {table: f"{app_id}-{name}-changelog" for table, name in FAUST_TABLE_NAMES.items()}


@dataclass
class BootstrappedState:
    """The card states and terminal partials as of ``until_ms``, encoded as the worker stores them."""

    until_ms: int
    partitions: int
    #: table -> key -> (encoded value, changelog partition)
    values: dict[str, dict[bytes, tuple[bytes, int]]] = field(default_factory=dict)
    transactions: int = 0
    labels: int = 0
    #: events after ``until_ms`` that were left out
    later: int = 0
    #: records of the topics the worker would dead-letter (they change no state)
    rejected: int = 0
    #: (topic, partition) -> the first offset after the applied prefix (history from topics only)
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)

    def summary(self) -> str:
        return (
            f"{self.transactions:,} transactions and {self.labels:,} labels applied: "
            f"{len(self.values.get(CARD_TABLE, {})):,} card states, "
            f"{len(self.values.get(TERMINAL_TABLE, {})):,} terminal partials over {self.partitions} partitions"
        )


def events_from_dataset(dataset: Dataset, partitions: int) -> Iterator[HistoryEvent]:
    """A dataset's events in replay order, each with its card's partition."""
    kinds, rows, _ = replay_order(dataset)
    tx, labels = dataset.transactions, dataset.labels
    tx_ts = epoch_millis(tx["event_time"]).tolist()
    label_ts = epoch_millis(labels["event_time"]).tolist()
    reported = epoch_millis(labels["reported_at"]).tolist()
    cards: dict[str, int] = {}

    def partition(card_id: str) -> int:
        found = cards.get(card_id)
        if found is None:
            found = cards[card_id] = murmur2_partition(card_id.encode(), partitions)
        return found

    tx_columns = [tx[name].tolist() for name in ("transaction_id", "card_id", "terminal_id", "amount", "channel",
                                                 "merchant_category", "card_country", "terminal_country")]  # fmt: skip
    label_columns = [labels[name].tolist() for name in ("transaction_id", "card_id", "terminal_id")]
    frauds = labels["is_fraud"].astype(bool).tolist()
    for kind, row in zip(kinds.tolist(), rows.tolist(), strict=True):
        if kind == TRANSACTION:
            ident, card, terminal, amount, channel, mcc, card_country, terminal_country = (c[row] for c in tx_columns)
            view: TransactionView | LabelView = TransactionView(
                ident, card, terminal, tx_ts[row], float(amount), channel, mcc, card_country, terminal_country
            )
        else:
            assert kind == LABEL
            ident, card, terminal = (c[row] for c in label_columns)
            view = LabelView(ident, card, terminal, label_ts[row], reported[row], frauds[row])
        yield HistoryEvent(view, partition(card))


def _event_ms(event: TransactionView | LabelView) -> int:
    """The time an event has in the replay: a transaction's event time, a label's report time."""
    return event.reported_at_ms if isinstance(event, LabelView) else event.ts_ms


def state_as_of(
    events: Iterable[HistoryEvent],
    until_ms: int,
    partitions: int,
    config: FeatureConfig = DEFAULT_CONFIG,
    progress: Callable[[int], None] | None = None,
) -> BootstrappedState:
    """Apply every event at or before ``until_ms`` as the worker's processor does, in the order given.

    Per (source, partition) only a prefix is applied: the first event after ``until_ms`` ends it,
    so what is applied is exactly what a consumer reads before it reaches T.
    """
    cards: dict[str, tuple[CardState, int]] = {}
    terminals: dict[tuple[str, int], TerminalState] = {}
    #: the keys the processor would have written (it writes a key only when an event changed it)
    written_cards: dict[str, None] = {}
    written_terminals: dict[tuple[str, int], None] = {}
    state = BootstrappedState(until_ms, partitions)
    ended: set[tuple[bool, int]] = set()
    for count, (event, partition, offset) in enumerate(events, 1):
        is_label = isinstance(event, LabelView)
        if (is_label, partition) in ended or _event_ms(event) > until_ms:
            ended.add((is_label, partition))
            state.later += 1
            continue
        found = cards.get(event.card_id)
        if found is None:
            found = cards[event.card_id] = (CardState(), partition)
        card = found[0]
        terminal = terminals.get((event.terminal_id, partition))
        if terminal is None:
            terminal = terminals[(event.terminal_id, partition)] = TerminalState()
        if isinstance(event, LabelView):
            if card.apply_label(event.transaction_id, event.ts_ms, event.reported_at_ms, event.is_fraud, config):
                written_cards[event.card_id] = None
            if terminal.apply_label(event.transaction_id, event.ts_ms, event.reported_at_ms, event.is_fraud, config):
                written_terminals[(event.terminal_id, partition)] = None
            state.labels += 1
        else:
            if offset is None or first_time(card, "transactions", offset):
                card.apply(event.transaction_id, event.ts_ms, event.amount, event.terminal_id, config)
                written_cards[event.card_id] = None
            if offset is None or first_time(terminal, "transactions", offset):
                terminal.apply_transaction(event.transaction_id, event.ts_ms, config)
                written_terminals[(event.terminal_id, partition)] = None
            state.transactions += 1
        if progress is not None and count % 10_000 == 0:
            progress(count)
    state.values[CARD_TABLE] = {
        card_id.encode(): (cards[card_id][0].to_bytes(), cards[card_id][1]) for card_id in written_cards
    }
    state.values[TERMINAL_TABLE] = {
        terminal_key(terminal_id, p): (terminals[(terminal_id, p)].to_bytes(), p)
        for terminal_id, p in written_terminals
    }
    return state


def events_from_topics(
    kafka: KafkaTarget,
    transactions_topic: str,
    labels_topic: str,
    partitions: int,
    until_ms: int,
    registry_url: str | None = None,
) -> tuple[list[HistoryEvent], dict[tuple[str, int], int], int]:
    """Each source partition's prefix up to ``until_ms`` (read to the topics' current ends), in
    replay order; per partition the first offset after that prefix; and how many records of the
    prefixes the worker would dead-letter (they change no state). Records are decoded and checked
    by the worker's own processor."""
    from consumers.scoring.processor import ScoringProcessor
    from consumers.scoring.records import BatchResult, InputEvent
    from consumers.topic_audit import read_topic
    from fraudstream.settings import TopicNames

    topics = TopicNames(transactions=transactions_topic, labels=labels_topic)
    checks = ScoringProcessor(topics, models=None, partitions=partitions, registry_url=registry_url)  # type: ignore[arg-type]  # never scores
    now_ms = int(time.time() * 1000)
    timed: list[tuple[int, int, int, int, HistoryEvent]] = []
    next_offsets: dict[tuple[str, int], int] = {}
    rejected = 0
    for kind, topic in ((TRANSACTION, transactions_topic), (LABEL, labels_topic)):
        schema: SchemaName = "Transaction" if kind == TRANSACTION else "Label"
        _, records = read_topic(kafka, topic, schema, timeout=600, keep_records=True, registry_url=registry_url)
        for partition in range(partitions):
            next_offsets[(topic, partition)] = 0
        ended: set[int] = set()
        for record in sorted(records, key=lambda r: (r.partition, r.offset)):
            if record.partition >= partitions:
                raise BootstrapError(
                    f"{topic} has a partition {record.partition}, but the worker has {partitions} "
                    "(FRAUDSTREAM_PARTITIONS must be the source topics' partition count)"
                )
            if record.partition in ended:
                continue
            event = InputEvent(topic, record.partition, record.offset, record.key, record.value, record.timestamp_ms)
            result = BatchResult()
            view = (checks.decode_transaction if kind == TRANSACTION else checks.decode_label)(event, result, now_ms)
            if view is None:
                rejected += 1
                next_offsets[(topic, record.partition)] = record.offset + 1
                continue
            at = _event_ms(view)
            if at > until_ms:
                ended.add(record.partition)
                continue
            next_offsets[(topic, record.partition)] = record.offset + 1
            event_at = HistoryEvent(view, record.partition, record.offset)
            timed.append((at, kind, record.partition, record.offset, event_at))
    timed.sort(key=lambda item: item[:4])
    return [item[4] for item in timed], next_offsets, rejected


def write_state(
    kafka: KafkaTarget,
    app_id: str,
    state: BootstrappedState,
    commit_offsets: bool = True,
    timeout: float = 120.0,
) -> dict[str, int]:
    """Write ``state`` to the changelog topics of worker ``app_id`` (created compacted, with the
    state's partitions); with ``commit_offsets`` and history from topics, also set that worker
    group's committed offsets to the end of what was applied. Refuses an app that has state
    already: a worker's changelog is its own, and mixing two histories in one is never exact.
    Returns the records written per changelog topic."""
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient

    from consumers.topic_audit import end_offsets
    from fraudstream.kafka import PRODUCER_DEFAULTS, admin_config, ensure_topics

    topics = changelog_topics(app_id)
    existing = AdminClient(admin_config(kafka)).list_topics(timeout=30).topics
    for topic in topics.values():
        if topic in existing:
            ends = end_offsets(kafka, topic)
            if sum(ends.values()):
                raise BootstrapError(
                    f"worker {app_id!r} has state already ({sum(ends.values()):,} records in {topic}); "
                    "bootstrap a new --app-id, or delete that worker's changelog topics first"
                )
            if len(ends) != state.partitions:
                raise BootstrapError(f"{topic} has {len(ends)} partitions, the state {state.partitions}")
    ensure_topics(kafka, topics.values(), state.partitions, config={"cleanup.policy": "compact"})
    producer = Producer(client_config(kafka, **PRODUCER_DEFAULTS))
    failures: list[str] = []

    def report(error: Any, message: Any) -> None:
        if error is not None and len(failures) < 10:
            failures.append(f"{message.topic()}[{message.partition()}]: {error}")

    written: dict[str, int] = {}
    for table, values in state.values.items():
        topic = topics[table]
        for key, (value, partition) in values.items():
            while True:
                try:
                    producer.produce(topic, value, key, partition=partition, on_delivery=report)
                    break
                except BufferError:
                    producer.poll(0.05)
        written[topic] = len(values)
    deadline = time.monotonic() + timeout
    while len(producer) and time.monotonic() < deadline:
        producer.flush(1.0)
    if len(producer) or failures:
        raise BootstrapError(f"state not written: {len(producer)} records undelivered, failures {failures[:3]}")
    if commit_offsets and state.next_offsets:
        committer = Consumer(client_config(kafka, **{"group.id": app_id, "enable.auto.commit": False}))
        try:
            committer.commit(
                offsets=[TopicPartition(t, p, o) for (t, p), o in sorted(state.next_offsets.items())],
                asynchronous=False,
            )
        finally:
            committer.close()
    return written


def until_default(dataset: Dataset) -> int:
    """The newest event time of a dataset (its last transaction or label report), in ms."""
    last = int(epoch_millis(dataset.transactions["event_time"]).max())
    if len(dataset.labels):
        last = max(last, int(np.max(epoch_millis(dataset.labels["reported_at"]))))
    return last
