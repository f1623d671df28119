"""The private Faust API we rely on: a table write inside a take_events batch needs a current event."""

from __future__ import annotations

import json
import subprocess
import sys

from fraudstream.settings import PROJECT_ROOT


def test_table_writes_in_a_batch_take_the_partition_of_the_given_event() -> None:
    # its own interpreter: Faust's test context leaves event loops and sockets to the GC
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-m", "tests.consumers.faust_compat_probe"],
        capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert sorted(outcome["sent"]) == [[2, "k1"], [3, "k2"]]
    assert outcome["stored"] == ["v1"]
    assert outcome["without_wrapper"]
    assert all("outside of stream iteration" in message for message in outcome["without_wrapper"])
