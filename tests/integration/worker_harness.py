"""Run the real scoring worker as a subprocess against the test broker, and read what it wrote."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException

from consumers.topic_audit import end_offsets, read_topic
from fraudstream.kafka import PRODUCER_DEFAULTS, KafkaTarget, warmed_producer
from fraudstream.settings import PROJECT_ROOT, TopicNames
from producers.config import GeneratorConfig
from producers.generator import generate_to
from producers.replay import ReplayEvent, VisibilityBarrier
from registry import ModelRegistry
from trainer.config import Gates, TrainConfig
from trainer.train import train


def promoted_model(root: Path, generator: GeneratorConfig, **train_options: Any) -> tuple[Path, str, str]:
    """Generate a dataset under ``root``, train on it without acceptance gates, promote it.

    Returns (data folder, model store URI, model version).
    """
    data = root / "data"
    generate_to(generator, data, progress=lambda m: None)
    store = f"file://{root / 'models'}"
    config = TrainConfig(data=data, store_uri=store, report_dir=root / "report", gates=Gates.off(),
                         **{"trials": 0, **train_options})  # fmt: skip
    version = train(config, progress=lambda m: None).version
    ModelRegistry(store).promote(version)
    return data, store, version


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class WorkerProcess:
    def __init__(
        self,
        bootstrap: str,
        topics: TopicNames,
        store_uri: str,
        app_id: str,
        home: Path,
        *extra: str,
        partitions: int = 3,
        env: dict[str, str] | None = None,
    ):
        self.partitions = partitions
        self.bootstrap, self.topics, self.store_uri, self.app_id, self.home = bootstrap, topics, store_uri, app_id, home
        self.extra = extra
        self.env = env or {}
        self.metrics_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def log_path(self) -> Path:
        return self.home / f"worker-{self.app_id}.log"

    def start(self) -> WorkerProcess:
        env = {
            **os.environ,
            "FRAUDSTREAM_BOOTSTRAP_SERVERS": self.bootstrap,
            "FRAUDSTREAM_HOME": str(self.home),
            "FRAUDSTREAM_PARTITIONS": str(self.partitions),
            **self.topics.as_env(),
            **self.env,
        }
        command = [sys.executable, "-m", "cli.main", "worker", "--store", self.store_uri, "--app-id",
                   self.app_id, "--batch-wait", "0.02", "--reload-interval", "0.5", "--metrics-port",
                   str(self.metrics_port), "--log-level", "info", *self.extra]  # fmt: skip
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child process
        self.process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.starts += 1
        return self

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.wait(10)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def metrics(self) -> str:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            return str(response.read().decode())

    def progress(self) -> str:
        """The worker's own metrics of what it owns, holds and has scored (for a failure's message)."""
        try:
            text = self.metrics()
        except OSError as exc:
            return f"metrics unreadable: {exc}"
        wanted = ("fraudstream_worker_owned_partitions", "fraudstream_worker_held_transactions",
                  "fraudstream_worker_events_total", "fraudstream_worker_label_visibility_lag_seconds")  # fmt: skip
        return "\n".join(line for line in text.splitlines() if line.startswith(wanted))

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


def produce(bootstrap: str, events: list[ReplayEvent], headers: dict[int, list] | None = None) -> None:
    producer = warmed_producer({"bootstrap.servers": bootstrap, **PRODUCER_DEFAULTS}, [e.topic for e in events])
    failures: list[str] = []
    barrier = VisibilityBarrier()
    for event in events:
        if barrier.before(event.timestamp_ms, event.is_label):
            assert producer.flush(60) == 0
        producer.produce(
            event.topic, event.value, event.key, timestamp=event.timestamp_ms,
            on_delivery=lambda err, msg: failures.append(str(err)) if err else None,
        )  # fmt: skip
        producer.poll(0)
    assert producer.flush(60) == 0
    assert not failures, failures[:3]


def topic_size(bootstrap: str, topic: str) -> int:
    return sum(end_offsets(bootstrap, topic).values())


def all_decided(bootstrap: str, topic: str, n: int) -> Callable[[], bool]:
    """Whether ``topic`` holds a decision for ``n`` distinct transactions: its size alone counts
    the duplicates a rebalance or a restart re-emits, and reaches ``n`` before every transaction
    is decided."""

    def complete() -> bool:
        if topic_size(bootstrap, topic) < n:
            return False
        return len({d["transaction_id"] for d in decisions(bootstrap, topic)}) >= n

    return complete


def wait_for(
    predicate: Callable[[], bool],
    timeout: float,
    what: str,
    worker: WorkerProcess | Sequence[WorkerProcess] | None = None,
    detail: Callable[[], str] | None = None,
) -> None:
    """Wait until ``predicate()``; fail at once if a worker exits, and on timeout with every
    worker's log tail and metrics, and ``detail()`` (what is still missing).

    A Kafka error raised by ``predicate`` (a metadata or offsets request timing out on a loaded
    broker) counts as "not yet": the question is asked again, and the last error is reported on
    timeout.
    """
    workers = [] if worker is None else [worker] if isinstance(worker, WorkerProcess) else list(worker)
    deadline = time.monotonic() + timeout
    last_error: KafkaException | None = None
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except KafkaException as exc:
            last_error = exc
        for w in workers:
            if w.process is not None and w.process.poll() is not None:
                raise AssertionError(f"worker exited ({w.process.returncode}) waiting for {what}:\n{w.log_tail()}")
        time.sleep(0.25)
    report = [f"timed out after {timeout:.0f} s waiting for {what}"]
    if last_error is not None:
        report.append(f"last Kafka error asking: {last_error}")
    if detail is not None:
        report.append(detail())
    for index, w in enumerate(workers):
        report.append(f"--- worker {index} ({w.log_path}):\n{w.log_tail()}\n{w.progress()}")
    raise AssertionError("\n".join(report))


def decisions(bootstrap: KafkaTarget, topic: str) -> list[dict]:
    audit, records = read_topic(bootstrap, topic, "Decision", keep_records=True)
    assert not audit.decode_errors
    return [r.record for r in records if r.record is not None]
