"""Configuration shared by every fraudstream process: where Kafka is and what the topics are called.

Each process reads one pydantic-settings model from environment variables with the prefix
``FRAUDSTREAM_`` (nested fields with ``__``, e.g. ``FRAUDSTREAM_TOPICS__TRANSACTIONS``) and lets CLI
flags override them. Topic names live here and nowhere else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
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


class FraudstreamSettings(BaseSettings):
    """Settings every process shares; printed at start-up by the CLI (no secrets live here yet)."""

    model_config = SettingsConfigDict(env_prefix="FRAUDSTREAM_", env_nested_delimiter="__", frozen=True, extra="ignore")

    bootstrap_servers: str = "127.0.0.1:9092"
    topics: TopicNames = Field(default_factory=TopicNames)
    #: Where local state lives: the broker's data and logs, generated datasets, the model store.
    home: Path = PROJECT_ROOT / ".fraudstream"
    #: Model store URI (file://PATH or s3://bucket/prefix); default: file://$FRAUDSTREAM_HOME/models.
    model_store: str | None = None
    #: Partitions for topics the project creates itself.
    partitions: int = Field(default=3, ge=1, le=1000)
    #: ``text`` for people, ``json`` (one object a line) for log collectors: see fraudstream/logs.py.
    log_format: LogFormat = "text"
    #: Level of every process but the worker, which has its own ``--log-level`` (Faust is chatty at info).
    log_level: Literal["debug", "info", "warning", "error"] = "info"
