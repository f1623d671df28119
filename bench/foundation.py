"""Foundation benchmarks: broker start-to-ready, generator rows/s, producer acknowledged events/s.

    uv run python bench/foundation.py [--events 500000] [--rows 1000000]

Uses the bench broker (``bench/harness.py``; the broker timings need its own, and are skipped on an
external one) and prints a Markdown table for BENCHMARKS.md plus JSON in
bench/results/foundation.json. ``--smoke``: every step on tiny inputs.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import BenchBroker, add_smoke_flag, results_dir
from cli.broker import LocalBroker
from fraudstream.kafka import delete_topics, ensure_topics
from fraudstream.settings import PROJECT_ROOT, TopicNames
from producers.config import GeneratorConfig
from producers.generator import generate, write_dataset
from producers.replay import replay

HOME = PROJECT_ROOT / ".fraudstream" / "bench-kafka"


def bench_broker(runs: int) -> dict[str, object]:
    """Cold start (fresh storage: format + start) and warm restarts, seconds to ready."""
    broker = LocalBroker(HOME, port=29092, controller_port=29093)
    broker.stop()
    shutil.rmtree(HOME, ignore_errors=True)
    broker.ensure_jars()  # jar resolution is a one-off download, not part of start-to-ready
    started = time.perf_counter()
    broker.render_config()
    broker.format_storage()
    cold_launch = broker.start()
    cold = time.perf_counter() - started
    warm = []
    for _ in range(runs):
        broker.stop()
        warm.append(broker.start())
    return {
        "cold_start_with_format_seconds": round(cold, 2),
        "cold_launch_to_ready_seconds": round(cold_launch, 2),
        "warm_start_seconds": [round(w, 2) for w in warm],
        "warm_start_median_seconds": round(statistics.median(warm), 2),
    }


def bench_generator(rows: int) -> tuple[dict[str, object], object]:
    # ~2 transactions a card a day: pick days so the dataset has about `rows` transactions.
    customers = 5_000
    days = max(1, round(rows / (customers * 2.0)))
    config = GeneratorConfig(n_customers=customers, n_terminals=10_000, n_days=days, seed=1)
    started = time.perf_counter()
    dataset = generate(config)
    generated = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        write_dataset(dataset, Path(tmp))
        written = time.perf_counter() - started
    n = len(dataset.transactions)
    return (
        {
            "transactions": n,
            "days": days,
            "generate_seconds": round(generated, 2),
            "write_parquet_seconds": round(written, 2),
            "total_seconds": round(generated + written, 2),
            "rows_per_second": round(n / (generated + written)),
        },
        dataset,
    )


def bench_producer(dataset: object, events: int, bootstrap: str, barrier: bool = True) -> dict[str, object]:
    """One replay of ``events`` events; ``barrier``: with the flushes the stream worker's alignment relies on."""
    run = uuid.uuid4().hex[:6]
    topics = TopicNames(transactions=f"bench-{run}.tx", labels=f"bench-{run}.labels")
    ensure_topics(bootstrap, [topics.transactions, topics.labels], 3)
    summary = replay(dataset, bootstrap, topics, limit=events, progress=False, barrier=barrier)  # type: ignore[arg-type]
    delete_topics(bootstrap, [topics.transactions, topics.labels])
    return {
        "events": summary.sent,
        "acknowledged": summary.acknowledged,
        "failed": summary.failed,
        "flushes": summary.flushes,
        "seconds_including_encoding_and_flush": round(summary.elapsed_seconds, 2),
        "acknowledged_per_second": round(summary.acknowledged_per_second),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--warm-runs", type=int, default=3)
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        args.rows, args.events, args.warm_runs = 20_000, 2_000, 1
    broker = BenchBroker()
    results: dict[str, object] = {"machine": f"{platform.machine()}, {platform.python_version()}"}
    results["broker"] = bench_broker(args.warm_runs) if broker.own is not None else {"skipped": "external broker"}
    print("broker", results["broker"], flush=True)
    results["generator"], dataset = bench_generator(args.rows)
    print("generator", results["generator"], flush=True)
    broker.start()
    results["producer"] = bench_producer(dataset, args.events, broker.bootstrap_servers)
    print("producer", results["producer"], flush=True)
    results["producer_without_barrier"] = bench_producer(dataset, args.events, broker.bootstrap_servers, barrier=False)
    print("producer without barrier", results["producer_without_barrier"], flush=True)
    broker.stop()
    (results_dir(args.smoke) / "foundation.json").write_text(json.dumps(results, indent=2) + "\n")
    b, g, p, q = (dict(results[k]) for k in ("broker", "generator", "producer", "producer_without_barrier"))  # type: ignore[call-overload]
    rows = (
        []
        if "skipped" in b
        else [
            ("broker cold start (format + launch) to ready", f"{b['cold_start_with_format_seconds']} s"),
            (f"broker warm start to ready (median of {args.warm_runs})", f"{b['warm_start_median_seconds']} s"),
        ]
    )
    rows += [
        (f"generator, {g['transactions']:,} transactions incl. Parquet", f"{g['rows_per_second']:,} rows/s"),
        (
            f"replay producer, {p['events']:,} events acknowledged ({p['flushes']:,} barrier flushes)",
            f"{p['acknowledged_per_second']:,} events/s",
        ),
        (
            f"replay producer without the visibility barrier, {q['events']:,} events",
            f"{q['acknowledged_per_second']:,} events/s",
        ),
    ]
    print("\n| measure | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
