"""Configuration shared by every fraudstream process: where Kafka is, how to connect, what the topics are called.

Each process reads one pydantic-settings model from environment variables with the prefix
``FRAUDSTREAM_`` (nested fields with ``__``, e.g. ``FRAUDSTREAM_TOPICS__TRANSACTIONS``,
``FRAUDSTREAM_SECURITY__PROTOCOL``) and lets CLI flags override them. Topic names and the Kafka
security settings live here and nowhere else; :func:`unknown_variables` names a ``FRAUDSTREAM_*``
variable that is no setting (a typo would otherwise connect without TLS, silently).

Secrets are :class:`~pydantic.SecretStr`: printed as ``**********`` in the settings every process
logs at start-up, readable only through ``get_secret_value()`` where a client is configured
(``fraudstream/kafka.py``). Each can also come from a file (``..._FILE``), for mounted secrets.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fraudstream.logs import LogFormat

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class TopicNames(BaseModel):
    """The topics of the data flow (see ARCHITECTURE.md, "Topics and contracts")."""

    model_config = ConfigDict(frozen=True)

    transactions: str = "transactions"
    labels: str = "labels"
    decisions: str = "decisions"
    dlq: str = "transactions.dlq"
    drift_reports: str = "drift.reports"

    def as_env(self) -> dict[str, str]:
        """The environment that makes a child process (worker, drift consumer) use these topics."""
        return {f"FRAUDSTREAM_TOPICS__{name.upper()}": value for name, value in self.model_dump().items()}


SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


def _read_secret(path: Path, what: str) -> SecretStr:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValueError(f"cannot read the {what} file {path}: {exc.strerror or exc}") from None
    return SecretStr(text.rstrip("\r\n"))


class KafkaSecurity(BaseModel):
    """How every Kafka client of the project authenticates and encrypts (librdkafka's and aiokafka's terms).

    ``SSL`` and ``SASL_SSL`` verify the brokers against ``ca_file`` (PEM; default: the system's
    trust store) and their host name; ``cert_file``/``key_file`` add a client certificate (mutual
    TLS). ``SASL_*`` log in as ``sasl_username`` with ``sasl_password`` (or the first line of
    ``sasl_password_file``) by PLAIN or SCRAM.

    >>> KafkaSecurity(protocol="SASL_SSL", sasl_username="app", sasl_password="s3cret")
    KafkaSecurity(protocol='SASL_SSL', ca_file=None, cert_file=None, key_file=None, key_password=None, \
check_hostname=True, sasl_mechanism='SCRAM-SHA-512', sasl_username='app', sasl_password=SecretStr('**********'))
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    protocol: SecurityProtocol = "PLAINTEXT"
    #: PEM file of the certificate authorities that sign the brokers' certificates
    ca_file: Path | None = None
    #: client certificate and its key (PEM), for brokers that require mutual TLS
    cert_file: Path | None = None
    key_file: Path | None = None
    key_password: SecretStr | None = None
    #: verify that a broker's certificate names the host connected to (turn off only for tests)
    check_hostname: bool = True
    sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None

    @model_validator(mode="before")
    @classmethod
    def _secrets_from_files(cls, data: Any) -> Any:
        """``sasl_password_file`` and ``key_password_file`` stand for the secret they hold."""
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        for name in ("sasl_password", "key_password"):
            path = data.pop(f"{name}_file", None)
            if path is None:
                continue
            if data.get(name) is not None:
                raise ValueError(f"give {name} or {name}_file, not both")
            data[name] = _read_secret(Path(path), name.replace("_", " "))
        return data

    @model_validator(mode="after")
    def _check(self) -> KafkaSecurity:
        sasl, tls = self.protocol.startswith("SASL_"), self.protocol.endswith("SSL")
        if sasl and (not self.sasl_username or self.sasl_password is None):
            raise ValueError(
                f"security protocol {self.protocol} needs sasl_username and sasl_password (or sasl_password_file)"
            )
        if not tls and (self.ca_file or self.cert_file or self.key_file):
            raise ValueError(
                f"ca_file, cert_file and key_file need an SSL protocol (SSL or SASL_SSL), not {self.protocol}"
            )
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (mutual TLS): give both or neither")
        for name in ("ca_file", "cert_file", "key_file"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ValueError(f"{name} {path} is not a file")
        return self

    @property
    def tls(self) -> bool:
        return self.protocol.endswith("SSL")

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    def client(self, bootstrap_servers: str) -> dict[str, Any]:
        """The librdkafka configuration of a client of ``bootstrap_servers`` with these settings."""
        return {"bootstrap.servers": bootstrap_servers, **self.librdkafka()}

    def librdkafka(self) -> dict[str, Any]:
        """These settings as librdkafka (confluent-kafka) configuration: holds the secrets in clear,
        so it is handed to a client and never logged.

        >>> KafkaSecurity().librdkafka()
        {'security.protocol': 'PLAINTEXT'}
        """
        config: dict[str, Any] = {"security.protocol": self.protocol}
        if self.tls:
            config["ssl.endpoint.identification.algorithm"] = "https" if self.check_hostname else "none"
            if self.ca_file is not None:
                config["ssl.ca.location"] = str(self.ca_file)
            if self.cert_file is not None and self.key_file is not None:
                config["ssl.certificate.location"] = str(self.cert_file)
                config["ssl.key.location"] = str(self.key_file)
            if self.key_password is not None:
                config["ssl.key.password"] = self.key_password.get_secret_value()
        if self.sasl:
            assert self.sasl_password is not None  # checked in _check
            config.update({
                "sasl.mechanism": self.sasl_mechanism,
                "sasl.username": self.sasl_username,
                "sasl.password": self.sasl_password.get_secret_value(),
            })  # fmt: skip
        return config


class FraudstreamSettings(BaseSettings):
    """Settings every process shares; printed at start-up with the secrets masked."""

    #: an empty variable counts as unset (compose passes ``${VAR:-}`` through as "")
    model_config = SettingsConfigDict(
        env_prefix="FRAUDSTREAM_", env_nested_delimiter="__", env_ignore_empty=True, frozen=True, extra="ignore"
    )

    bootstrap_servers: str = "127.0.0.1:9092"
    #: TLS and SASL for every client (``FRAUDSTREAM_SECURITY__PROTOCOL``, ``..._SASL_PASSWORD_FILE``, ...)
    security: KafkaSecurity = Field(default_factory=KafkaSecurity)
    topics: TopicNames = Field(default_factory=TopicNames)
    #: Where local state lives: the broker's data and logs, generated datasets, the model store.
    home: Path = PROJECT_ROOT / ".fraudstream"
    #: Model store URI (file://PATH or s3://bucket/prefix); default: file://$FRAUDSTREAM_HOME/models.
    model_store: str | None = None
    #: A Confluent-compatible schema registry's API (e.g. ``http://host:8081``, or Apicurio's
    #: ``.../apis/ccompat/v7``): every writer then frames values the Confluent way, registering its
    #: schema under ``<topic>-value``, and readers take both framings (``schemas/confluent.py``).
    schema_registry_url: str | None = None
    #: MLflow tracking server: training runs are logged and aliases mirrored there (optional extra).
    mlflow_tracking_uri: str | None = None
    #: Partitions for topics the project creates itself.
    partitions: int = Field(default=3, ge=1, le=1000)
    #: ``text`` for people, ``json`` (one object a line) for log collectors: see fraudstream/logs.py.
    log_format: LogFormat = "text"
    #: Level of every process but the worker, which has its own ``--log-level`` (Faust is chatty at info).
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    def client_config(self) -> dict[str, Any]:
        """The librdkafka configuration every client of these settings starts from (secrets in clear)."""
        return self.security.client(self.bootstrap_servers)


#: ``FRAUDSTREAM_*`` variables that are no setting but are read by the project's own test and
#: benchmark tooling
_TOOLING_PREFIXES = ("FRAUDSTREAM_TEST_", "FRAUDSTREAM_BENCH_", "FRAUDSTREAM_KEEP_TEST_")


def setting_variables() -> list[str]:
    """Every ``FRAUDSTREAM_*`` variable a setting is read from (nested models one level deep)."""
    names = []
    for field, info in FraudstreamSettings.model_fields.items():
        names.append(f"FRAUDSTREAM_{field.upper()}")
        model = info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            names += [f"FRAUDSTREAM_{field.upper()}__{sub.upper()}" for sub in model.model_fields]
    names += ["FRAUDSTREAM_SECURITY__SASL_PASSWORD_FILE", "FRAUDSTREAM_SECURITY__KEY_PASSWORD_FILE"]
    return names


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """The ``FRAUDSTREAM_*`` variables in ``environ`` that no setting reads, each with a guess.

    >>> unknown_variables({"FRAUDSTREAM_SECURITY_PROTOCOL": "SSL", "FRAUDSTREAM_HOME": "/tmp", "PATH": "/bin"})
    ['FRAUDSTREAM_SECURITY_PROTOCOL (did you mean FRAUDSTREAM_SECURITY__PROTOCOL?)']
    """
    known = setting_variables()
    unknown = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith("FRAUDSTREAM_") or upper in known or upper.startswith(_TOOLING_PREFIXES):
            continue
        guess = difflib.get_close_matches(upper, known, n=1, cutoff=0.8)
        unknown.append(f"{name} (did you mean {guess[0]}?)" if guess else name)
    return unknown
