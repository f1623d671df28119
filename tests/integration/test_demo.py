"""The README's main command, ``fraudstream demo``, end to end with its defaults.

It runs as a user runs it (the CLI in a subprocess), against the tests' broker: the demo's broker
folder under ``FRAUDSTREAM_HOME`` is linked to the running test broker's, so step 1 finds it
running instead of starting a second broker. The demo checks its own results and exits non-zero
when one is off; this test reads the same results from what it prints (issue 17's acceptance).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from confluent_kafka import KafkaException

from cli.broker import LocalBroker
from consumers.topic_audit import end_offsets
from fraudstream.settings import PROJECT_ROOT, TopicNames


@pytest.mark.timeout(660)  # the demo's own limit is 600 s; it takes about 120 s on an idle machine
def test_the_demo_tells_the_story_warm_state_parity_drift_caught_a_challenger_promoted(
    kafka_broker: LocalBroker, tmp_path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "kafka").symlink_to(kafka_broker.home, target_is_directory=True)
    env = {**os.environ, "FRAUDSTREAM_HOME": str(home), "FRAUDSTREAM_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers}
    workdir = tmp_path / "demo"
    command = [sys.executable, "-m", "cli.main", "demo", "--workdir", str(workdir)]  # the README's defaults
    reports_topic = TopicNames().drift_reports

    def reports_on_topic() -> int:
        deadline = time.monotonic() + 60
        while True:
            try:
                return sum(end_offsets(kafka_broker.bootstrap_servers, reports_topic).values())
            except RuntimeError:  # not created yet
                return 0
            except KafkaException:  # a broker that has just started may not lead its partitions yet
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    reports_before = reports_on_topic()
    # its own process group: a demo stopped by a timeout must not leave its worker loading the suite
    demo = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)  # fmt: skip
    try:
        stdout, stderr = demo.communicate(timeout=600)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(demo.pid, signal.SIGKILL)
    log, text = stdout + stderr, stdout
    assert demo.returncode == 0, log[-4000:]
    raw = [line for line in log.splitlines() if re.match(r"^%\d\|", line)]  # librdkafka's own log format
    assert raw == [], raw[:5]
    for step in range(1, 11):
        assert f"== {step}/10 " in text, f"step {step} missing:\n{text[-3000:]}"
    assert "0.0 s to ready; 0 means it was running" in text  # it used the test broker
    assert "All of the demo's checks passed." in text
    assert "CHECK FAILED" not in text

    # the model trained on the history passed its gates; the worker started on bootstrapped state
    champion = re.search(r"model (\S+): AP [\d.]+; at the review threshold", text)
    assert champion is not None, text[-3000:]
    assert f"gates: passed; production -> {champion.group(1)}" in text
    assert re.search(r"worker demo-\w+: [\d,]+ transactions and [\d,]+ labels applied: [\d,]+ card states", text)
    # every streamed decision equals batch scoring of the same data, before and after the promotion
    parities = re.findall(r"([\d,]+) of ([\d,]+) transactions decided .*?same decision: (.*)", text)
    assert len(parities) >= 2, text[-3000:]
    for decided, expected, differences in parities:
        assert decided == expected
        assert differences == "0 differences"
    assert int(parities[0][0].replace(",", "")) > 100_000
    # drift: quiet before the injected day, ALERT from its window on, on the touched features only
    before = re.search(r"before the drift: (\d+) OK, (\d+) WARN, (\d+) ALERT", text)
    assert before is not None, text[-3000:]
    ok, warn, alert = map(int, before.groups())
    assert ok >= 5
    assert warn <= 2
    assert alert == 0
    assert re.search(r"first window from the drift day, \S+: ALERT; ALERT on .*amount", text)
    assert "features alerting that the doubled amounts do not touch: none" in text
    windows = re.search(r"(\d+) daily windows", text)
    assert windows is not None
    assert reports_on_topic() - reports_before == int(windows.group(1))  # on the configured topic
    # the retrain's challenger was staged, shadowed production, was promoted, and took over at once
    assert re.search(r"drift trigger: window \S+: PSI >= 0.25 on \d+ features", text)
    assert re.search(r"[\d,]+ decisions carry the challenger's verdict in shadow", text)
    promoted = re.search(r"production -> (\S+)\n\s+decisions after the promotion by version: \{'(\S+)': \d+\}", text)
    assert promoted is not None, text[-3000:]
    assert promoted.group(1) == promoted.group(2) != champion.group(1)
    assert "  0 transactions without a decision" in text
    # the report: a page and its three plots
    page = (workdir / "report" / "README.md").read_text()
    for image in ("drift.png", "decisions.png", "challenger.png"):
        assert f"]({image})" in page
        assert (workdir / "report" / image).stat().st_size > 10_000
