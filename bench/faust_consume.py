"""How fast records reach a Faust agent: Faust's per-event path against the worker's BatchFeed.

    uv run python bench/faust_consume.py [--records 200000] [--runs 2]

Produces N small records (150-byte values, 5,000 keys, 3 partitions) to a fresh topic on the bench
broker, then, in a fresh process per run, consumes them with no work at all:

* ``faust``: an agent over ``stream.take_events(1000, within=0.02)`` (Faust's path: a message and
  an ``Event`` per record, the conductor awaited per record, one event per loop turn);
* ``feed``: the worker's :class:`~consumers.scoring.feed.BatchFeed` (records of a fetch handed over
  as one list).

Both with the worker's consumer settings (50 ms fetch wait, no Faust monitor). Rate = records /
(time of the last - time of the first record seen). Prints a table. Keep the default 200,000
records or more: the feed takes several thousand records per fetch, so on a short run the first
fetch is a large share of the total and its rate comes out far too high (50,000: millions/s).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CHILD = r"""
import os, sys, time, uuid
sys.path.insert(0, __ROOT__)
import faust
from consumers.scoring.app import drop_faust_monitor, install_batch_feed
from consumers.scoring.config import WorkerConfig
from consumers.scoring.feed import BatchFeed

topic, n, mode = __TOPIC__, __N__, __MODE__
app = faust.App(f"fc-{uuid.uuid4().hex[:6]}", broker=f"kafka://{__BOOTSTRAP__}", store="memory://", web_enabled=False,
                consumer_auto_offset_reset="earliest", topic_partitions=3, stream_buffer_maxsize=4096,
                datadir=__DATADIR__)
feed = BatchFeed([topic], 1000)
# the fetch settings of the worker's defaults, for both paths
worker = WorkerConfig(bootstrap_servers=__BOOTSTRAP__, model_store="file:///unused")
fetch_wait_ms, fetch_min_bytes = int(worker.fetch_max_wait * 1000), worker.fetch_min_bytes
if mode == "feed":
    install_batch_feed(app, feed, fetch_wait_ms, fetch_min_bytes)
else:
    from faust.transport.drivers import aiokafka as driver
    from consumers.scoring.feed import batch_consumer_class

    class Plain(batch_consumer_class(driver.Consumer, feed, fetch_wait_ms, fetch_min_bytes)):  # the fetch only
        _drain_messages = driver.Consumer._drain_messages
        wait_empty = driver.Consumer.wait_empty

    app.transport.Consumer = Plain
drop_faust_monitor(app)
source = app.topic(topic, key_serializer="raw", value_serializer="raw")
seen = {"n": 0, "t0": None}

def count(k):
    if seen["t0"] is None:
        seen["t0"] = time.perf_counter()
    seen["n"] += k
    if seen["n"] >= n:
        elapsed = time.perf_counter() - seen["t0"]
        print(f"RESULT {seen['n']} {elapsed:.3f} {time.process_time():.2f}", flush=True)
        os._exit(0)

@app.agent(source)
async def consume(stream):
    if mode == "feed":
        async for batch in feed.batches(0.02):
            count(len(batch.events))
            feed.ack(batch)
            feed.finished(batch)
    else:
        async for events in stream.take_events(1000, within=0.02):
            count(len(events))

sys.argv = [sys.argv[0], "worker", "-l", "warn"]
app.main()
"""


def main() -> int:
    from bench.harness import add_smoke_flag
    from bench.worker import BOOTSTRAP, BROKER, produce_all
    from fraudstream.kafka import ensure_topics
    from producers.replay import ReplayEvent

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=2)
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        args.records, args.runs = 2_000, 1
    BROKER.start()
    topic = f"fc-{uuid.uuid4().hex[:6]}"
    ensure_topics(BOOTSTRAP, [topic], 3)
    value = b"x" * 150
    produce_all([ReplayEvent(topic, f"card{i % 5000}".encode(), 0, value) for i in range(args.records)])
    print(f"{args.records:,} records in {topic}")
    rows = []
    root = str(Path(__file__).resolve().parent.parent)
    for run in range(args.runs):
        for mode in ("faust", "feed"):
            with_values = {"__ROOT__": repr(root), "__TOPIC__": repr(topic), "__N__": str(args.records),
                           "__MODE__": repr(mode), "__BOOTSTRAP__": repr(BOOTSTRAP),
                           "__DATADIR__": repr(f"/tmp/fc-{os.getpid()}")}  # fmt: skip
            code = CHILD
            for name, text in with_values.items():
                code = code.replace(name, text)
            started = time.monotonic()
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=root)
            line = next((x for x in out.stdout.splitlines() + out.stderr.splitlines() if "RESULT" in x), None)
            if line is None:
                print(out.stderr[-3000:])
                raise SystemExit(f"{mode}: no result")
            n, elapsed, cpu = line.split("RESULT ")[1].split()
            # all records in the first batch: too few to time (smoke runs)
            rate = f"{int(n) / float(elapsed):,.0f}" if float(elapsed) > 0 else "too few records to time"
            rows.append((run + 1, mode, rate, float(cpu)))
            took = time.monotonic() - started
            print(f"run {run + 1} {mode}: {rate} records/s (process {took:.0f} s)")
    print("\n| run | path | records/s | process CPU s |\n|---|---|---|---|")
    for run_no, path, rate, cpu_s in rows:
        print(f"| {run_no} | {path} | {rate} | {cpu_s:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
