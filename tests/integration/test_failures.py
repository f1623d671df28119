"""Failures a user can act on: with no broker at the address, every command says so in one line and exits.

No broker is needed (nothing listens on the port asked for); the file sits with the integration
tests because it runs the real commands as subprocesses, side by side.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from fraudstream.settings import PROJECT_ROOT
from tests.integration.worker_harness import free_port

COMMANDS = {
    "topics": ["topics"],
    "audit": ["audit", "transactions"],
    "produce": ["produce", "--data", "{data}"],
    "worker": ["worker", "--state-store", "memory://"],
    "drift": ["drift"],
    "lag-exporter": ["lag-exporter", "--port", "{port}"],
}


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
