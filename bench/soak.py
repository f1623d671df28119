"""Soak: one worker process at a steady rate for a long time; resident memory and consumer lag stay flat.

    uv run python bench/soak.py --minutes 30 --rate 2000      # the issue's soak (bench/results/soak.json)
    uv run python bench/soak.py --smoke                       # every step in seconds (the test suite)

Transactions and labels of the benchmarks' dataset are sent at ``--rate`` events a second, copy
after copy: each copy is the dataset moved later by its own span plus a gap, with its ids
suffixed, so every card keeps a history that goes on (its state stays bounded by the 30-day
windows, as in production) and the last copy ends before now (the worker dead-letters events from
the future). Every ``--every`` seconds the worker's resident memory (``/proc``), its consumer lag
(end offsets minus the group's committed offsets over the source topics) and the decisions so
far are sampled. The summary fits a line to each over the run after ``--warm-up`` (least squares)
and reports its slope per hour next to the first and last values: flat means a slope that is
small against the level. At the end the sender stops and the worker must decide everything sent.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from confluent_kafka import ConsumerGroupTopicPartitions, Producer
from confluent_kafka.admin import AdminClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import add_smoke_flag, free_port, results_dir
from bench.worker import BOOTSTRAP, BROKER, size, start_worker, stop_worker, topics, trained_dataset, worker_metric
from consumers.topic_audit import end_offsets
from fraudstream.kafka import PRODUCER_DEFAULTS
from fraudstream.settings import PROJECT_ROOT, TopicNames
from producers.replay import encoded_events
from schemas.codec import AvroCodec
from schemas.dataset import Dataset

DAY_MS = 86_400_000
#: event time between the end of one copy and the start of the next (longer than the label delay)
GAP_MS = 10 * DAY_MS


class Sender:
    """Copies of the dataset at ``rate`` events a second, in a thread."""

    def __init__(self, names: TopicNames, dataset: Dataset, rate: float, seconds: float) -> None:
        self.names, self.rate = names, rate
        self.template = list(encoded_events(dataset, TopicNames()))  # decoded and re-encoded per copy
        first = min(e.timestamp_ms for e in self.template)
        self.period = max(e.timestamp_ms for e in self.template) - first + GAP_MS
        self.copies = math.ceil(rate * seconds / len(self.template)) + 1
        # the last copy ends a day before now: nothing is in the future
        self.shift = int(time.time() * 1000) - DAY_MS - self.copies * self.period - first
        self.sent = self.transactions = 0
        self.behind_s = 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.codecs = {"transactions": AvroCodec.for_record("Transaction"), "labels": AvroCodec.for_record("Label")}

    def _copy(self, k: int) -> Any:
        offset = self.shift + k * self.period
        for event in self.template:
            codec = self.codecs[event.topic]
            record = codec.decode(event.value)
            record["transaction_id"] = f"{record['transaction_id']}-{k}"
            for name in ("event_time", "reported_at"):
                if name in record:
                    record[name] = int(record[name].timestamp() * 1000) + offset
            topic = self.names.transactions if event.topic == "transactions" else self.names.labels
            yield topic, event.key, codec.encode(record), event.timestamp_ms + offset

    def _run(self) -> None:
        producer = Producer({"bootstrap.servers": BOOTSTRAP, **PRODUCER_DEFAULTS})
        start = time.perf_counter()
        for k in range(self.copies):
            for topic, key, value, ts in self._copy(k):
                if self.stop.is_set():
                    producer.flush(60)
                    return
                lag = start + self.sent / self.rate - time.perf_counter()
                if lag > 0:
                    time.sleep(lag)
                else:
                    self.behind_s = max(self.behind_s, -lag)
                while True:
                    try:
                        producer.produce(topic, value, key, timestamp=ts)
                        break
                    except BufferError:
                        producer.poll(0.05)
                producer.poll(0)
                self.sent += 1
                self.transactions += topic == self.names.transactions
        producer.flush(60)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def group_lag(admin: AdminClient, group: str, names: TopicNames) -> int:
    future = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group]
    committed = {(tp.topic, tp.partition): tp.offset for tp in future.result(timeout=10).topic_partitions}
    lag = 0
    for topic in (names.transactions, names.labels):
        for partition, end in end_offsets(BOOTSTRAP, topic).items():
            lag += end - max(0, committed.get((topic, partition), 0))
    return lag


def state_memory_mib(port: int) -> float | None:
    """RocksDB's memory in the worker (memtables, block cache, table readers), from its metrics."""
    kinds = [worker_metric(port, f'fraudstream_worker_state_store_memory_bytes{{kind="{k}"}}')
             for k in ("memtables", "block_cache", "table_readers")]  # fmt: skip
    return None if any(v is None for v in kinds) else round(sum(v or 0.0 for v in kinds) / 2**20, 1)


def trend(times: list[float], values: list[float]) -> dict[str, float]:
    """Least-squares slope per hour, with the first, last, lowest and highest value."""
    slope = float(np.polyfit(np.array(times) / 3600, np.array(values), 1)[0]) if len(times) > 1 else 0.0
    return {"slope_per_hour": round(slope, 2), "first": round(values[0], 1), "last": round(values[-1], 1),
            "min": round(min(values), 1), "max": round(max(values), 1)}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=2000.0, help="events a second (transactions and labels)")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--warm-up", type=float, default=120.0, help="seconds left out of the trend")
    parser.add_argument("--worker-args", default="", help="extra worker flags, e.g. '--rocksdb-block-cache-mib 64'")
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        args.minutes, args.rate, args.every, args.warm_up = 0.2, 300.0, 2.0, 2.0
    out = results_dir(args.smoke)
    home = (out if args.smoke else PROJECT_ROOT / ".fraudstream" / "bench") / "soak"
    BROKER.start()
    store, dataset = trained_dataset(home, args.smoke)
    names = topics("soak")
    seconds = args.minutes * 60
    sender = Sender(names, dataset, args.rate, seconds)
    port = free_port()
    worker = start_worker(names, store, home / "worker", *args.worker_args.split(), metrics_port=port)
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    samples: list[dict[str, float]] = []
    try:
        time.sleep(3)
        began = time.monotonic()
        sender.thread.start()
        while time.monotonic() - began < seconds:
            time.sleep(args.every)
            if worker.poll() is not None:
                raise RuntimeError(f"the worker exited ({worker.returncode})")
            sample = {"t": round(time.monotonic() - began, 1), "rss_mib": round(rss_mib(worker.pid), 1),
                      "lag": group_lag(admin, names.decisions, names), "sent": sender.sent,
                      "decisions": size(names.decisions), "rocksdb_mib": state_memory_mib(port),
                      "state_cache_entries": worker_metric(port, "fraudstream_worker_state_cache_entries")}  # fmt: skip
            samples.append(sample)
            print(json.dumps(sample), flush=True)
        sender.stop.set()
        sender.thread.join(120)
        drained_from = time.monotonic()
        while size(names.decisions) < sender.transactions and time.monotonic() - drained_from < 300:
            time.sleep(1)
        decided = size(names.decisions)
    finally:
        stop_worker(worker)
        BROKER.stop()
    steady = [s for s in samples if s["t"] >= args.warm_up] or samples
    times = [s["t"] for s in steady]
    result = {
        "command": " ".join(["uv run python bench/soak.py", *sys.argv[1:]]),
        "machine": f"{os.cpu_count()} cores",
        "rate": args.rate, "minutes": args.minutes, "copies_of_the_dataset": sender.copies,
        "events_sent": sender.sent, "transactions_sent": sender.transactions, "decisions": decided,
        "sender_most_behind_s": round(sender.behind_s, 2),
        "achieved_rate": round(sender.sent / max(1.0, samples[-1]["t"] if samples else 1.0), 1),
        "rss_mib": trend(times, [s["rss_mib"] for s in steady]),
        "lag_messages": trend(times, [s["lag"] for s in steady]),
        "rocksdb_mib": trend(times, [s["rocksdb_mib"] or 0.0 for s in steady]),
        "rss_minus_rocksdb_mib": trend(times, [s["rss_mib"] - (s["rocksdb_mib"] or 0.0) for s in steady]),
        "samples": samples,
    }  # fmt: skip
    (out / "soak.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=2))
    if decided < sender.transactions:
        print(f"error: {sender.transactions - decided} transactions sent were not decided", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
