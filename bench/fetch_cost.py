"""What a consumed record costs the worker's Kafka client (aiokafka, as Faust uses it) by value size,
with and without its CRC check.

    uv run python bench/fetch_cost.py [--records 60000] [--sizes 4500,1500,110] [--runs 2]

For each size, produces N records (5,000 keys, 4 partitions) to a fresh topic on the bench broker,
then consumes them with ``AIOKafkaConsumer.getmany`` in this process, once with ``check_crcs`` on
(aiokafka's default and Faust's) and once off, and reports the process CPU (user + system) per
record between the first and the last fetch. A worker process pays this for every record it
reads: its source records, and with two processes the other's changelog writes, which it keeps
as a standby and, for the terminal table, in its view. 4,500 bytes is a card state's changelog
value on the bench dataset of ``bench/scaling.py``, 110 bytes an input transaction
(BENCHMARKS.md). Prints a table; ``--smoke`` runs it on a few records.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import BenchBroker, add_smoke_flag

PARTITIONS = 4


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def consume(bootstrap: str, topic: str, n: int, check_crcs: bool) -> tuple[float, float]:
    """(CPU seconds, wall seconds) from the first fetch that returned records to the n-th record."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None,
                                enable_auto_commit=False, check_crcs=check_crcs, max_partition_fetch_bytes=4 << 20,
                                fetch_max_bytes=50 << 20)  # fmt: skip
    await consumer.start()
    try:
        seen, cpu0, wall0 = 0, 0.0, 0.0
        while seen < n:
            fetched = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            if fetched and not seen:
                cpu0, wall0 = cpu_seconds(), time.perf_counter()
            seen += sum(len(records) for records in fetched.values())
        return cpu_seconds() - cpu0, time.perf_counter() - wall0
    finally:
        await consumer.stop()


def main() -> int:
    from confluent_kafka import Producer

    from fraudstream.kafka import delete_topics, ensure_topics

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=60_000)
    parser.add_argument("--sizes", default="4500,1500,110", help="value sizes in bytes, comma-separated")
    parser.add_argument("--runs", type=int, default=2)
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        args.records, args.runs = 2_000, 1
    sizes = [int(size) for size in args.sizes.split(",")]
    broker = BenchBroker()
    broker.start()
    bootstrap = broker.bootstrap_servers
    rows = []
    try:
        for run in range(1, args.runs + 1):
            for size in sizes:
                topic = f"fetch-cost-{size}-{uuid.uuid4().hex[:6]}"
                ensure_topics(bootstrap, [topic], PARTITIONS)
                producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "batch.size": 1_000_000})
                body = os.urandom(max(size - 8, 0))
                for i in range(args.records):
                    value = (body + i.to_bytes(8, "little"))[-size:] if size else b""
                    producer.produce(topic, key=f"card_{i % 5000:016d}".encode(), value=value, partition=i % PARTITIONS)
                    if i % 10_000 == 0:
                        producer.poll(0)
                producer.flush(60)
                for check in (True, False):
                    cpu, wall = asyncio.run(consume(bootstrap, topic, args.records, check))
                    rows.append((run, size, check, 1e6 * cpu / args.records, wall))
                    print(f"run {run}, {size:,} B, check_crcs={check}: {1e6 * cpu / args.records:.1f} us CPU a record "
                          f"({wall:.2f} s wall)", flush=True)  # fmt: skip
                delete_topics(bootstrap, [topic])
    finally:
        broker.stop()
    print("\n| run | value bytes | check_crcs | CPU us a record |\n|---|---|---|---|")
    for run, size, check, us, _ in rows:
        print(f"| {run} | {size:,} | {'on' if check else 'off'} | {us:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
