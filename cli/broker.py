"""The local single-node Apache Kafka broker (KRaft), run from jars resolved out of Maven Central.

``infra/kafka/pom.xml`` names the broker (``org.apache.kafka:kafka_2.13``) and a Log4j 2 SLF4J
binding; ``mvn package`` copies them to ``infra/kafka/target/libs``. This module renders a
``server.properties`` into the broker's home (``$FRAUDSTREAM_HOME/kafka``), formats the storage on
first start, starts ``java kafka.Kafka`` detached with small-machine heap settings, and waits until
an admin client can list topics. Starting an already running broker is a no-op; stopping sends
SIGTERM (a clean controlled shutdown) and escalates to SIGKILL only after a timeout.

With ``secure_port`` the broker also listens there with TLS and SASL (SCRAM or PLAIN), with a CA,
certificate and users of its own (``cli/broker_security.py``).

Docker users get the same broker from ``docker-compose.yml`` instead.
"""

from __future__ import annotations

import os
import shutil
import signal
import string
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka.admin import AdminClient

from cli.broker_security import SecurityFiles, add_scram_users, listener_properties
from fraudstream.errors import FraudstreamError
from fraudstream.settings import PROJECT_ROOT

INFRA_DIR = PROJECT_ROOT / "infra" / "kafka"
LIBS_DIR = INFRA_DIR / "target" / "libs"
JVM_HEAP_OPTS = ["-Xms256m", "-Xmx768m"]
JVM_PERF_OPTS = [
    "-server",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
]


#: Brokers this process started: kept referenced so Popen does not warn "still running" when
#: collected (the broker is meant to outlive us), and reaped by ``stop``.
_STARTED: dict[int, subprocess.Popen[bytes]] = {}


class BrokerError(FraudstreamError, RuntimeError):
    """The local broker could not be prepared, started or stopped; the message says what to do."""


@dataclass(frozen=True)
class LocalBroker:
    """A broker living under ``home`` and listening on 127.0.0.1:``port``."""

    home: Path
    port: int = 9092
    controller_port: int = 9093
    #: a SASL_SSL listener on 127.0.0.1 at this port too (None: plaintext only)
    secure_port: int | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def secure_bootstrap_servers(self) -> str:
        if self.secure_port is None:
            raise BrokerError("this broker has no secured listener: start it with a secure port")
        return f"127.0.0.1:{self.secure_port}"

    @property
    def security_files(self) -> SecurityFiles:
        return SecurityFiles(self.home / "security")

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.pid"

    @property
    def config_file(self) -> Path:
        return self.home / "server.properties"

    # -- preparation -------------------------------------------------------------------------

    def ensure_jars(self) -> None:
        """Resolve the broker jars with Maven once; later starts reuse ``target/libs``."""
        if LIBS_DIR.is_dir() and any(LIBS_DIR.glob("kafka_2.13-*.jar")):
            return
        print(f"Resolving Kafka jars from Maven Central into {LIBS_DIR} (first start only)...")
        failure = maven_package(INFRA_DIR / "pom.xml", "the Kafka jars")
        if failure:
            raise BrokerError(failure)

    def render_config(self) -> None:
        template = string.Template((INFRA_DIR / "server.properties.template").read_text())
        self.home.mkdir(parents=True, exist_ok=True)
        secure = f",SASL_SSL://127.0.0.1:{self.secure_port}" if self.secure_port is not None else ""
        text = template.substitute(
            port=self.port, controller_port=self.controller_port, data_dir=self.data_dir, secure_listener=secure
        )
        if self.secure_port is not None:
            self.security_files.ensure()
            entries = listener_properties(self.security_files, self.secure_port)
            text += "# The secured listener (cli/broker_security.py)\n" + "".join(
                f"{k}={v}\n" for k, v in entries.items()
            )
        self.config_file.write_text("")
        self.config_file.chmod(0o600)  # holds the key password and the PLAIN logins when secured
        self.config_file.write_text(text)

    def _java(self) -> str:
        java = java_executable()
        if java is None:
            raise BrokerError("Java 17+ is needed for the local broker; 'java' is not on PATH.")
        return java

    def _jvm_command(self, main_class: str, *args: str) -> list[str]:
        return [
            self._java(),
            *JVM_HEAP_OPTS,
            *JVM_PERF_OPTS,
            f"-Dlog4j2.configurationFile={INFRA_DIR / 'log4j2.xml'}",
            f"-Dkafka.logs.dir={self.log_dir}",
            "-cp",
            f"{LIBS_DIR}/*",
            main_class,
            *args,
        ]

    def format_storage(self) -> None:
        """Format the KRaft metadata log the first time; an existing data folder is kept."""
        if (self.data_dir / "meta.properties").exists():
            return
        self.log_dir.mkdir(parents=True, exist_ok=True)
        cluster_id = _kafka_uuid()
        result = subprocess.run(
            self._jvm_command(
                "kafka.tools.StorageTool",
                "format",
                "--cluster-id",
                cluster_id,
                "--config",
                str(self.config_file),
                "--ignore-formatted",
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise BrokerError(f"Formatting {self.data_dir} failed:\n{result.stdout}{result.stderr}")

    # -- lifecycle ---------------------------------------------------------------------------

    def pid(self) -> int | None:
        """The broker's pid if our pid file names a live process, else None."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        return pid

    def is_ready(self, timeout: float = 2.0) -> bool:
        """True when an admin client on the bootstrap address lists topics."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers, "log_level": 0})
        try:
            admin.list_topics(timeout=timeout)
        except Exception:
            return False
        return True

    def start(self, wait_seconds: float = 60.0) -> float:
        """Start the broker (no-op if running) and return seconds from launch to ready."""
        if self.pid() is not None and self.is_ready():
            return 0.0
        if self.pid() is None and port_in_use(self.port):
            if self.is_ready():
                raise BrokerError(
                    f"Another Kafka broker already listens on 127.0.0.1:{self.port}. Use it by "
                    f"setting FRAUDSTREAM_BOOTSTRAP_SERVERS, or stop it first."
                )
            raise BrokerError(f"Port {self.port} is in use by another program; pick another port.")
        self.ensure_jars()
        self.render_config()
        self.format_storage()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with open(self.log_dir / "stdout.log", "ab") as out:
            process = subprocess.Popen(
                self._jvm_command("kafka.Kafka", str(self.config_file)),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # survives the shell that started it
            )
        _STARTED[process.pid] = process
        self.pid_file.write_text(str(process.pid))
        deadline = started + wait_seconds
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise BrokerError(
                    f"The broker exited with code {process.returncode} during start-up; "
                    f"see {self.log_dir / 'server.log'} and {self.log_dir / 'stdout.log'}."
                )
            if self.is_ready(timeout=1.0):
                if self.secure_port is not None:
                    add_scram_users(self.bootstrap_servers, self.security_files)
                return time.monotonic() - started
            time.sleep(0.2)
        raise BrokerError(f"The broker was not ready within {wait_seconds:.0f} s; see {self.log_dir / 'server.log'}.")

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the broker; returns False when it was not running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(pid):
                break
            time.sleep(0.2)
        else:
            os.kill(pid, signal.SIGKILL)
        child = _STARTED.pop(pid, None)
        if child is not None:
            child.wait(timeout=10)
        self.pid_file.unlink(missing_ok=True)
        return True


def _alive(pid: int) -> bool:
    child = _STARTED.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def java_executable() -> str | None:
    """``$JAVA_HOME/bin/java``, else ``java`` on PATH (None: neither)."""
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    return java if java and Path(java).exists() else None


def maven_package(pom: Path, what: str) -> str | None:
    """Run ``mvn package`` on ``pom`` (what it resolves from Maven Central); the error to show, or None."""
    mvn = shutil.which("mvn")
    if mvn is None:
        return (f"Maven ('mvn') is not on PATH; it is needed once to fetch {what}. "
                "Install it (Debian: apt-get install maven) and retry.")  # fmt: skip
    result = subprocess.run([mvn, "-q", "-B", "-f", str(pom), "package"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return f"Maven could not resolve {what}:\n" + (result.stdout + result.stderr)[-4000:]
    return None


def port_in_use(port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _kafka_uuid() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (22 characters).

    An id starting with "-" is drawn again, as Kafka's own Uuid.randomUuid does: the storage
    tool's argument parser would read it as an option (one id in 64 starts that way).
    """
    import base64

    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text
