"""A local Confluent-compatible schema registry: Apicurio Registry (in-memory storage) from Maven Central.

Apicurio serves the Confluent Schema Registry REST API under ``/apis/ccompat/v7``; that URL is
what ``FRAUDSTREAM_SCHEMA_REGISTRY_URL`` takes (:attr:`LocalSchemaRegistry.url`). Its storage is
in memory: schemas live as long as the process, which suits tests and demos; a real deployment
points the setting at its own registry. ``infra/schema-registry/pom.xml`` says which version and why.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from cli.broker import java_executable, maven_package, port_in_use
from fraudstream.errors import FraudstreamError
from fraudstream.settings import PROJECT_ROOT

__all__ = ["LocalSchemaRegistry", "SchemaRegistryLaunchError"]

INFRA_DIR = PROJECT_ROOT / "infra" / "schema-registry"
DIST_DIR = INFRA_DIR / "target" / "registry"
#: the Confluent-compatible API under the registry's root
CONFLUENT_API = "/apis/ccompat/v7"
JVM_OPTS = ["-Xms64m", "-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]


class SchemaRegistryLaunchError(FraudstreamError, RuntimeError):
    """The local registry could not be fetched, started or reached."""


class LocalSchemaRegistry:
    """One registry process on ``127.0.0.1:port``, its pid and log under ``home``."""

    def __init__(self, home: Path, port: int = 18081) -> None:
        self.home, self.port = Path(home), port
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The Confluent API's base URL (the value of ``FRAUDSTREAM_SCHEMA_REGISTRY_URL``)."""
        return f"http://127.0.0.1:{self.port}{CONFLUENT_API}"

    @property
    def log_file(self) -> Path:
        return self.home / "registry.log"

    @property
    def pid_file(self) -> Path:
        return self.home / "registry.pid"

    def runner(self) -> Path:
        """The registry's runner jar, resolved with Maven the first time."""
        found = sorted(DIST_DIR.glob("apicurio-registry-app-*-runner.jar"))
        if found:
            return found[-1]
        print(f"Resolving Apicurio Registry from Maven Central into {DIST_DIR} (first start only)...", flush=True)
        failure = maven_package(INFRA_DIR / "pom.xml", "the schema registry")
        found = sorted(DIST_DIR.glob("apicurio-registry-app-*-runner.jar"))
        if failure or not found:
            raise SchemaRegistryLaunchError(failure or f"Maven left no runner jar in {DIST_DIR}")
        return found[-1]

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
            os.kill(pid, 0)
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return None
        return pid

    def is_ready(self, timeout: float = 2.0) -> bool:
        """True when the Confluent API answers a list of subjects."""
        try:
            with urllib.request.urlopen(f"{self.url}/subjects", timeout=timeout) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def start(self, wait_seconds: float = 180.0) -> float:
        """Start the registry (no-op if ours runs) and return the seconds it took to answer."""
        if self.pid() is not None and self.is_ready():
            return 0.0
        if port_in_use(self.port):
            raise SchemaRegistryLaunchError(f"Port {self.port} is in use by another program; pick another port.")
        jar = self.runner()
        java = java_executable()
        if java is None:
            raise SchemaRegistryLaunchError("Java 17+ is needed for the local schema registry; 'java' is not on PATH.")
        self.home.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with open(self.log_file, "ab") as out:
            self._process = subprocess.Popen(
                [java, *JVM_OPTS, f"-Dquarkus.http.port={self.port}", "-Dquarkus.http.host=127.0.0.1",
                 "-Dquarkus.log.level=WARN", "-jar", str(jar)],
                cwd=jar.parent, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        self.pid_file.write_text(str(self._process.pid))
        while time.monotonic() - started < wait_seconds:
            if self._process.poll() is not None:
                raise SchemaRegistryLaunchError(
                    f"The schema registry exited with code {self._process.returncode} during start-up; "
                    f"see {self.log_file}."
                )
            if self.is_ready(timeout=1.0):
                return time.monotonic() - started
            time.sleep(0.5)
        self.stop()
        raise SchemaRegistryLaunchError(
            f"The schema registry did not answer within {wait_seconds:.0f} s; see {self.log_file}."
        )

    def stop(self, timeout: float = 20.0) -> bool:
        """Stop the registry; False when it was not running."""
        pid = self.pid()
        self.pid_file.unlink(missing_ok=True)
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                return True
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.2)
        os.kill(pid, signal.SIGKILL)
        if self._process is not None:
            self._process.wait(10)
        return True
