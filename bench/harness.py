"""What every benchmark shares: the broker it runs against, where its results go, and smoke mode.

A benchmark uses its own broker (port 29092, ``.fraudstream/bench-kafka``) so it never touches a
user's, unless ``FRAUDSTREAM_BENCH_BOOTSTRAP`` names one: the smoke runs in the test suite use the
tests' broker. ``--smoke`` runs every step of a benchmark on tiny inputs (seconds, not minutes) so
the suite proves each script still works; its numbers mean nothing and go to a temporary folder,
never to ``bench/results``.
"""

from __future__ import annotations

import argparse
import os
import socket
import tempfile
from pathlib import Path

from cli.broker import LocalBroker
from fraudstream.settings import PROJECT_ROOT

__all__ = ["BenchBroker", "add_smoke_flag", "free_port", "results_dir"]

EXTERNAL_BROKER = "FRAUDSTREAM_BENCH_BOOTSTRAP"


class BenchBroker:
    """The benchmark's own local broker, or the one ``FRAUDSTREAM_BENCH_BOOTSTRAP`` names (left running)."""

    def __init__(self, port: int = 29092) -> None:
        external = os.environ.get(EXTERNAL_BROKER)
        self.own = None if external else LocalBroker(PROJECT_ROOT / ".fraudstream" / "bench-kafka", port, port + 1)
        self.bootstrap_servers = external or self.own.bootstrap_servers  # type: ignore[union-attr]

    def start(self) -> None:
        if self.own is not None:
            self.own.start()

    def stop(self) -> None:
        if self.own is not None:
            self.own.stop()


def add_smoke_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--smoke", action="store_true", help="every step on tiny inputs, to prove the script works")


def results_dir(smoke: bool) -> Path:
    """``bench/results`` (git-ignored; BENCHMARKS.md quotes them), or a temporary folder for smoke runs."""
    out = Path(tempfile.mkdtemp(prefix="bench-smoke-")) if smoke else Path(__file__).resolve().parent / "results"
    out.mkdir(parents=True, exist_ok=True)
    return out


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for a worker's metrics)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
