"""Failures a user meets (issue 15), measured: no broker, SIGTERM, a broker outage.

    uv run python bench/failures.py [--repeat 3] [--outage 20]

1. **No broker at the address**: each command alone (so its time is its own), ``--repeat`` times:
   seconds to exit, its exit code and how many lines it wrote to stderr.
2. **SIGTERM to the worker**, idle and in the middle of a replay, ``--repeat`` times each: seconds
   from the signal to the exit, and the exit code.
3. **A broker outage** of ``--outage`` seconds under the worker, the drift consumer and the lag
   exporter, on a broker of this benchmark's own (it is stopped and started): log lines each process
   wrote from the stop until decisions flow again, seconds from the broker's restart to the first
   new decision, and whether every process is still alive. Skipped in smoke mode.

Prints Markdown tables and writes bench/results/failures.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import add_smoke_flag, free_port, results_dir
from bench.worker import BOOTSTRAP, BROKER, produce_all, size, start_worker, topics, trained_dataset
from fraudstream.settings import PROJECT_ROOT, TopicNames
from producers.replay import ReplayEvent, encoded_events

#: every command that talks to Kafka, as a user runs it (tests/integration/test_failures.py uses them too)
COMMANDS = {
    "topics": ["topics"],
    "audit": ["audit", "transactions"],
    "produce": ["produce", "--data", "{data}"],
    "worker": ["worker", "--state-store", "memory://"],
    "drift": ["drift"],
    "lag-exporter": ["lag-exporter", "--port", "{port}"],
}
#: a log line (the drift consumer also prints its window reports)
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\S+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")


def no_broker(home: Path, repeat: int) -> list[dict[str, Any]]:
    data = home / "tx.csv"
    data.write_text("transaction_id,event_time,card_id,terminal_id,amount\nt1,2026-04-01T00:00:00Z,C1,T1,10.0\n")
    env = {**os.environ, "FRAUDSTREAM_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}", "FRAUDSTREAM_HOME": str(home)}
    rows = []
    for name, args in COMMANDS.items():
        runs = []
        for _ in range(repeat):
            command = [sys.executable, "-m", "cli.main", *(a.format(data=data, port=free_port()) for a in args)]
            started = time.monotonic()
            out = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)
            runs.append({"seconds": time.monotonic() - started, "exit": out.returncode,
                         "stderr_lines": len([line for line in out.stderr.splitlines() if line.strip()])})  # fmt: skip
        rows.append({"command": name, "runs": runs})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def _wait(predicate: Any, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what} not within {timeout:.0f} s")
        time.sleep(0.1)
    return time.monotonic() - started


def _retarget(events: list[ReplayEvent], names: TopicNames) -> list[ReplayEvent]:
    """The same records, sent to ``names``' topics."""
    return [dataclasses.replace(e, topic=names.transactions if e.topic.endswith(".tx") else names.labels)
            for e in events]  # fmt: skip


def sigterm(home: Path, store: str, events: list[ReplayEvent], repeat: int) -> list[dict[str, Any]]:
    rows = []
    for case in ("idle", "mid-replay"):
        for i in range(repeat):
            names = topics(f"sigterm-{case}")
            worker = start_worker(names, store, home / f"sigterm-{case}-{i}")
            stream = _retarget(events, names)
            produce_all(stream[:2000])
            _wait(lambda n=names: size(n.decisions) >= 1000, 120, "first decisions")
            if case == "mid-replay":
                produce_all(stream[2000:])
                time.sleep(1.0)
            else:
                time.sleep(3.0)  # everything produced is decided: the worker is idle
            started = time.monotonic()
            worker.send_signal(signal.SIGTERM)
            code = worker.wait(60)
            rows.append({"case": case, "seconds": time.monotonic() - started, "exit": code})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def outage(home: Path, store: str, events: list[ReplayEvent], seconds: float) -> dict[str, Any]:
    names = topics("outage")
    stream = _retarget(events, names)
    env = {**os.environ, "FRAUDSTREAM_BOOTSTRAP_SERVERS": BOOTSTRAP, "FRAUDSTREAM_HOME": str(home / "others"),
           **names.as_env()}  # fmt: skip
    logs = {"drift": home / "drift.log", "lag-exporter": home / "lag.log"}
    worker = start_worker(names, store, home / "outage-worker")
    logs["worker"] = home / "outage-worker" / f"{names.decisions}.log"
    others = {}
    for name, args in {"drift": ["drift", "--store", store, "--group-id", f"{names.decisions}-drift"],
                       "lag-exporter": ["lag-exporter", "--port", str(free_port()), "--interval", "1",
                                        "--scoring-group", names.decisions]}.items():  # fmt: skip
        with open(logs[name], "wb") as out:
            others[name] = subprocess.Popen([sys.executable, "-m", "cli.main", *args], cwd=PROJECT_ROOT, env=env,
                                            stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        half = len(stream) // 2
        produce_all(stream[:half])
        _wait(lambda: size(names.decisions) >= half // 3, 180, "decisions before the outage")
        time.sleep(2)
        before = {name: len(path.read_text().splitlines()) for name, path in logs.items()}
        decided = size(names.decisions)
        BROKER.stop()
        time.sleep(seconds)
        BROKER.start()
        restarted = time.monotonic()
        produce_all(stream[half:])
        _wait(lambda: size(names.decisions) > decided, 180, "decisions after the outage")
        recovery = time.monotonic() - restarted
        time.sleep(5)
        lines = {name: len([line for line in path.read_text().splitlines()[before[name]:] if LOG_LINE.match(line)])
                 for name, path in logs.items()}  # fmt: skip
        alive = {"worker": worker.poll() is None, **{name: p.poll() is None for name, p in others.items()}}
        return {"outage_seconds": seconds, "lines_from_stop_to_recovery": lines,
                "seconds_from_restart_to_a_new_decision": round(recovery, 1),
                "alive": alive}  # fmt: skip
    finally:
        for process in (worker, *others.values()):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--outage", type=float, default=20.0, help="seconds the broker is down")
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        args.repeat = 1
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        (home / "no-broker").mkdir()
        out["no_broker"] = no_broker(home / "no-broker", args.repeat)
        BROKER.start()
        try:
            store, dataset = trained_dataset(home / "model", args.smoke)
            events = list(encoded_events(dataset, topics("seed")))[:20_000]
            out["sigterm"] = sigterm(home, store, events, args.repeat)
            if not args.smoke and BROKER.own is not None:
                out["outage"] = outage(home, store, events, args.outage)
                print(json.dumps(out["outage"]), flush=True)
        finally:
            BROKER.stop()
    (results_dir(args.smoke) / "failures.json").write_text(json.dumps(out, indent=2) + "\n")

    print("\n| command, no broker at the address | seconds to exit (min / median / max) | exit | stderr lines |")
    print("|---|---|---|---|")
    for row in out["no_broker"]:
        seconds = [r["seconds"] for r in row["runs"]]
        exits, lines = sorted({r["exit"] for r in row["runs"]}), sorted({r["stderr_lines"] for r in row["runs"]})
        print(f"| {row['command']} | {min(seconds):.1f} / {statistics.median(seconds):.1f} / {max(seconds):.1f} "
              f"| {exits} | {lines} |")  # fmt: skip
    print("\n| SIGTERM to the worker | seconds to exit (min / median / max) | exit |")
    print("|---|---|---|")
    for case in ("idle", "mid-replay"):
        rows = [r for r in out["sigterm"] if r["case"] == case]
        seconds = [r["seconds"] for r in rows]
        print(f"| {case} | {min(seconds):.1f} / {statistics.median(seconds):.1f} / {max(seconds):.1f} "
              f"| {sorted({r['exit'] for r in rows})} |")  # fmt: skip
    if "outage" in out:
        print(f"\noutage: {json.dumps(out['outage'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
