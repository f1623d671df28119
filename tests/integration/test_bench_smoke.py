"""Every benchmark in bench/ still runs: each script's smoke mode (every step, tiny inputs) on the tests' broker."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bench.run_all import SCRIPTS
from fraudstream.settings import PROJECT_ROOT


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_the_benchmark_runs_in_smoke_mode(script: str, bootstrap_servers: str) -> None:
    env = {**os.environ, "FRAUDSTREAM_BENCH_BOOTSTRAP": bootstrap_servers}
    command = [sys.executable, "bench/run_all.py", "--smoke", "--only", script]
    result = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    assert f"== bench/{script}.py: ok" in result.stdout
