"""Scoring with several worker processes: throughput, latency, label propagation, kill -9 recovery.

    uv run python bench/scaling.py [--events 100000] [--only throughput|latency|labels|waiting|kill] [--worker-args ...]

All on 4 partitions, the workers at their defaults, on the bench broker (``bench/harness.py``):

1. **throughput**: one process, then two, over the same records, in one run. The workers start
   first and own their partitions; then every record is produced and the rate is decisions /
   (last - first decision time); ``after_produce`` counts only the decisions after the producer
   finished (it shares the two cores while it runs); ``cpu_seconds`` what the workers, the broker
   and the producer spent meanwhile, and the machine's idle and stolen core-seconds;
   ``broker_jit_seconds`` what the broker's JIT compiler spent (``jcmd``, when it is there). A
   freshly started broker compiles its hot paths for minutes, on the same two cores: an unmeasured
   two-process pass (``--warmup-runs``) comes before any step, so every step measures the workers
   on a warm broker, as a long-running one is. ``--pairs`` repeats the one/two-process pair in the same sitting.
2. **latency**: ``bench/worker.py``'s run (transactions paced at 1,000/s in real time, record
   timestamp = send time, labels partitions idle) with two processes.
3. **labels**: two processes under 1,000 transactions/s. One transaction of yesterday per trial,
   at a new terminal, is written first on a partition of process A; each trial then writes its
   fraud label (reported now) there and, when its time comes, a transaction at that terminal on a
   partition of process B, timestamped ``label_lag`` after the report: the first that may count
   the label, and must (checked). Also sampled every 50 ms: each process's
   ``label_visibility_lag_seconds`` for the other's partitions (how long after it is reported a
   label counts in the other process; under ``label_lag``, nothing waits for labels).
4. **kill**: two processes at 1,000 transactions/s; one is killed -9. Measured: the longest time
   a transaction sent after the kill waited for its decision (failover: the group's session
   timeout, recovery), and the decisions emitted twice.

Writes bench/results/scaling.json and prints Markdown tables. ``--smoke``: throughput and latency, briefly.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from confluent_kafka import Producer

from bench.harness import add_smoke_flag, results_dir
from bench.worker import (
    BOOTSTRAP,
    BROKER,
    PY_SPY,
    WORKER_ARGS,
    consume_decisions,
    decision_times,
    latency,
    produce_all,
    size,
    start_workers,
    stop_worker,
    topics,
    trained_dataset,
    wait_size,
    worker_metric,
    worker_pid,
)
from consumers.scoring.alignment import EventTimeAligner
from features.definitions import DAY_MS, DEFAULT_CONFIG
from fraudstream.kafka import PRODUCER_DEFAULTS
from fraudstream.settings import TopicNames
from producers.replay import encoded_events
from schemas.codec import AvroCodec

PARTITIONS = 4


def renamed(events: list, names: TopicNames) -> list:
    return [e.__class__(names.transactions if e.topic == "transactions" else names.labels, e.key, e.timestamp_ms,
                        e.value) for e in events]  # fmt: skip


def throughput(events: list, n_tx: int, store: str, home: Path, processes: int, run: str = "") -> dict[str, object]:
    names = topics(f"scale{processes}{run}", PARTITIONS)
    workers = start_workers(names, store, home / f"throughput{processes}{run}", processes, PARTITIONS)
    try:
        jit_before = broker_jit_seconds()  # jcmd attaches to the broker: outside the measured window
        held = HeldSampler(workers) if SAMPLE_HELD else None
        cpu_before, started = cpu_seconds(workers), time.monotonic()
        produce_all(renamed(events, names))
        produced = time.time()
        wait_size(names.decisions, n_tx, 900, workers[0])
        if held is not None:
            held.stop()
        cpu = {part: round(after - cpu_before[part], 1) for part, after in cpu_seconds(workers).items()}
        cpu["wall"] = round(time.monotonic() - started, 1)
        jit_after = broker_jit_seconds()
        batches = [batch_figures(worker.metrics_port) for worker in workers]  # type: ignore[attr-defined]
    finally:
        for worker in workers:
            stop_worker(worker)
    view = view_start_up(f"{names.decisions}-terminal-state-changelog")
    times = decision_times(names.decisions)
    span = times.max() - times.min()
    tail = times[times >= produced]
    tail_span = tail.max() - produced if len(tail) else 0.0
    return {
        "processes": processes,
        "decisions": len(times),
        "seconds": round(float(span), 2),
        "events_per_second": round(len(times) / span) if span > 0 else None,
        "after_produce_events_per_second": round(len(tail) / tail_span) if tail_span > 0 else None,
        # from the workers owning their partitions to the last decision: what the run cost the machine
        "cpu_seconds": cpu,
        "cpu_ms_per_decision": {
            part: round(1000 * seconds / len(times), 3)
            for part, seconds in cpu.items()
            if not part.startswith(("machine", "wall"))
        },
        # per process: micro-batches and records per batch (small batches cost more a decision)
        "batches": batches,
        # per process (--sample-held): transactions the alignment held back, sampled every 0.1 s
        "held_transactions": held.summary() if held is not None else None,
        "broker_jit_seconds": None if jit_before is None or jit_after is None else round(jit_after - jit_before, 1),
        "terminal_view_after_the_run": view,
    }


#: set by --sample-held: sample each worker's held transactions through the runs (reading its
#: metrics ten times a second costs the workers a little CPU, so not by default)
SAMPLE_HELD: list[bool] = []


class HeldSampler:
    """Samples each worker's ``fraudstream_worker_held_transactions`` (set after every batch) every
    0.1 s in a thread, from construction to :meth:`stop`: whether the alignment holds records
    back all through a run or at moments (the UTC day boundaries)."""

    def __init__(self, workers: list) -> None:
        self.ports = [worker.metrics_port for worker in workers]
        self.samples: list[list[float]] = [[] for _ in workers]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            for port, samples in zip(self.ports, self.samples, strict=True):
                value = worker_metric(port, "fraudstream_worker_held_transactions")
                if value is not None:
                    samples.append(value)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def summary(self) -> list[dict[str, float]]:
        out = []
        for samples in self.samples:
            values = np.array(samples or [0.0])
            out.append({"samples": len(samples), "share_holding": round(float((values > 0).mean()), 3),
                        "mean": round(float(values.mean()), 1), "p90": float(np.percentile(values, 90)),
                        "max": float(values.max())})  # fmt: skip
        return out


def batch_figures(metrics_port: int) -> dict[str, object]:
    """A worker's micro-batches so far and their mean size, from its metrics."""
    total = worker_metric(metrics_port, "fraudstream_worker_batch_size_sum")
    count = worker_metric(metrics_port, "fraudstream_worker_batch_size_count")
    mean = None if total is None or not count else round(total / count, 1)
    waits: dict[str, float | None] = {
        kind: worker_metric(metrics_port, f'fraudstream_worker_alignment_waits_total{{waiting_for="{kind}"}}')
        for kind in EventTimeAligner.WAIT_KINDS
    }
    # after how many of its batches the oldest held transaction still waited, by what for
    return {"batches": count, "mean_records": mean, "waits": {k: v for k, v in waits.items() if v}}


def broker_jit_seconds() -> float | None:
    """The summed elapsed time of the bench broker's JIT compilations so far (HotSpot's
    ``java.ci.totalTime`` through ``jcmd``: close to their CPU time, not the same), or None: an
    external broker, or no ``jcmd`` here."""
    pid = BROKER.own.pid() if BROKER.own is not None else None
    jcmd = shutil.which("jcmd")
    if pid is None or jcmd is None:
        return None
    try:
        out = subprocess.run([jcmd, str(pid), "PerfCounter.print"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    counters = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    try:
        return int(counters["java.ci.totalTime"]) / int(counters["sun.os.hrt.frequency"])
    except (KeyError, ValueError, ZeroDivisionError):
        return None


def process_cpu_seconds(pid: int) -> float:
    """A process's CPU time so far (user + system, all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (stat(5) fields 14, 15)


def waiting_cost(events: list, n_tx: int, store: str, home: Path, seconds: float = 5.0) -> dict[str, object]:
    """What a worker process spends while the other process it waits on makes no progress, and while
    it has nothing to do: two processes replay ``events``; when a fifth is decided, the second is
    frozen (SIGSTOP, for less than the session timeout) and the first one's CPU and decisions are
    counted over ``seconds``; after the run, the same over ``seconds`` of doing nothing."""
    names = topics("waiting", PARTITIONS)
    workers = start_workers(names, store, home / "waiting", 2, PARTITIONS)
    first, second = workers
    first_pid, second_pid = worker_pid(first), worker_pid(second)  # the workers, also under py-spy
    try:
        produce_all(renamed(events, names))
        wait_size(names.decisions, n_tx // 5, 300, first)
        os.kill(second_pid, signal.SIGSTOP)
        try:
            time.sleep(min(1.5, seconds))  # what the first could still release goes first
            cpu, decided, at = process_cpu_seconds(first_pid), size(names.decisions), time.monotonic()
            held_before = worker_metric(first.metrics_port, "fraudstream_worker_held_transactions")  # type: ignore[attr-defined]
            time.sleep(seconds)
            waiting = {
                "cpu_core_share": round((process_cpu_seconds(first_pid) - cpu) / (time.monotonic() - at), 3),
                "decisions_meanwhile": size(names.decisions) - decided,
                "held_before": held_before,
                "held_after": worker_metric(first.metrics_port, "fraudstream_worker_held_transactions"),  # type: ignore[attr-defined]
            }
        finally:
            os.kill(second_pid, signal.SIGCONT)
        wait_size(names.decisions, n_tx, 900, first)
        time.sleep(min(2.0, seconds))
        cpu, at = process_cpu_seconds(first_pid), time.monotonic()
        time.sleep(seconds)
        idle = {"cpu_core_share": round((process_cpu_seconds(first_pid) - cpu) / (time.monotonic() - at), 3)}
    finally:
        for worker in workers:
            stop_worker(worker)
    return {"waiting_on_a_frozen_process": waiting, "idle_after_the_run": idle}


def cpu_seconds(workers: list) -> dict[str, float]:
    """CPU time (user + system) so far of the worker processes, the bench's own broker (absent on an
    external one) and this process (the producer): on a 2-core machine, what two workers can gain
    over one is bounded by what all of them together spend per decision."""
    tick = os.sysconf("SC_CLK_TCK")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result = {"workers": sum(process_cpu_seconds(worker_pid(w)) for w in workers),
              "bench_process": usage.ru_utime + usage.ru_stime}  # fmt: skip
    # the whole machine (all cores): idle shows whether the cores were saturated, steal what the host took
    machine = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    result["machine_idle"], result["machine_steal"] = (machine[3] + machine[4]) / tick, machine[7] / tick
    broker_pid = BROKER.own.pid() if BROKER.own is not None else None
    if broker_pid is not None:
        result["broker"] = process_cpu_seconds(broker_pid)
    return result


def view_start_up(changelog: str) -> dict[str, object]:
    """What a worker process starting now spends on its view of the terminal changelog."""
    from consumers.scoring.terminal_view import ChangelogView

    view = ChangelogView({"bootstrap.servers": BOOTSTRAP}, changelog, PARTITIONS)
    view.set_partitions(range(PARTITIONS))  # what a process sees when the others own everything
    started = time.monotonic()
    view.start()
    view.caught_up.wait(300)
    seconds = time.monotonic() - started
    view.stop()
    keys = sum(len(data) for data in view.data)
    return {"records_read": view.records, "keys": keys, "mib": round(view.bytes / 2**20, 1),
            "catch_up_seconds": round(seconds, 2)}  # fmt: skip


class Traffic:
    """Transactions at ``rate``/s with record timestamp = send time, and a consumer of the decisions."""

    def __init__(self, names: TopicNames, events: list, rate: float) -> None:
        self.names, self.rate = names, rate
        self.tx = [e for e in events if e.topic == "transactions"]
        self.sent: dict[str, float] = {}
        self.received: dict[str, float] = {}
        self.decisions: dict[str, dict] = {}
        self.copies: Counter[str] = Counter()
        self.stop = threading.Event()
        self.stop_sending = threading.Event()
        self.tx_codec = AvroCodec.for_record("Transaction")
        self.producer = Producer({"bootstrap.servers": BOOTSTRAP, **PRODUCER_DEFAULTS, "linger.ms": 1})
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._consume, daemon=True),
                        threading.Thread(target=self._send, daemon=True)]  # fmt: skip

    def __enter__(self) -> Traffic:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(10)

    def produce(self, topic: str, value: bytes, key: bytes, timestamp_ms: int, partition: int | None = None) -> None:
        with self.lock:
            extra = {} if partition is None else {"partition": partition}
            self.producer.produce(topic, value, key, timestamp=timestamp_ms, **extra)
            self.producer.poll(0)

    def _send(self) -> None:
        start = time.perf_counter()
        for i, e in enumerate(self.tx):
            if self.stop.is_set() or self.stop_sending.is_set():
                break
            delay = start + i / self.rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            now = time.time()
            self.sent[self.tx_codec.decode(e.value)["transaction_id"]] = now
            self.produce(self.names.transactions, e.value, e.key, int(now * 1000))
        with self.lock:
            self.producer.flush(30)

    def _consume(self) -> None:
        consume_decisions(self.names.decisions, self.stop, self._arrived)

    def _arrived(self, decision: dict, at: float) -> None:
        tx = decision["transaction_id"]
        self.copies[tx] += 1
        self.received.setdefault(tx, at)
        self.decisions.setdefault(tx, decision)


def owners(group: str, topic: str) -> list[set[int]]:
    """The partitions of ``topic`` each member of ``group`` owns."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    described = admin.describe_consumer_groups([group])[group].result()
    return [{tp.partition for tp in member.assignment.topic_partitions if tp.topic == topic}
            for member in described.members]  # fmt: skip


def label_propagation(events: list, store: str, home: Path, trials: int) -> dict[str, object]:
    names = topics("labels", PARTITIONS)
    workers = start_workers(names, store, home / "labels", 2, PARTITIONS)
    tx_codec, label_codec = AvroCodec.for_record("Transaction"), AvroCodec.for_record("Label")
    lag = DEFAULT_CONFIG.label_lag_ms
    try:
        a, b = (sorted(parts) for parts in owners(names.decisions, names.transactions))
        base = {"amount": 20.0, "currency": "EUR", "merchant_category": "5411", "channel": "POS",
                "card_country": "BE", "terminal_country": "BE"}  # fmt: skip
        # yesterday's transactions first: written in event-time order, before any of today's
        yesterday = int(time.time() * 1000) - DAY_MS
        seed = Producer({"bootstrap.servers": BOOTSTRAP, **PRODUCER_DEFAULTS})
        for i in range(trials):
            old = {**base, "transaction_id": f"bench_old_{i}", "card_id": f"bench_card_a{i}",
                   "terminal_id": f"bench_term_{i}", "event_time": yesterday + i}  # fmt: skip
            seed.produce(names.transactions, tx_codec.encode(old), old["card_id"].encode(), timestamp=yesterday + i,
                         partition=a[0])  # fmt: skip
        seed.flush(30)
        with Traffic(names, events, 1000) as traffic:
            time.sleep(3)  # the workers are caught up with the traffic
            lags: list[float] = []
            sampling = threading.Event()

            def sample() -> None:  # each worker's lag for the labels partitions of the other
                while not sampling.is_set():
                    for worker in workers:
                        lag_s = worker_metric(
                            worker.metrics_port,  # type: ignore[attr-defined]
                            'fraudstream_worker_label_visibility_lag_seconds{partitions="others"}',
                        )
                        if lag_s is not None:
                            lags.append(lag_s)
                    time.sleep(0.05)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            label_sent: dict[str, float] = {}
            new_sent: dict[str, float] = {}
            for i in range(trials):
                terminal, card_a, card_b = f"bench_term_{i}", f"bench_card_a{i}", f"bench_card_b{i}"
                now = int(time.time() * 1000)
                label = {"transaction_id": f"bench_old_{i}", "card_id": card_a, "terminal_id": terminal,
                         "event_time": yesterday + i, "reported_at": now, "is_fraud": True,
                         "fraud_scenario": None}  # fmt: skip
                label_sent[f"bench_new_{i}"] = time.time()
                traffic.produce(names.labels, label_codec.encode(label), card_a.encode(), now, a[0])
                # the first transaction that counts it, written when its time comes (event-time order)
                due = now + lag + 1
                time.sleep(max(0.0, due / 1000 - time.time()))
                new = {**base, "transaction_id": f"bench_new_{i}", "card_id": card_b, "terminal_id": terminal,
                       "event_time": due}  # fmt: skip
                new_sent[f"bench_new_{i}"] = time.time()
                traffic.produce(names.transactions, tx_codec.encode(new), card_b.encode(), due, b[0])
            deadline = time.monotonic() + 30
            while any(tx not in traffic.received for tx in label_sent) and time.monotonic() < deadline:
                time.sleep(0.2)
            sampling.set()
            sampler.join(5)
    finally:
        for worker in workers:
            stop_worker(worker)
    answered = [tx for tx in label_sent if tx in traffic.received]
    delays = np.array([traffic.received[tx] - label_sent[tx] for tx in answered]) * 1000
    waits = np.array([traffic.received[tx] - new_sent[tx] for tx in answered]) * 1000
    counted = sum(1 for tx in answered if traffic.decisions[tx]["features"]["terminal_recent_risk_1d"] == 1.0)

    def pcts(values: np.ndarray | list[float], scale: float = 1.0) -> list[float]:
        return [round(float(np.percentile(values, q)) * scale, 1) for q in (50, 99, 100)] if len(values) else []

    return {
        "trials": trials,
        "answered": len(answered),
        "counted_the_label": counted,
        "label_lag_ms": lag,
        "label_write_to_decision_of_first_counting_transaction_p50_p99_max_ms": pcts(delays),
        "that_transactions_event_to_decision_p50_p99_max_ms": pcts(waits),
        "label_visibility_lag_other_process_p50_p99_max_ms": pcts(lags, 1000.0),
        "lag_samples": len(lags),
    }


def kill_recovery(events: list, store: str, home: Path, before: float, after: float) -> dict[str, object]:
    names = topics("kill", PARTITIONS)
    workers = start_workers(names, store, home / "kill", 2, PARTITIONS)
    try:
        with Traffic(names, events, 1000) as traffic:
            time.sleep(before)
            killed = time.time()
            workers[0].send_signal(signal.SIGKILL)
            workers[0].wait(10)
            time.sleep(after)
            traffic.stop_sending.set()
            time.sleep(0.5)
            deadline = time.monotonic() + 60
            while len([t for t in list(traffic.sent) if t in traffic.received]) < len(traffic.sent):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.2)
    finally:
        for worker in workers[1:]:
            stop_worker(worker)
    late = {tx: traffic.received[tx] - sent for tx, sent in traffic.sent.items() if tx in traffic.received}
    after_kill = [delay for tx, delay in late.items() if traffic.sent[tx] >= killed]
    started = min(traffic.sent.values())
    steady = [delay for tx, delay in late.items() if started + 3 <= traffic.sent[tx] < killed - 1]
    # decisions flow again once transactions sent after the kill stop waiting (more than 1 s)
    resumed = [traffic.received[tx] for tx, delay in late.items() if traffic.sent[tx] >= killed and delay > 1.0]
    duplicates = sum(copies - 1 for copies in traffic.copies.values())
    logs = [path.read_text(errors="replace") for path in (home / "kill").glob("p*/*.log")]
    return {
        "commit_timer_overlaps_logged": sum(log.count("Timer commit is overlapping") for log in logs),
        "sent": len(traffic.sent),
        "answered": len(late),
        "p99_ms_before_kill": round(float(np.percentile(steady, 99)) * 1000, 1) if steady else None,
        "longest_wait_after_kill_s": round(max(after_kill), 2) if after_kill else None,
        "kill_to_decisions_flowing_again_s": round(max(resumed) - killed, 2) if resumed else 0.0,
        "decisions_emitted_twice": duplicates,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000, help="transactions for the throughput runs")
    parser.add_argument("--only", choices=["throughput", "latency", "labels", "kill", "waiting"])
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--worker-args", default="", help="extra flags for every worker, e.g. '--standby-replicas 0'")
    parser.add_argument("--pairs", type=int, default=1, help="one- and two-process throughput runs, alternately")
    parser.add_argument(
        "--warmup-runs", type=int, default=1, help="unmeasured two-process throughput runs first, to warm the broker"
    )
    parser.add_argument("--sample-held", action="store_true", help="sample each worker's held transactions")
    parser.add_argument("--py-spy", type=Path, help="profile every worker with py-spy, each into its own file here")
    add_smoke_flag(parser)
    args = parser.parse_args()
    WORKER_ARGS.extend(args.worker_args.split())
    if args.sample_held:
        SAMPLE_HELD.append(True)
    if args.py_spy:
        args.py_spy.mkdir(parents=True, exist_ok=True)
        PY_SPY["dir"] = args.py_spy.resolve()
    BROKER.start()
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        store, dataset = trained_dataset(home, args.smoke)
        all_events = list(encoded_events(dataset, TopicNames()))
        n_events = 1_500 if args.smoke else args.events
        tx_positions = [i for i, e in enumerate(all_events) if e.topic == "transactions"]
        cut = tx_positions[min(n_events, len(tx_positions)) - 1] + 1
        events, live = all_events[:cut], all_events[cut:]
        n_tx = sum(1 for e in events if e.topic == "transactions")
        if not args.smoke:  # every step measures against a warm broker, whichever runs
            results["throughput_warmup"] = [
                throughput(events, n_tx, store, home, 2, run=f"warmup{run}") for run in range(args.warmup_runs)
            ]
            print("broker warm-up (not compared)", results["throughput_warmup"], flush=True)
        if args.only in (None, "throughput"):
            # smoke: the two-process run only (the one-process path is the worker benchmark's smoke)
            runs = [(2, "")] if args.smoke else [(n, f"pair{pair}") for pair in range(args.pairs) for n in (1, 2)]
            results["throughput"] = [throughput(events, n_tx, store, home, n, run) for n, run in runs]
            print("throughput", results["throughput"], flush=True)
        if args.only in (None, "latency"):
            seconds, warmup = (2.0, 1.0) if args.smoke else (args.latency_seconds, 5.0)
            rate = 200 if args.smoke else 1000
            results["latency"] = latency(live, store, home, rate, seconds, warmup, processes=2, partitions=PARTITIONS)
            print("latency", results["latency"], flush=True)
        # smoke (the test suite): throughput and latency only; the label and kill -9 steps start and
        # restart more processes than the suite's time allows, and test_worker covers both behaviours
        if args.only in (None, "labels") and not args.smoke:
            results["labels"] = label_propagation(live, store, home, 2 if args.smoke else 100)
            print("labels", results["labels"], flush=True)
        if args.only in (None, "waiting"):
            results["waiting"] = waiting_cost(events, n_tx, store, home, seconds=0.5 if args.smoke else 5.0)
            print("waiting", results["waiting"], flush=True)
        if args.only in (None, "kill") and not args.smoke:
            results["kill"] = kill_recovery(live, store, home, *((3.0, 15.0) if args.smoke else (10.0, 20.0)))
            print("kill", results["kill"], flush=True)
    BROKER.stop()
    out = results_dir(args.smoke)
    name = f"scaling-{args.only}.json" if args.only else "scaling.json"
    (out / name).write_text(json.dumps(results, indent=2, default=float) + "\n")
    print(json.dumps(results, indent=2, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
