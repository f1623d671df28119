"""Scoring-worker benchmarks on the local broker, with two baselines run the same way.

    uv run python bench/worker.py [--events 100000]

1. Throughput: N transactions (plus their labels) are produced first; then the consumer starts and
   the rate is decisions / (last decision time - first decision time), so start-up and recovery
   are excluded. Run for: the Faust worker (shadow off, then ``--shadow river``); a passthrough
   confluent-kafka consume+produce loop that does no work (the ceiling of Kafka in one Python
   process here); and a naive scorer that, per event, decodes, computes the features, builds a
   one-row DataFrame and calls ``predict`` (the way the project's reference designs score).
2. Latency: with the worker caught up, transactions are sent at a fixed rate (1,000 and 5,000/s)
   with the record timestamp set to the send time; a consumer of the decisions topic records
   receive time - send time per transaction (end to end: Kafka in, worker, Kafka out).

Runs on the bench broker (``bench/harness.py``). Writes bench/results/worker.json and prints a
Markdown table. ``--smoke``: each step once on a tiny dataset.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import pandas as pd
from confluent_kafka import Consumer, Producer, TopicPartition

from bench.harness import BenchBroker, add_smoke_flag, free_port, results_dir
from consumers.topic_audit import end_offsets
from features.engine import FeatureEngine, TransactionView
from fraudstream.kafka import PRODUCER_DEFAULTS, ensure_topics
from fraudstream.settings import PROJECT_ROOT, TopicNames
from producers.adapters import load_dataset
from producers.config import GeneratorConfig
from producers.generator import generate_to
from producers.replay import encoded_events
from registry import ModelRegistry
from schemas.codec import AvroCodec
from trainer.config import Gates, TrainConfig
from trainer.train import train

BROKER = BenchBroker()
BOOTSTRAP = BROKER.bootstrap_servers


def topics(tag: str, partitions: int = 3) -> TopicNames:
    run = f"{tag}-{uuid.uuid4().hex[:6]}"
    names = TopicNames(transactions=f"{run}.tx", labels=f"{run}.labels", decisions=f"{run}.dec", dlq=f"{run}.dlq")
    ensure_topics(BOOTSTRAP, names.model_dump().values(), partitions)
    return names


def produce_all(events: list) -> None:
    producer = Producer({"bootstrap.servers": BOOTSTRAP, **PRODUCER_DEFAULTS})
    for e in events:
        while True:
            try:
                producer.produce(e.topic, e.value, e.key, timestamp=e.timestamp_ms)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    assert producer.flush(120) == 0


def size(topic: str) -> int:
    from confluent_kafka import KafkaException

    for _ in range(20):
        try:
            return sum(end_offsets(BOOTSTRAP, topic).values())
        except KafkaException:  # a topic created a moment ago may have no leader yet
            time.sleep(0.5)
    return sum(end_offsets(BOOTSTRAP, topic).values())


def wait_size(topic: str, n: int, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until ``topic`` holds ``n`` records; fail at once if ``process`` (the worker) exits."""
    deadline = time.monotonic() + timeout
    while size(topic) < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{topic}: {size(topic)} of {n} after {timeout} s")
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the worker exited ({process.returncode}) with {size(topic)} of {n} in {topic}")
        time.sleep(0.5)


def decision_times(topic: str) -> np.ndarray:
    codec = AvroCodec.for_record("Decision")
    consumer = Consumer(
        {"bootstrap.servers": BOOTSTRAP, "group.id": f"b-{uuid.uuid4()}", "auto.offset.reset": "earliest"}
    )
    ends = end_offsets(BOOTSTRAP, topic)
    consumer.assign([TopicPartition(topic, p, 0) for p in ends])
    times, done = [], {p for p, e in ends.items() if e == 0}
    while len(done) < len(ends):
        for m in consumer.consume(5000, timeout=1):
            if m.error():
                continue
            times.append(codec.decode(m.value())["decision_time"].timestamp())
            if m.offset() + 1 >= ends[m.partition()]:
                done.add(m.partition())
    consumer.close()
    return np.array(times)


#: set by --py-spy: record the worker under py-spy into this file (collapsed stacks); ``dir``
#: instead (``bench/scaling.py --py-spy DIR``): each worker into its own file there, named by its home
PY_SPY: dict[str, Path] = {}
#: set by --py-spy-args: extra py-spy flags (``--gil --threads``: only samples holding the GIL, per thread)
PY_SPY_ARGS: list[str] = []
#: set by --worker-args: extra worker flags for every worker run
WORKER_ARGS: list[str] = []
#: set by --samples: a folder for each latency run's per-event times (to find stalls)
SAMPLES: dict[str, Path] = {}


def start_worker(
    names: TopicNames, store: str, home: Path, *extra: str, partitions: int = 3, metrics_port: int | None = None
) -> subprocess.Popen[bytes]:
    """A worker process of the group ``names.decisions``; several may run with different ``home`` folders."""
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "FRAUDSTREAM_BOOTSTRAP_SERVERS": BOOTSTRAP, "FRAUDSTREAM_HOME": str(home),
           "FRAUDSTREAM_PARTITIONS": str(partitions), **names.as_env()}  # fmt: skip
    if metrics_port is not None:
        extra = (*extra, "--metrics-port", str(metrics_port))
    log = open(home / f"{names.decisions}.log", "ab")  # noqa: SIM115
    command = [sys.executable, "-m", "cli.main", "worker", "--store", store, "--app-id", names.decisions,
               *WORKER_ARGS, *extra]  # fmt: skip
    out = PY_SPY.get("out") or (PY_SPY["dir"] / f"{home.parent.name}-{home.name}.txt" if "dir" in PY_SPY else None)
    if out is not None:
        command = ["py-spy", "record", "--rate", "250", "--format", "raw", "--nonblocking", *PY_SPY_ARGS,
                   "-o", str(out), "--", *command]  # fmt: skip
    return subprocess.Popen(
        command,
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT,
    )  # fmt: skip


def worker_pid(process: subprocess.Popen[bytes]) -> int:
    """The worker's own process id: under py-spy, the child py-spy started, not py-spy."""
    if PY_SPY:
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        if children:
            return int(children[0])
    return process.pid


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the worker (under py-spy: the worker itself, so py-spy writes its profile on exit)."""
    target = worker_pid(process)
    if process.poll() is None:
        os.kill(target, signal.SIGTERM)
    process.wait(60)


def worker_throughput(events: list, n_tx: int, store: str, home: Path, *extra: str) -> dict[str, float]:
    names = topics("worker")
    produce_all([e.__class__(names.transactions if e.topic.endswith("transactions") else names.labels, e.key,
                             e.timestamp_ms, e.value) for e in events])  # fmt: skip
    process = start_worker(names, store, home, *extra)
    try:
        wait_size(names.decisions, n_tx, 900, process)
    finally:
        stop_worker(process)
    times = decision_times(names.decisions)
    span = times.max() - times.min()
    # every decision of one batch carries the same decision time: too few events to time (smoke runs)
    rate = round(len(times) / span) if span > 0 else None
    return {"decisions": len(times), "seconds": round(span, 2), "events_per_second": rate}


def passthrough(events: list, n_tx: int) -> dict[str, float]:
    """confluent-kafka consume + produce with no work at all."""
    names = topics("passthrough")
    produce_all(
        [e.__class__(names.transactions, e.key, e.timestamp_ms, e.value) for e in events if "transactions" in e.topic]
    )
    consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": names.decisions, "auto.offset.reset": "earliest"})
    consumer.subscribe([names.transactions])
    producer = Producer({"bootstrap.servers": BOOTSTRAP, **PRODUCER_DEFAULTS})
    seen, started = 0, None
    while seen < n_tx:
        for m in consumer.consume(1000, timeout=1):
            if m.error():
                continue
            started = started or time.perf_counter()
            producer.produce(names.decisions, m.value(), m.key())
            seen += 1
        producer.poll(0)
    producer.flush(60)
    elapsed = time.perf_counter() - (started or time.perf_counter())
    consumer.close()
    return {"decisions": seen, "seconds": round(elapsed, 2), "events_per_second": round(seen / elapsed)}


def naive(events: list, n_tx: int, store: str) -> dict[str, float]:
    """Per event: decode, features, a one-row DataFrame, model.predict, encode, produce."""
    names = topics("naive")
    produce_all(
        [e.__class__(names.transactions, e.key, e.timestamp_ms, e.value) for e in events if "transactions" in e.topic]
    )
    model = ModelRegistry(store).load("production")
    codec, out_codec = AvroCodec.for_record("Transaction"), AvroCodec.for_record("Decision")
    engine = FeatureEngine()
    consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": names.decisions, "auto.offset.reset": "earliest"})
    consumer.subscribe([names.transactions])
    producer = Producer({"bootstrap.servers": BOOTSTRAP, **PRODUCER_DEFAULTS})
    seen, started = 0, None
    limit = min(n_tx, 20_000)  # it is slow: a sample is enough for a rate
    while seen < limit:
        for m in consumer.consume(100, timeout=1):
            if m.error():
                continue
            started = started or time.perf_counter()
            record = codec.decode(m.value())
            vector = engine.process_transaction(TransactionView.from_record(record))
            frame = pd.DataFrame([vector], columns=model.feature_names)
            score = float(model.booster.inplace_predict(frame)[0])
            decision = model.decide(np.array([score]))[0]
            out = {"transaction_id": record["transaction_id"], "card_id": record["card_id"],
                   "terminal_id": record["terminal_id"], "event_time": record["event_time"],
                   "decision_time": int(time.time() * 1000), "score": score,
                   "decision": decision, "review_threshold": model.review_threshold,
                   "decline_threshold": model.decline_threshold, "model_version": model.version, "reasons": [],
                   "features": dict(zip(model.feature_names, vector, strict=True)), "shadow": None}  # fmt: skip
            producer.produce(names.decisions, out_codec.encode(out), m.key())
            producer.poll(0)
            seen += 1
            if seen >= limit:
                break
    producer.flush(60)
    elapsed = time.perf_counter() - (started or time.perf_counter())
    consumer.close()
    return {"decisions": seen, "seconds": round(elapsed, 2), "events_per_second": round(seen / elapsed)}


def worker_metric(metrics_port: int, series: str) -> float | None:
    """One sample of a worker's metrics, by its exact series (name and labels); None if absent."""
    from urllib.request import urlopen

    try:
        text = urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2).read().decode()
    except OSError:
        return None
    lines = [x for x in text.splitlines() if x.startswith(series + " ")]
    return float(lines[0].split()[-1]) if lines else None


def owned_partitions(metrics_port: int) -> float:
    """The worker's ``fraudstream_worker_owned_partitions`` (0 until it answers)."""
    return worker_metric(metrics_port, "fraudstream_worker_owned_partitions") or 0.0


def start_workers(
    names: TopicNames, store: str, home: Path, processes: int, partitions: int, *extra: str
) -> list[subprocess.Popen[bytes]]:
    """``processes`` workers of one group, returned once each owns partitions and together all of them
    (each with its metrics port as ``metrics_port``)."""
    ports = [free_port() for _ in range(processes)]
    workers = [start_worker(names, store, home / f"p{i}", *extra, partitions=partitions, metrics_port=port)
               for i, port in enumerate(ports)]  # fmt: skip
    for worker, port in zip(workers, ports, strict=True):
        worker.metrics_port = port  # type: ignore[attr-defined]
    deadline = time.monotonic() + 120
    while True:
        owned = [owned_partitions(port) for port in ports]
        if all(owned) and sum(owned) == partitions:
            return workers
        if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
            for worker in workers:
                stop_worker(worker)
            raise RuntimeError(f"workers own {owned} of {partitions} partitions")
        time.sleep(0.5)


def consume_decisions(topic: str, stop: threading.Event, arrived: Callable[[dict[str, Any], float], None]) -> None:
    """Call ``arrived(decision, wall time it was received)`` for every decision of ``topic`` until ``stop``."""
    codec = AvroCodec.for_record("Decision")
    consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": f"decisions-{uuid.uuid4()}",
                         "auto.offset.reset": "earliest", "fetch.wait.max.ms": 5})  # fmt: skip
    consumer.subscribe([topic])
    try:
        while not stop.is_set():
            # poll returns as soon as one decision is there; consume(n, timeout) would wait for n
            # or the timeout and add up to that timeout to every measured latency
            first = consumer.poll(0.05)
            if first is None:
                continue
            at = time.time()
            for m in [first, *consumer.consume(1000, timeout=0)]:
                if not m.error():
                    arrived(codec.decode(m.value()), at)
    finally:
        consumer.close()


def latency(
    events: list, store: str, home: Path, rate: float, seconds: float, warmup: float,
    processes: int = 1, partitions: int = 3,
) -> dict[str, float]:  # fmt: skip
    """Offer ``rate`` events/s for ``warmup`` + ``seconds``; percentiles of the last ``seconds`` (steady
    state), and p99 over the whole run too (a just-started worker, new partitions and producer ids)."""
    names = topics(f"latency{int(rate)}", partitions)
    tx_events = [e for e in events if "transactions" in e.topic]
    workers = start_workers(names, store, home, processes, partitions)
    process = workers[0]
    sent: dict[str, float] = {}
    received: dict[str, float] = {}
    decided: dict[str, float] = {}  # the worker's decision_time: when it began the event's batch
    stop = threading.Event()

    def arrived(decision: dict[str, Any], at: float) -> None:
        received[decision["transaction_id"]] = at
        decided[decision["transaction_id"]] = decision["decision_time"].timestamp()

    thread = threading.Thread(target=consume_decisions, args=(names.decisions, stop, arrived), daemon=True)
    thread.start()
    try:
        tx_codec = AvroCodec.for_record("Transaction")
        producer = Producer({"bootstrap.servers": BOOTSTRAP, **PRODUCER_DEFAULTS, "linger.ms": 1})
        # warm-up: wait until the worker answers at all
        warm = tx_events[:200]
        for e in warm:
            producer.produce(names.transactions, e.value, e.key)
        producer.flush(10)
        wait_size(names.decisions, len(warm), 120, process)
        total = int(rate * (warmup + seconds))
        if len(tx_events) < 200 + total:
            raise SystemExit(f"only {len(tx_events)} transactions left for the latency runs; lower --latency-seconds")
        measured_from = int(rate * warmup)
        measured: set[str] = set()
        start = time.perf_counter()
        for i, e in enumerate(tx_events[200 : 200 + total]):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            now = time.time()
            tx_id = tx_codec.decode(e.value)["transaction_id"]
            sent[tx_id] = now
            if i >= measured_from:
                measured.add(tx_id)
            producer.produce(names.transactions, e.value, e.key, timestamp=int(now * 1000))
            producer.poll(0)
        producer.flush(30)
        deadline = time.monotonic() + 60
        while len([t for t in sent if t in received]) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        thread.join(10)
        for worker in workers:
            stop_worker(worker)
    if "dir" in SAMPLES:
        answered = [t for t in sent if t in received]
        times = {"sent": sent, "decided": decided, "received": received}
        np.savez(
            SAMPLES["dir"] / f"latency{int(rate)}.npz",
            **{k: np.array([v[t] for t in answered]) for k, v in times.items()},
        )
    seconds_in = np.array([sent[t] for t in measured if t in received])
    per_second = []  # worst latency in each second of the measured run: stalls show as spikes
    if len(seconds_in):
        slot = (seconds_in - seconds_in.min()).astype(int)
        late = np.array([received[t] - sent[t] for t in measured if t in received]) * 1000
        per_second = [round(float(late[slot == k].max()), 1) for k in range(slot.max() + 1) if (slot == k).any()]
    everything = np.array([received[t] - sent[t] for t in sent if t in received]) * 1000
    lat = np.array([received[t] - sent[t] for t in measured if t in received]) * 1000
    before = np.array([decided[t] - sent[t] for t in measured if t in received]) * 1000
    after = np.array([received[t] - decided[t] for t in measured if t in received]) * 1000
    return {
        "offered_per_second": rate,
        "processes": processes,
        "partitions": partitions,
        "warmup_seconds": warmup,
        "sent": len(measured),
        "answered": len(lat),
        "p99_ms_with_warmup": round(float(np.percentile(everything, 99)), 1),
        # where the time goes: sent -> the worker starts the batch (fetch, batch wait),
        # and batch start -> the client has the decision (processing, flush, delivery)
        "to_batch_start_p50_p99_ms": [round(float(np.percentile(before, q)), 1) for q in (50, 99)],
        "batch_start_to_client_p50_p99_ms": [round(float(np.percentile(after, q)), 1) for q in (50, 99)],
        "p50_ms": round(float(np.percentile(lat, 50)), 1),
        "p95_ms": round(float(np.percentile(lat, 95)), 1),
        "p99_ms": round(float(np.percentile(lat, 99)), 1),
        "max_ms": round(float(lat.max()), 1),
        "max_ms_per_second": per_second,
    }


def trained_dataset(home: Path, smoke: bool) -> tuple[str, Any]:
    """The benchmarks' dataset under ``home`` and the model store with a production model trained on it."""
    data = home / "data"
    size = {"n_customers": 300, "n_terminals": 600, "n_days": 22} if smoke else {}
    generator = GeneratorConfig(**{"n_customers": 5_000, "n_terminals": 10_000, "n_days": 42, **size}, seed=5)
    generate_to(generator, data, progress=lambda m: None)
    store = f"file://{home / 'models'}"
    result = train(TrainConfig(data=data, store_uri=store, report_dir=home / "r", gates=Gates.off(), trials=0),
                   progress=lambda m: None)  # fmt: skip
    ModelRegistry(store).promote(result.version)
    return store, load_dataset(data)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000, help="transactions for the throughput runs")
    parser.add_argument("--latency-seconds", type=float, default=20.0, help="measured seconds per offered rate")
    parser.add_argument(
        "--warmup-seconds", type=float, default=5.0, help="seconds at the offered rate before measuring"
    )
    parser.add_argument(
        "--only",
        choices=["throughput", "latency", "worker"],
        help="run one half of the benchmark, or only the worker's throughput (no baselines)",
    )
    parser.add_argument("--py-spy", type=Path, help="profile the worker with py-spy into this file (collapsed stacks)")
    parser.add_argument("--py-spy-args", default="", help="extra py-spy flags, e.g. '--gil --threads'")
    parser.add_argument("--samples", type=Path, help="save each latency run's per-event times here (.npz)")
    parser.add_argument("--worker-args", default="", help="extra flags for the worker, e.g. '--batch-wait 0.01'")
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:  # one run of each pipeline and one offered rate, on a tiny dataset
        args.events, args.latency_seconds, args.warmup_seconds = 1_500, 2.0, 1.0
    if args.py_spy:
        PY_SPY["out"] = args.py_spy.resolve()
        PY_SPY_ARGS.extend(args.py_spy_args.split())
    WORKER_ARGS.extend(args.worker_args.split())
    if args.samples:
        args.samples.mkdir(parents=True, exist_ok=True)
        SAMPLES["dir"] = args.samples.resolve()
    BROKER.start()
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        store, dataset = trained_dataset(home, args.smoke)
        all_events = list(encoded_events(dataset, TopicNames()))
        tx_positions = [i for i, e in enumerate(all_events) if e.topic == "transactions"]
        cut = tx_positions[min(args.events, len(tx_positions)) - 1] + 1
        events = all_events[:cut]
        n_tx = sum(1 for e in events if e.topic == "transactions")
        print(f"{n_tx:,} transactions, {len(events) - n_tx:,} labels", flush=True)
        if args.only == "worker":
            results["worker"] = worker_throughput(events, n_tx, store, home)
            print("worker", results["worker"], flush=True)
        elif args.only != "latency":
            throughput_runs(results, events, n_tx, store, home, shadow=not args.smoke)
        if args.only in (None, "latency"):
            results["latency"] = [
                latency(all_events[cut:], store, home, rate, args.latency_seconds, args.warmup_seconds)
                for rate in ((200,) if args.smoke else (1000, 5000))
            ]
            print("latency", results["latency"], flush=True)
    BROKER.stop()
    out = results_dir(args.smoke)
    name = f"worker-{args.only}.json" if args.only else "worker.json"
    (out / name).write_text(json.dumps(results, indent=2, default=float) + "\n")
    if "worker" in results:
        print("\n| pipeline | events/s |\n|---|---|")
        for key in [k for k in ("worker", "worker_shadow_river", "passthrough", "naive") if k in results]:
            rate = results[key]["events_per_second"]  # type: ignore[index]
            print(f"| {key} | {'too few events to time' if rate is None else f'{rate:,}'} |")
    if "latency" in results:
        print("\n| offered rate | p50 | p95 | p99 | p99 incl. warm-up | answered |\n|---|---|---|---|---|---|")
        for row in results["latency"]:  # type: ignore[attr-defined]
            print(f"| {row['offered_per_second']:,}/s | {row['p50_ms']} ms | {row['p95_ms']} ms | {row['p99_ms']} ms "
                  f"| {row['p99_ms_with_warmup']} ms "
                  f"| {row['answered']}/{row['sent']} |")  # fmt: skip
    return 0


def throughput_runs(
    results: dict[str, object], events: list, n_tx: int, store: str, home: Path, shadow: bool = True
) -> None:
    results["passthrough"] = passthrough(events, n_tx)
    print("passthrough", results["passthrough"], flush=True)
    results["naive"] = naive(events, n_tx, store)
    print("naive", results["naive"], flush=True)
    results["worker"] = worker_throughput(events, n_tx, store, home)
    print("worker", results["worker"], flush=True)
    if shadow:
        results["worker_shadow_river"] = worker_throughput(events, n_tx, store, home, "--shadow", "river")
        print("worker --shadow river", results["worker_shadow_river"], flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
