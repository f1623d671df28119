"""The README's main command, ``fraudstream demo``, end to end on a small dataset.

It runs as a user runs it (the CLI in a subprocess), against the tests' broker: the demo's broker
folder under ``FRAUDSTREAM_HOME`` is linked to the running test broker's, so step 1 finds it
running instead of starting a second broker. The demo itself checks its counts (replay read back,
one decision per transaction) and exits non-zero when one is off.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

from cli.broker import LocalBroker
from consumers.topic_audit import end_offsets
from fraudstream.settings import PROJECT_ROOT, TopicNames


def test_the_demo_trains_replays_scores_with_the_worker_and_reports_drift(kafka_broker: LocalBroker, tmp_path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "kafka").symlink_to(kafka_broker.home, target_is_directory=True)
    env = {**os.environ, "FRAUDSTREAM_HOME": str(home), "FRAUDSTREAM_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers}
    command = [sys.executable, "-m", "cli.main", "demo", "--workdir", str(tmp_path / "demo"),
               "--customers", "400", "--days", "35"]  # fmt: skip
    reports_topic = TopicNames().drift_reports

    def reports_on_topic() -> int:
        try:
            return sum(end_offsets(kafka_broker.bootstrap_servers, reports_topic).values())
        except RuntimeError:  # not created yet
            return 0

    reports_before = reports_on_topic()
    out = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=480)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-4000:]
    raw = [line for line in log.splitlines() if re.match(r"^%\d\|", line)]  # librdkafka's own log format
    assert raw == [], raw[:5]

    for step in range(1, 9):
        assert f"== {step}/8 " in out.stdout, f"step {step} missing:\n{out.stdout[-3000:]}"
    assert "0.0 s to ready; 0 means it was running" in out.stdout  # it used the test broker
    read_back = re.findall(r"([\d,]+) records read back, expected ([\d,]+): OK", out.stdout)
    assert len(read_back) == 2
    assert all(got == expected for got, expected in read_back)
    transactions = int(read_back[0][0].replace(",", ""))
    assert transactions > 10_000
    # step 7: the Faust worker decided every replayed transaction, with reason codes on flagged ones
    assert re.search(rf"{transactions:,} decisions in \d+ s", out.stdout), out.stdout[-3000:]
    assert re.search(r"(DECLINE|REVIEW)\s+\S+ score [\d.]+: \w+=", out.stdout)
    # ... and every streamed decision equals batch scoring of the same data
    pattern = r"parity with `fraudstream score`: ([\d,]+) of ([\d,]+) transactions decided .*?decision: (.*)"
    parity = re.search(pattern, out.stdout)
    assert parity is not None, out.stdout[-3000:]
    assert parity.group(1) == parity.group(2) == f"{transactions:,}"
    assert parity.group(3) == "0 differences", parity.group(0)
    # step 8: the drift consumer closed daily windows from the worker's decisions
    windows = re.search(r"(\d+) daily windows: \{", out.stdout)
    assert windows is not None
    assert int(windows.group(1)) >= 30
    assert reports_on_topic() - reports_before == int(windows.group(1))  # on the configured topic
