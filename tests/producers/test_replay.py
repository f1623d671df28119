"""Replay order, pacing and drift injection (no broker needed)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from features.definitions import DAY_MS
from fraudstream.settings import TopicNames
from producers.config import DriftSpec, GeneratorConfig
from producers.generator import generate
from producers.replay import (
    LABEL,
    TRANSACTION,
    Pacer,
    VisibilityBarrier,
    barrier_flush,
    encoded_events,
    replay,
    replay_order,
    shift_end_to,
    shift_to,
)  # fmt: skip
from schemas.codec import AvroCodec


@pytest.fixture(scope="module")
def dataset() -> object:
    return generate(GeneratorConfig(n_customers=200, n_terminals=400, n_days=21, seed=11))


def test_events_are_in_time_order_with_labels_at_their_report_time(dataset) -> None:
    kinds, rows, stamps = replay_order(dataset)
    assert len(kinds) == len(dataset.transactions) + len(dataset.labels)
    assert (np.diff(stamps) >= 0).all()
    label_rows = rows[kinds == LABEL]
    expected = dataset.labels["reported_at"].iloc[label_rows].astype("datetime64[ms, UTC]")
    assert (pd.DatetimeIndex(expected).asi8 == stamps[kinds == LABEL]).all()
    # every label comes after its transaction in the stream
    position = {
        tx_id: i
        for i, tx_id in enumerate(dataset.transactions["transaction_id"].to_numpy()[rows[kinds == TRANSACTION]])
    }
    order = np.flatnonzero(kinds == TRANSACTION)
    tx_pos = {tid: order[i] for tid, i in position.items()}
    for i, row in zip(np.flatnonzero(kinds == LABEL), label_rows, strict=True):
        assert tx_pos[dataset.labels["transaction_id"].iloc[row]] < i


def test_encoded_events_are_keyed_by_card_with_event_time_stamps(dataset) -> None:
    topics = TopicNames()
    tx_codec = AvroCodec.for_record("Transaction")
    for event in encoded_events(dataset, topics, limit=500):
        if event.topic == topics.transactions:
            record = tx_codec.decode(event.value)
            assert event.key == record["card_id"].encode()
            assert event.timestamp_ms == int(record["event_time"].timestamp() * 1000)
            assert "is_fraud" not in record  # ground truth never rides on a transaction


def test_the_barrier_delivers_every_earlier_record_a_worker_may_count_as_read_before_it_is_sent(dataset) -> None:
    """Whatever the partitioning, a record is written only once every record of an earlier UTC
    day and every label earlier than it has been flushed (delivered): a worker that has fetched a
    record at ``x`` may count a partition at its end as complete up to ``x``, for a day's start
    (transactions) and for ``t - λ`` (labels), and that holds only if nothing earlier is in flight.
    Labels starting a day are the case a transactions-only rule missed."""
    topics = TopicNames(transactions="tx", labels="labels", decisions="d", dlq="q")
    barrier = VisibilityBarrier()
    unflushed: list[tuple[int, bool]] = []  # written since the last flush
    flushes = days_starting_with_a_label = 0
    day = None
    for event in encoded_events(dataset, topics):
        if barrier.before(event.timestamp_ms, event.is_label):
            unflushed, flushes = [], flushes + 1
        ts = event.timestamp_ms
        if ts // DAY_MS != day:
            day = ts // DAY_MS
            days_starting_with_a_label += event.is_label
        for earlier, is_label in unflushed:
            assert earlier // DAY_MS == ts // DAY_MS, (event, earlier)
            assert not is_label or earlier >= ts, (event, earlier)
        unflushed.append((ts, event.is_label))
    assert days_starting_with_a_label > 0  # the data has the case
    # a flush a day and one per run of labels at the same time, at most: cheap next to the records
    assert flushes <= 21 + len(dataset.labels)
    assert flushes == barrier.flushes


class _SlowBroker:
    """A producer whose first barrier flushes end with records still queued (the broker away)."""

    def __init__(self, unfinished_flushes: int) -> None:
        self.unfinished, self.calls, self.queued = unfinished_flushes, [], 0

    def produce(self, topic, value, key, timestamp, on_delivery) -> None:
        self.calls.append("produce")
        self.queued += 1

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        self.calls.append("flush")
        if self.unfinished and self.queued:
            self.unfinished -= 1
            return self.queued
        self.queued = 0
        return 0


def test_a_barrier_flush_that_ends_with_records_queued_is_repeated_before_a_later_record_is_sent(
    dataset, monkeypatch, caplog
) -> None:
    slow = _SlowBroker(unfinished_flushes=2)
    assert barrier_flush(slow, wait=0.01) == 1  # nothing queued: one flush
    slow.produce("tx", b"", b"k", 0, None)
    with caplog.at_level("WARNING", logger="fraudstream.replay"):
        assert barrier_flush(slow, wait=0.01) == 3
    assert "1 record(s) still undelivered" in caplog.text

    # in a replay: no record is produced between the first barrier flush and the one that finished
    broker = _SlowBroker(unfinished_flushes=2)
    monkeypatch.setattr("producers.replay.warmed_producer", lambda config, topics: broker)
    summary = replay(dataset, "127.0.0.1:1", TopicNames(transactions="tx", labels="labels"), limit=3000, progress=False)
    assert summary.sent == 3000
    assert summary.flushes > 0
    first = broker.calls.index("flush")
    assert broker.calls[first : first + 3] == ["flush", "flush", "flush"]


def test_shift_to_moves_every_time_by_the_same_offset(dataset) -> None:
    start = datetime(2030, 1, 1, tzinfo=UTC)
    shifted = shift_to(dataset, start)
    assert shifted.transactions["event_time"].min() == pd.Timestamp(start)
    offset = shifted.transactions["event_time"] - dataset.transactions["event_time"]
    assert offset.nunique() == 1
    assert ((shifted.labels["reported_at"] - dataset.labels["reported_at"]) == offset.iloc[0]).all()


def test_shift_end_to_puts_the_last_event_at_the_end_and_keeps_every_gap(dataset) -> None:
    end = datetime(2030, 1, 1, tzinfo=UTC)
    shifted = shift_end_to(dataset, end)
    last = max(shifted.transactions["event_time"].max(), shifted.labels["reported_at"].max())
    assert last == pd.Timestamp(end)
    offset = shifted.transactions["event_time"] - dataset.transactions["event_time"]
    assert offset.nunique() == 1
    assert ((shifted.labels["reported_at"] - dataset.labels["reported_at"]) == offset.iloc[0]).all()


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_pacer_holds_a_fixed_rate() -> None:
    clock = FakeClock()
    pacer = Pacer(rate=100, clock=clock, sleep=clock.sleep)
    for i in range(201):
        pacer.wait(i, 0)
    assert clock.now == pytest.approx(102.0)


def test_pacer_follows_event_time_with_a_speedup() -> None:
    clock = FakeClock()
    pacer = Pacer(speedup=60, clock=clock, sleep=clock.sleep)
    pacer.wait(0, 0)
    pacer.wait(1, 60_000)  # a minute of event time at 60x is one second
    pacer.wait(2, 60_000)
    assert clock.now == pytest.approx(101.0)


def test_pacer_never_waits_when_unpaced_and_refuses_bad_settings() -> None:
    assert Pacer().wait(5, 10**12) == 0.0
    with pytest.raises(ValueError, match="either"):
        Pacer(rate=1, speedup=1)
    with pytest.raises(ValueError, match="-3"):
        Pacer(rate=-3)


def test_drift_injection_changes_only_events_after_the_start(dataset) -> None:
    tx = dataset.transactions
    start = tx["event_time"].iloc[len(tx) // 2].to_pydatetime()
    spec = DriftSpec(start=start, amount_scale=1.5, merchant_mix={"7995": 1.0}, merchant_share=0.5, seed=1)
    changed, summary = spec.apply(tx)
    before = tx["event_time"] < pd.Timestamp(start)
    pd.testing.assert_frame_equal(changed[before], tx[before])
    after = ~before
    assert np.allclose(changed.loc[after, "amount"], np.round(tx.loc[after, "amount"] * 1.5, 2))
    share = (changed.loc[after, "merchant_category"] == "7995").mean()
    assert 0.4 < share < 0.6
    assert summary["affected_transactions"] == int(after.sum())
    assert summary["merchant_changed"] > 0


def test_drift_spec_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="timezone"):
        DriftSpec(start=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="merchant_mix"):
        DriftSpec(start=datetime(2026, 1, 1, tzinfo=UTC), merchant_share=0.5)
