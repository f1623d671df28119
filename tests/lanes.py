"""The whole suite as two pytest runs side by side (``make pytest``), sharing one test broker.

    uv run python -m tests.lanes [pytest arguments for both lanes]

Most of the integration tests' time is spent waiting (for a broker, a worker, a session timeout,
a subprocess), so two lanes on two cores finish well before one. Lane "a" runs every unit test,
the doctests, the demo and the benchmarks' smoke runs; lane "b" the other integration tests
(``tests/conftest.py`` ``lane_of``: each test in exactly one lane). The broker is started here,
before either lane, so that both find it running and neither stops it; it is stopped at the end
if it was started here. Each lane prints its lines prefixed with its name; the exit status is
non-zero if either lane failed. ``uv run pytest`` still runs the whole suite in one process.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

from cli.broker import LocalBroker
from fraudstream.settings import PROJECT_ROOT

LANES = ("a", "b")


def suite_broker() -> LocalBroker:
    """The tests' broker: its own data folder and port (``FRAUDSTREAM_TEST_KAFKA_PORT``, 19092)."""
    port = int(os.environ.get("FRAUDSTREAM_TEST_KAFKA_PORT", "19092"))
    return LocalBroker(PROJECT_ROOT / ".fraudstream" / "test-kafka", port=port, controller_port=port + 1)


def _relay(lane: str, stream: IO[str], log: IO[str]) -> None:
    for line in stream:
        sys.stdout.write(f"[{lane}] {line}")
        sys.stdout.flush()
        log.write(line)
    log.flush()


def failure_summary(output: str, per_failure: int = 12) -> list[str]:
    r"""The lines of a pytest run's output that say what failed: each failure's title and its first
    ``per_failure`` error (``E``) lines, then the short test summary without the skips (or, from a
    run that stopped before that summary, every FAILED or ERROR line).

    >>> out = "\n".join(["x", "___ test_f ___", "    def test_f():", "E   assert 1 == 2",
    ...   "=== short test summary info ===", "SKIPPED [1] a.py", "FAILED t.py::test_f", "=== 1 failed ==="])
    >>> for line in failure_summary(out):
    ...     print(line)
    ___ test_f ___
    E   assert 1 == 2
    === short test summary info ===
    FAILED t.py::test_f
    === 1 failed ===
    >>> failure_summary("ERROR tests/a.py - ImportError\nok")
    ['ERROR tests/a.py - ImportError']
    """
    lines = output.splitlines()
    starts = [i for i, line in enumerate(lines) if "short test summary info" in line]
    if not starts:
        return [line for line in lines if line.startswith(("FAILED", "ERROR"))]
    summary: list[str] = []
    shown = 0
    for line in lines[: starts[-1]]:
        if line.startswith("___") and line.endswith("___"):
            summary.append(line)
            shown = 0
        elif line.startswith("E ") and summary and shown < per_failure:
            summary.append(line)
            shown += 1
    return summary + [line for line in lines[starts[-1] :] if not line.startswith("SKIPPED")]


def main(argv: list[str]) -> int:
    broker = suite_broker()
    started_here = not (broker.pid() is not None and broker.is_ready())
    print(f"test broker on {broker.bootstrap_servers}: {'starting' if started_here else 'reusing the running one'}",
          flush=True)  # fmt: skip
    broker.start(wait_seconds=90)
    basetemp = Path(tempfile.mkdtemp(prefix="fraudstream-tests-"))
    started = time.monotonic()
    processes: dict[str, subprocess.Popen[str]] = {}
    relays = []
    logs: list[IO[str]] = []
    try:
        for lane in LANES:
            command = [sys.executable, "-m", "pytest", f"--basetemp={basetemp / lane}", *argv]
            env = {**os.environ, "FRAUDSTREAM_TEST_LANE": lane}
            process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True, bufsize=1)  # fmt: skip
            processes[lane] = process
            assert process.stdout is not None
            log = (basetemp / f"{lane}.log").open("w")
            logs.append(log)
            relay = threading.Thread(target=_relay, args=(lane, process.stdout, log), daemon=True)
            relay.start()
            relays.append(relay)
        codes = {lane: process.wait() for lane, process in processes.items()}
    except BaseException:  # Ctrl-C or SIGTERM: each lane gets the interrupt and runs its teardowns
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in processes.values():
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        raise
    finally:
        for relay in relays:
            relay.join(timeout=5)
        for lane_log in logs:
            lane_log.close()
        if started_here:
            broker.stop()
    elapsed = time.monotonic() - started
    print(f"lanes: {', '.join(f'{lane} exit {code}' for lane, code in codes.items())} in {elapsed:.0f} s", flush=True)
    failed = [code for code in codes.values() if code != 0]
    for lane, code in codes.items():
        if code != 0:  # repeated last: the other lane's output may have buried it
            for line in failure_summary((basetemp / f"{lane}.log").read_text(errors="replace")):
                print(f"[{lane}] {line}", flush=True)
    if failed:
        print(f"test folders kept for a look (each lane's whole output in a.log, b.log): {basetemp}", flush=True)
        return failed[0]
    shutil.rmtree(basetemp, ignore_errors=True)
    return 0


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    raise SystemExit(main(sys.argv[1:]))
