"""The scoring worker on the real broker: parity, completeness, crash safety, bad input, hot reload."""

from __future__ import annotations

import json
import math
import signal
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient

from consumers.topic_audit import end_offsets, read_topic
from features.batch import compute_features
from features.definitions import FEATURE_NAMES
from fraudstream.settings import TopicNames
from producers.adapters import load_dataset
from producers.config import GeneratorConfig
from producers.replay import ReplayEvent, encoded_events, transaction_records
from registry import ModelRegistry
from schemas.codec import AvroCodec
from tests.integration.worker_harness import (
    WorkerProcess,
    all_decided,
    decisions,
    produce,
    promoted_model,
    topic_size,
    wait_for,
)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    """A dataset of > 20,000 transactions with labels, and a production model trained on it."""
    root = tmp_path_factory.mktemp("worker")
    data, store, version = promoted_model(root, GeneratorConfig(n_customers=500, n_terminals=1_000, n_days=28, seed=31))
    dataset = load_dataset(data)
    features = compute_features(dataset.transactions, dataset.labels)
    assert len(dataset.transactions) >= 20_000
    assert len(dataset.labels) > 100
    return {"root": root, "data": data, "store": store, "dataset": dataset, "features": features,
            "version": version}  # fmt: skip


def _topics(topic_factory, partitions: int = 3) -> TopicNames:
    return TopicNames(
        transactions=topic_factory("tx", partitions), labels=topic_factory("labels", partitions),
        decisions=topic_factory("decisions", partitions), dlq=topic_factory("dlq", partitions),
    )  # fmt: skip


# Exactness across partitions: the worker aligns its partitions in event time (alignment.py), so a
# replay that runs days of event time a second over several partitions gives batch features.
EXACT = 3


def _replayed(dataset, topics: TopicNames) -> list[ReplayEvent]:
    """What the replay producer sends: transactions and labels interleaved in event-time order (a
    label at its ``reported_at``), so a fresh assignment can see a card's transactions before the
    labels reported earlier in another partition's fetch."""
    return list(encoded_events(dataset, topics))


def _check_against_batch(scenario, got: list[dict], model_version: str | None = None) -> dict[str, int]:
    """Every transaction has a decision whose features equal the batch features; returns duplicate count."""
    dataset, features = scenario["dataset"], scenario["features"]
    by_tx: dict[str, list[dict]] = defaultdict(list)
    for d in got:
        by_tx[d["transaction_id"]].append(d)
    ids = dataset.transactions["transaction_id"].tolist()
    missing = [tx for tx in ids if tx not in by_tx]
    assert not missing, f"{len(missing)} transactions have no decision, e.g. {missing[:3]}"
    assert set(by_tx) == set(ids)
    model = ModelRegistry(scenario["store"]).load(model_version or scenario["version"])
    matrix = features[list(FEATURE_NAMES)].to_numpy()
    offline = model.predict(matrix)
    worst = 0.0
    mismatches: dict[str, int] = defaultdict(int)
    example: dict[str, tuple] = {}
    for row, tx in enumerate(ids):
        streamed = np.array([by_tx[tx][0]["features"][name] for name in FEATURE_NAMES])
        for i in np.flatnonzero(~np.isclose(streamed, matrix[row], rtol=1e-9, atol=1e-9)):
            mismatches[FEATURE_NAMES[i]] += 1
            example.setdefault(FEATURE_NAMES[i], (tx, streamed[i], matrix[row, i]))
    assert not mismatches, f"features differing from batch: {dict(mismatches)}; e.g. {example}"
    for row, tx in enumerate(ids):
        first = by_tx[tx][0]
        streamed = np.array([first["features"][name] for name in FEATURE_NAMES])
        worst = max(worst, float(np.max(np.abs(streamed - matrix[row]) / np.maximum(1.0, np.abs(matrix[row])))))
        assert math.isclose(first["score"], offline[row], rel_tol=1e-6, abs_tol=1e-6), tx
        for duplicate in by_tx[tx][1:]:  # identical but for when it was decided
            assert {**duplicate, "decision_time": None} == {**first, "decision_time": None}
    assert worst <= 1e-9, f"largest feature difference {worst}"
    return {"decisions": len(got), "duplicates": len(got) - len(ids)}


def _stop_within(worker: WorkerProcess, seconds: float) -> None:
    """SIGTERM: the worker commits and exits cleanly within ``seconds``."""
    began = time.monotonic()
    worker.signal(signal.SIGTERM)
    assert worker.wait(60) == 0, worker.log_tail()
    took = time.monotonic() - began
    assert took <= seconds, f"{took:.1f} s from SIGTERM to exit"


def _decision_counters(worker: WorkerProcess) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {
        sample.labels["decision"]: sample.value
        for family in text_string_to_metric_families(worker.metrics())
        if family.name == "fraudstream_worker_decisions"
        for sample in family.samples
        if sample.name == "fraudstream_worker_decisions_total"
    }


def test_clean_run_gives_exactly_one_decision_per_transaction_matching_batch_features(
    scenario, bootstrap_servers, topic_factory
) -> None:
    topics = _topics(topic_factory, EXACT)
    produce(bootstrap_servers, _replayed(scenario["dataset"], topics))
    n = len(scenario["dataset"].transactions)
    worker = WorkerProcess(bootstrap_servers, topics, scenario["store"], f"clean-{topics.decisions[-8:]}",
                           scenario["root"], partitions=EXACT).start()  # fmt: skip
    try:
        wait_for(lambda: topic_size(bootstrap_servers, topics.decisions) >= n, 180, "all decisions", worker)
        got = decisions(bootstrap_servers, topics.decisions)
        stats = _check_against_batch(scenario, got)
        assert stats["duplicates"] == 0
        assert {d["model_version"] for d in got} == {scenario["version"]}
        flagged = [d for d in got if d["decision"] != "APPROVE"]
        assert flagged
        assert all(d["reasons"] for d in flagged)
        # the counters follow a batch's delivery by a moment: wait for them, then compare
        emitted = Counter(d["decision"] for d in got)
        expected = {outcome: float(emitted[outcome]) for outcome in ("APPROVE", "REVIEW", "DECLINE")}
        wait_for(lambda: _decision_counters(worker) == expected, 10, f"decision counters {expected}", worker)
        # SIGTERM: a clean stop commits what it processed, within 5 s
        _stop_within(worker, 5.0)
        admin = AdminClient({"bootstrap.servers": bootstrap_servers})
        from confluent_kafka import ConsumerGroupTopicPartitions

        future = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(worker.app_id)])[worker.app_id]
        committed = {(tp.topic, tp.partition): tp.offset for tp in future.result().topic_partitions}
        for topic in (topics.transactions, topics.labels):
            for partition, end in end_offsets(bootstrap_servers, topic).items():
                assert committed.get((topic, partition)) == end, (topic, partition, committed)
    finally:
        worker.stop()


@pytest.mark.parametrize("store", ["rocksdb://"])
def test_kill_minus_nine_during_replay_loses_nothing_and_duplicates_are_identical(
    scenario, bootstrap_servers, topic_factory, record_property, store: str
) -> None:
    """State comes back from the local store plus the changelog records it had not persisted. (A
    memory:// store comes back from the changelogs alone: the two-process test kills a worker
    while its partner, on memory://, takes over and hands back partitions.)"""
    topics = _topics(topic_factory, EXACT)
    produce(bootstrap_servers, _replayed(scenario["dataset"], topics))
    n = len(scenario["dataset"].transactions)
    worker = WorkerProcess(bootstrap_servers, topics, scenario["store"], f"crash-{topics.decisions[-8:]}",
                           scenario["root"], "--batch-size", "200", "--state-store", store,
                           partitions=EXACT)  # fmt: skip
    try:
        for fraction in (0.2, 0.45, 0.7):
            worker.start()
            wait_for(lambda f=fraction: topic_size(bootstrap_servers, topics.decisions) >= f * n, 180,
                     f"{fraction:.0%} of decisions", worker)  # fmt: skip
            worker.kill()
        worker.start()

        def complete() -> bool:
            if topic_size(bootstrap_servers, topics.decisions) < n:
                return False
            return len({d["transaction_id"] for d in decisions(bootstrap_servers, topics.decisions)}) == n

        wait_for(complete, 300, "a decision for every transaction after three kill -9", worker)
        stats = _check_against_batch(scenario, decisions(bootstrap_servers, topics.decisions))
        record_property("duplicates_after_3_kills", stats["duplicates"])
        print(f"crash test ({store}): {json.dumps(stats)} after {worker.starts} starts")
        (Path(scenario["root"]) / f"crash_stats_{store[:-3]}.json").write_text(json.dumps(stats))
    finally:
        worker.stop()


def test_bad_input_lands_in_the_dead_letter_topic_and_valid_events_around_it_are_scored(
    scenario, bootstrap_servers, topic_factory
) -> None:
    topics = _topics(topic_factory)
    codec = AvroCodec.for_record("Transaction")
    good = transaction_records(scenario["dataset"].transactions.head(300))
    valid = [ReplayEvent(topics.transactions, r["card_id"].encode(), r["event_time"], codec.encode(r)) for r in good]
    base = good[0]

    def bad(record: dict | None, raw: bytes | None = None) -> ReplayEvent:
        value = raw if raw is not None else codec.encode(record)  # type: ignore[arg-type]
        return ReplayEvent(topics.transactions, base["card_id"].encode(), base["event_time"], value)

    bad_events = {
        "bad_marker": bad(None, b"garbage \x00\x01 bytes"),
        "malformed_body": bad(None, codec.encode(base)[:-5]),
        "unknown_schema": bad(None, b"\xc3\x01" + b"\x07" * 8 + b"\x02a"),
        "invalid": [
            bad({**base, "transaction_id": "neg", "amount": -1.0}),
            bad({**base, "transaction_id": "nan", "amount": float("nan")}),
            bad({**base, "transaction_id": "inf", "amount": float("inf")}),
            bad({**base, "transaction_id": ""}),
            bad({**base, "transaction_id": "long", "terminal_id": "t" * 5000}),
        ],
        "future_event_time": bad({**base, "transaction_id": "future", "event_time": 4_000_000_000_000}),
    }
    mixed: list[ReplayEvent] = []
    flat = [(reason, e) for reason, es in bad_events.items() for e in (es if isinstance(es, list) else [es])]
    for i, event in enumerate(valid):
        mixed.append(event)
        if i % 30 == 5 and flat:
            mixed.append(flat.pop()[1])
    mixed += [e for _, e in flat]
    produce(bootstrap_servers, mixed)
    worker = WorkerProcess(bootstrap_servers, topics, scenario["store"], f"bad-{topics.dlq[-8:]}",
                           scenario["root"], env={"FRAUDSTREAM_LOG_FORMAT": "json"}).start()  # fmt: skip
    try:

        def all_out() -> bool:
            dlq_size = topic_size(bootstrap_servers, topics.dlq)
            return topic_size(bootstrap_servers, topics.decisions) >= len(valid) and dlq_size >= 9

        wait_for(all_out, 180, "decisions and dead letters", worker)
        got = decisions(bootstrap_servers, topics.decisions)
        assert sorted(d["transaction_id"] for d in got) == sorted(r["transaction_id"] for r in good)
        from confluent_kafka import Consumer

        consumer = Consumer(
            {"bootstrap.servers": bootstrap_servers, "group.id": "dlq-check", "auto.offset.reset": "earliest"}
        )
        consumer.assign([TopicPartition(topics.dlq, p, 0) for p in range(3)])  # the default 3 partitions
        letters = []
        while len(letters) < 9:
            for message in consumer.consume(100, timeout=2):
                if message.error() is None:
                    letters.append(message)
        consumer.close()
        reasons: dict[str, int] = defaultdict(int)
        for message in letters:
            headers = dict(message.headers())
            reasons[headers["error_type"].decode()] += 1
            assert headers["source_topic"].decode() == topics.transactions
            assert int(headers["source_offset"]) >= 0
            assert headers["error_message"]
        expected = {reason: (len(es) if isinstance(es, list) else 1) for reason, es in bad_events.items()}
        assert dict(reasons) == expected
        text = worker.metrics()
        for reason, count in expected.items():
            assert f'fraudstream_worker_dead_letters_total{{reason="{reason}"}} {float(count)}' in text
    finally:
        worker.stop()
    # production log format: every line one JSON object; each dead letter says where it came from
    lines = [json.loads(line) for line in worker.log_path.read_text().splitlines() if line.strip()]
    assert lines
    assert all({"ts", "level", "logger", "message"} <= set(line) for line in lines)
    logged = [line for line in lines if line["message"].startswith("dead-lettered: ")]
    assert sorted(line["reason"] for line in logged) == sorted(r for r, n in expected.items() for _ in range(n))
    assert all(line["topic"] == topics.transactions and line["partition"] in range(3) for line in logged)
    assert sorted(line["offset"] for line in logged) == sorted(int(dict(m.headers())["source_offset"]) for m in letters)
    assert any(line["message"].startswith("worker settings: ") for line in lines)
    cards = set(scenario["dataset"].transactions["card_id"])
    assert not [line for line in lines if any(card in json.dumps(line) for card in cards)], "card ids in logs"


CARD_FEATURES = [name for name in FEATURE_NAMES if name.startswith("card_")]


def test_rocksdb_store_files_each_key_under_its_partition_and_a_restart_resumes_from_it(
    scenario, bootstrap_servers, topic_factory
) -> None:
    """Production store, three partitions: stop after half the replay, check the RocksDB files,
    restart on the same machine, finish. Card features depend on the card's own partition only,
    so they must equal the batch computation exactly; a key filed under the wrong partition's
    database, or a store that lost what the changelog holds, would break them after the restart."""
    from rocksdict import AccessType, Options, Rdict

    topics = _topics(topic_factory, 3)
    events = _replayed(scenario["dataset"], topics)
    n = len(scenario["dataset"].transactions)
    first = len(events) - n // 2  # every label and the first half of the transactions
    produce(bootstrap_servers, events[:first])
    app_id = f"rocks-{topics.decisions[-8:]}"
    worker = WorkerProcess(bootstrap_servers, topics, scenario["store"], app_id, scenario["root"],
                           "--state-store", "rocksdb://")  # fmt: skip
    try:
        worker.start()
        half = n - n // 2
        wait_for(lambda: topic_size(bootstrap_servers, topics.decisions) >= half, 180, "first half", worker)
        _stop_within(worker, 5.0)

        # each card is stored in the database of the partition its transactions arrive on
        _, source = read_topic(bootstrap_servers, topics.transactions, "Transaction", keep_records=True)
        partition_of = {r.key: r.partition for r in source}
        data_dir = Path(scenario["root"]) / "worker" / app_id / "process-0"  # the first free slot (state_dir.py)
        changelog = f"{app_id}-card-state-changelog"
        changelog_end = end_offsets(bootstrap_servers, changelog)
        seen: dict[bytes, int] = {}
        for partition in range(3):
            (path,) = data_dir.rglob(f"card-state-{partition}.db")
            db = Rdict(str(path), Options(raw_mode=True), access_type=AccessType.read_only())
            try:
                for key in db.keys():  # noqa: SIM118 - Rdict iterates items
                    if key.startswith(b"card_"):
                        assert key not in seen, f"{key!r} in partitions {seen[key]} and {partition}"
                        seen[key] = partition
                # the store knows how far it matches the changelog: a restart reads only the rest
                assert int(db[b"__faust\0offset__"]) == changelog_end[partition] - 1
            finally:
                db.close()
        assert seen == partition_of

        produce(bootstrap_servers, events[first:])
        worker.start()
        wait_for(lambda: topic_size(bootstrap_servers, topics.decisions) >= n, 180, "all decisions", worker)
    finally:
        worker.stop()
    got = decisions(bootstrap_servers, topics.decisions)
    assert sorted(d["transaction_id"] for d in got) == sorted(scenario["dataset"].transactions["transaction_id"])
    dataset = scenario["dataset"]
    features = scenario["features"].set_axis(dataset.transactions.loc[scenario["features"].index, "transaction_id"])
    streamed = np.array([[d["features"][name] for name in CARD_FEATURES] for d in got])
    batch = features.loc[[d["transaction_id"] for d in got], CARD_FEATURES].to_numpy()
    differing = {CARD_FEATURES[i] for i in np.argwhere(~np.isclose(streamed, batch, rtol=1e-9, atol=1e-9))[:, 1]}
    assert not differing, f"card features differ from batch after the restart: {sorted(differing)}"


def test_a_second_worker_joining_and_leaving_mid_stream_loses_nothing_and_hands_card_state_over(
    scenario, bootstrap_servers, topic_factory, tmp_path
) -> None:
    """Two rebalances during a paced replay over 3 partitions: a worker joins (partitions and their
    card state move to it, restored from the changelogs) and leaves cleanly (they move back). Every
    transaction gets a decision, and every decision's card features, duplicates included, equal the
    batch computation: state moved with its partitions, nothing counted twice or lost."""
    topics = _topics(topic_factory, 3)
    events = _replayed(scenario["dataset"], topics)
    n = len(scenario["dataset"].transactions)
    app_id = f"rebalance-{topics.decisions[-8:]}"
    first = WorkerProcess(bootstrap_servers, topics, scenario["store"], app_id, scenario["root"],
                          "--state-store", "memory://", partitions=3)  # fmt: skip
    second = WorkerProcess(bootstrap_servers, topics, scenario["store"], app_id, tmp_path,
                           "--state-store", "memory://", partitions=3)  # fmt: skip
    chunks = [events[i : i + 1000] for i in range(0, len(events), 1000)]
    try:
        for i in _produced_while_a_second_joins(bootstrap_servers, topics, chunks, first, second, pause=0.3):
            if i == len(chunks) // 2:  # chunks were written to its partitions since: it must be scoring
                wait_for(lambda: _scored(second) > 0, 120, "decisions from the second worker", second)
                second.signal(signal.SIGTERM)
                assert second.wait(60) == 0, second.log_tail()

        wait_for(all_decided(bootstrap_servers, topics.decisions, n), 240,
                 "a decision for every transaction after two rebalances", first)  # fmt: skip
        got = decisions(bootstrap_servers, topics.decisions)
        stats = _check_against_batch(scenario, got)
        print(f"rebalance test: {json.dumps(stats)} for {n} transactions")
    finally:
        second.stop()
        first.stop()


def _produced_while_a_second_joins(
    bootstrap_servers: str, topics: TopicNames, chunks: list, first: WorkerProcess, second: WorkerProcess,
    pause: float,
) -> Iterator[int]:  # fmt: skip
    """Start ``first`` on ``chunks[0]``, then ``second``, and write the other chunks ``pause`` seconds
    apart, yielding each one's index once written; from a third of them on, ``second`` owns partitions."""
    first.start()
    produce(bootstrap_servers, chunks[0])
    wait_for(lambda: topic_size(bootstrap_servers, topics.decisions) > 0, 120, "first decisions", first)
    second.start()
    for i, chunk in enumerate(chunks[1:], start=1):
        produce(bootstrap_servers, chunk)
        if i == len(chunks) // 3:
            wait_for(lambda: _assigned(second), 120, "partitions on the second worker", second)
        yield i
        time.sleep(pause)


def _scored(worker: WorkerProcess) -> float:
    try:
        text = worker.metrics()
    except OSError:
        return 0.0
    lines = [x for x in text.splitlines() if x.startswith('fraudstream_worker_events_total{kind="transaction"}')]
    return float(lines[0].split()[-1]) if lines else 0.0


MULTI = 4  # partitions of the two-process tests
#: partitions of the three-process test: not a multiple of three, so the processes own unequal
#: shares, and more than four: Faust's assignor is sticky and caps a member at ceil(partitions /
#: members), so with four partitions the two that joined first may keep two each and leave the
#: third none; with five, each of three owns one or two
THREE = 5


def test_two_processes_a_join_a_kill_and_a_restart_over_four_partitions_give_batch_decisions(
    scenario, bootstrap_servers, topic_factory, tmp_path
) -> None:
    """A fast replay over 4 partitions: worker A scores from the start, B joins mid-replay, A is
    killed -9 and restarted. Each process sees the other's terminal partials only through the
    changelog view and waits for its watermarks; every transaction is decided, and every decision,
    duplicates included, equals batch scoring."""
    topics = _topics(topic_factory, MULTI)
    events = _replayed(scenario["dataset"], topics)
    n = len(scenario["dataset"].transactions)
    app_id = f"pair-{topics.decisions[-8:]}"
    a = WorkerProcess(bootstrap_servers, topics, scenario["store"], app_id, tmp_path / "a", partitions=MULTI)
    b = WorkerProcess(bootstrap_servers, topics, scenario["store"], app_id, tmp_path / "b",
                      "--state-store", "memory://", partitions=MULTI)  # fmt: skip
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    chunks = [events[i : i + 2000] for i in range(0, len(events), 2000)]
    try:
        for i in _produced_while_a_second_joins(bootstrap_servers, topics, chunks, a, b, pause=0.2):
            if i == len(chunks) // 2:
                wait_for(lambda: _scored(b) > 0, 120, "decisions from the second worker", b)
                a.kill()
            if i == 2 * len(chunks) // 3:
                a.start()
        wait_for(all_decided(bootstrap_servers, topics.decisions, n), 300, "a decision for every transaction", a)
        stats = _check_against_batch(scenario, decisions(bootstrap_servers, topics.decisions))
        print(f"two processes, join, kill -9, restart: {json.dumps(stats)} for {n} transactions")
    finally:
        b.stop()
        a.stop()


def test_three_processes_from_the_start_over_five_partitions_give_batch_decisions(
    scenario, bootstrap_servers, topic_factory, tmp_path
) -> None:
    topics = _topics(topic_factory, THREE)
    n = len(scenario["dataset"].transactions)
    app_id = f"three-{topics.decisions[-8:]}"
    workers = []
    for name in "abc":
        (tmp_path / name).mkdir()
        workers.append(WorkerProcess(bootstrap_servers, topics, scenario["store"], app_id, tmp_path / name,
                                     "--state-store", "memory://", partitions=THREE))  # fmt: skip
    try:
        for worker in workers:
            worker.start()
        wait_for(lambda: all(_assigned(w) for w in workers), 120, "partitions on all three workers", workers[0])
        produce(bootstrap_servers, _replayed(scenario["dataset"], topics))
        wait_for(all_decided(bootstrap_servers, topics.decisions, n), 300, "a decision for every transaction",
                 workers[0])  # fmt: skip
        stats = _check_against_batch(scenario, decisions(bootstrap_servers, topics.decisions))
        assert all(_scored(w) > 0 for w in workers)
        print(f"three processes: {json.dumps(stats)} for {n} transactions")
    finally:
        for worker in workers:
            worker.stop()


def _assigned(worker: WorkerProcess) -> bool:
    try:
        text = worker.metrics()
    except OSError:
        return False
    return any(line.startswith("fraudstream_worker_owned_partitions") and not line.endswith(" 0.0")
               for line in text.splitlines())  # fmt: skip


def _gauges(worker: WorkerProcess, name: str) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {
        next(iter(sample.labels.values())): sample.value
        for family in text_string_to_metric_families(worker.metrics())
        if family.name == name
        for sample in family.samples
    }


def test_a_staging_model_shadows_production_and_its_matured_label_figures_move_as_labels_arrive(
    scenario, bootstrap_servers, topic_factory
) -> None:
    """Champion/challenger: ``--shadow staging`` scores every transaction with the staged version on
    the champion's features in the same batch, its verdict rides in every decision, and the
    comparison on matured outcomes grows when the fraud labels arrive."""
    from trainer.config import Gates, TrainConfig
    from trainer.train import train

    store, registry = scenario["store"], ModelRegistry(scenario["store"])
    candidate = train(TrainConfig(data=scenario["data"], store_uri=store, report_dir=scenario["root"] / "r2",
                                  gates=Gates.off(), xgb_params={"max_depth": 2, "eta": 0.3}),
                      progress=lambda m: None).version  # fmt: skip
    assert registry.resolve("staging") == candidate != registry.resolve("production")
    topics = _topics(topic_factory, EXACT)
    events = _replayed(scenario["dataset"], topics)
    transactions = [e for e in events if e.topic == topics.transactions]
    labels = [e for e in events if e.topic == topics.labels]
    produce(bootstrap_servers, transactions)
    n = len(transactions)
    worker = WorkerProcess(bootstrap_servers, topics, store, f"shadow-{topics.decisions[-8:]}", scenario["root"],
                           "--shadow", "staging", partitions=EXACT)  # fmt: skip
    try:
        worker.start()
        wait_for(all_decided(bootstrap_servers, topics.decisions, n), 240, "every transaction decided", worker)
        wait_for(lambda: _gauges(worker, "fraudstream_worker_shadow_matured_outcomes").get("staging", 0) > 0, 30,
                 "outcomes matured by age", worker)  # fmt: skip
        before = _gauges(worker, "fraudstream_worker_shadow_matured_outcomes")["staging"]
        agreement = _gauges(worker, "fraudstream_worker_shadow_agreement_ratio")["staging"]
        assert 0.5 < agreement < 1.0  # two different models, mostly agreeing
        produce(bootstrap_servers, labels)
        wait_for(lambda: _gauges(worker, "fraudstream_worker_shadow_matured_outcomes")["staging"] > before, 60,
                 "the fraud labels to mature outcomes", worker)  # fmt: skip
        wait_for(lambda: _gauges(worker, "fraudstream_worker_shadow_recall_ratio").get("champion", 0) > 0, 60,
                 "recall on matured frauds", worker)  # fmt: skip
        ap = _gauges(worker, "fraudstream_worker_shadow_average_precision_ratio")
        assert set(ap) == {"champion", "shadow"}
        assert all(0 < value <= 1 for value in ap.values())
    finally:
        worker.stop()
    got = decisions(bootstrap_servers, topics.decisions)
    assert {d["shadow"]["model"] for d in got} == {f"staging:{candidate}"}
    challenger = registry.load(candidate)
    # the champion's feature vector of each decision (labels came after the transactions here, so
    # not the batch features), scored by the challenger
    expected = challenger.predict(np.array([[d["features"][name] for name in FEATURE_NAMES] for d in got]))
    streamed = np.array([d["shadow"]["score"] for d in got])
    off = np.flatnonzero(~np.isclose(streamed, expected, rtol=0, atol=1e-6))
    assert not len(off), (
        f"{len(off)} shadow scores differ, e.g. {[(got[i]['transaction_id'], streamed[i]) for i in off[:3]]}"
    )
    assert [d["shadow"]["decision"] for d in got] == challenger.decide(expected).tolist()
