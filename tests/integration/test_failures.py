"""Failures a user can act on: with no broker at the address, every command says so in one line and exits.

No broker is needed (nothing listens on the port asked for); the file sits with the integration
tests because it runs the real commands as subprocesses, side by side.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

# the commands and the log-line pattern are the failure benchmark's (bench/failures.py measures them)
from bench.failures import COMMANDS, LOG_LINE
from fraudstream.settings import PROJECT_ROOT
from tests.integration.worker_harness import free_port


def test_every_command_fails_within_15_s_with_one_line_naming_the_address_when_no_broker_answers(tmp_path) -> None:
    data = tmp_path / "tx.csv"
    data.write_text("transaction_id,event_time,card_id,terminal_id,amount\n"
                    "t1,2026-04-01T00:00:00Z,4000000000000002,T1,10.0\n")  # fmt: skip
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    env = {**os.environ, "FRAUDSTREAM_BOOTSTRAP_SERVERS": address, "FRAUDSTREAM_HOME": str(tmp_path)}
    failures = []
    names = list(COMMANDS)
    for pair in (names[i : i + 2] for i in range(0, len(names), 2)):  # two at a time: this machine has two cores
        started = time.monotonic()
        running = {
            name: subprocess.Popen(
                [sys.executable, "-m", "cli.main", *(a.format(data=data, port=free_port()) for a in COMMANDS[name])],
                cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            for name in pair
        }  # fmt: skip
        for name, process in running.items():
            try:
                _, err = process.communicate(timeout=max(1.0, 30 - (time.monotonic() - started)))
            except subprocess.TimeoutExpired:
                process.kill()
                failures.append(f"{name}: still running after 30 s")
                continue
            seconds = time.monotonic() - started
            lines = [line for line in err.splitlines() if line.strip()]
            if process.returncode == 0 or len(lines) != 1 or "Traceback" in err:
                failures.append(f"{name}: exit {process.returncode}, stderr:\n{err[-2000:]}")
            elif f"no Kafka broker answered at {address}" not in lines[0] or seconds > 15:
                failures.append(f"{name}: after {seconds:.1f} s: {lines[0]}")
    assert failures == []


def test_a_broker_outage_mid_run_is_a_few_lines_a_process_and_everything_recovers_by_itself(tmp_path) -> None:
    """A broker of its own, stopped for 20 s under the worker, the drift consumer and the lag exporter."""
    from cli.broker import LocalBroker
    from fraudstream.kafka import ensure_topics
    from fraudstream.settings import TopicNames
    from producers.adapters import load_dataset
    from producers.config import GeneratorConfig
    from producers.replay import encoded_events
    from tests.integration.worker_harness import WorkerProcess, produce, promoted_model, topic_size, wait_for

    data, store, _ = promoted_model(tmp_path, GeneratorConfig(n_customers=200, n_terminals=400, n_days=28, seed=3))
    broker = LocalBroker(tmp_path / "kafka", free_port(), free_port())
    broker.start(wait_seconds=90)
    address = broker.bootstrap_servers
    topics = TopicNames(transactions="tx", labels="labels", decisions="decisions", dlq="dlq", drift_reports="drift")
    ensure_topics(address, topics.model_dump().values(), 3)
    events = list(encoded_events(load_dataset(data), topics))
    produce(address, events[:5000])
    env = {**os.environ, "FRAUDSTREAM_BOOTSTRAP_SERVERS": address, "FRAUDSTREAM_HOME": str(tmp_path), **topics.as_env(),
           "PYTHONFAULTHANDLER": "1"}  # a crash shows where  # fmt: skip
    logs = {"drift": tmp_path / "drift.log", "lag-exporter": tmp_path / "lag.log"}
    commands = {
        "drift": ["drift", "--store", store],
        "lag-exporter": ["lag-exporter", "--port", str(free_port()), "--interval", "1", "--scoring-group", "w"],
    }
    worker = WorkerProcess(address, topics, store, "w", tmp_path)
    others = {}
    try:
        worker.start()
        for name, args in commands.items():
            with open(logs[name], "wb") as out:
                others[name] = subprocess.Popen([sys.executable, "-m", "cli.main", *args], cwd=PROJECT_ROOT, env=env,
                                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
        wait_for(lambda: topic_size(address, topics.decisions) >= 3000, 120, "decisions before the outage", worker)
        # the outage is mid-run for every process: the drift consumer reading decisions, the exporter serving
        running = {"drift": "drift reference of model", "lag-exporter": "lag exporter:"}
        wait_for(lambda: all(text in logs[name].read_text() for name, text in running.items()), 120,
                 "the drift consumer and the lag exporter running", worker)  # fmt: skip
        time.sleep(2)
        logs["worker"] = worker.log_path
        before = {name: len(path.read_text().splitlines()) for name, path in logs.items()}  # lines, logged or printed
        broker.stop()
        time.sleep(20)
        broker.start(wait_seconds=90)
        produce(address, events[5000:8000])
        wait_for(lambda: topic_size(address, topics.decisions) >= 5000, 120, "decisions after the outage", worker)
        for name, process in others.items():
            assert process.poll() is None, f"{name} exited during the outage:\n{logs[name].read_text()[-2000:]}"
        for name, path in logs.items():
            during = [line for line in path.read_text().splitlines()[before[name] :] if LOG_LINE.match(line)]
            # about one line per 10 s of outage and recovery from each client library and the process itself
            assert len(during) <= 12, f"{name}: {len(during)} lines:\n" + "\n".join(during[:20])
            assert not any("Traceback" in line for line in during), name
    finally:
        for process in others.values():
            process.terminate()
            process.wait(30)
        worker.stop()
        broker.stop()
