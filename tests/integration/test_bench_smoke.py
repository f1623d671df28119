"""Every benchmark in bench/ still runs: each script's smoke mode (every step, tiny inputs) on the tests' broker.

The smoke runs check that a script works, not what it measures, so they run two at a time (the
longest first): most of their time is spent waiting for brokers, workers and subprocesses to
start, and the suite's wall time is what CI pays.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from bench.run_all import SCRIPTS
from fraudstream.settings import PROJECT_ROOT

#: the smoke runs are set up once, in the first test's time: two lanes of scripts, each script
#: with its own 300 s limit
pytestmark = pytest.mark.timeout(600)

#: the longest smoke runs first, so the two lanes end together
LONGEST_FIRST = ("scaling", "worker", "soak", "drift", "faust_consume", "imports", "selection")


@pytest.fixture(scope="module")
def smoke_runs(bootstrap_servers: str) -> dict[str, subprocess.CompletedProcess[str]]:
    env = {**os.environ, "FRAUDSTREAM_BENCH_BOOTSTRAP": bootstrap_servers}

    def run(script: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "bench/run_all.py", "--smoke", "--only", script]
        return subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)

    order = sorted(SCRIPTS, key=lambda s: (LONGEST_FIRST.index(s) if s in LONGEST_FIRST else len(LONGEST_FIRST), s))
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(order, pool.map(run, order), strict=True))


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_the_benchmark_runs_in_smoke_mode(script: str, smoke_runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    result = smoke_runs[script]
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    assert f"== bench/{script}.py: ok" in result.stdout
