"""A real MLflow tracking server (PyPI's mlflow, SQLite backend) for the MLflow test.

Its start-up (mostly the SQLite schema migrations) is slow, so the session starts it in
the background as soon as collection shows the MLflow test is selected, and the test waits for it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


class MlflowServer:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="fraudstream-mlflow-server-"))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.uri = f"http://127.0.0.1:{self.port}"
        binary = shutil.which("mlflow") or str(Path(sys.executable).parent / "mlflow")
        self.log = self.root / "server.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [binary, "server", "--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}",
                 "--artifacts-destination", str(self.root / "artifacts"), "--host", "127.0.0.1",
                 "--port", str(self.port), "--workers", "1"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                # no job runners: their huey consumers would poll, taking CPU from every test, all session
                env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
            )  # fmt: skip

    def wait_ready(self, timeout: float = 120.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as response:
                    if response.status == 200:
                        return self.uri
            except OSError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"the MLflow server exited: {self.log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the MLflow server did not answer in {timeout:.0f} s")
            time.sleep(0.5)

    def stop(self) -> None:
        """The server and every process it started (uvicorn's workers)."""
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)
