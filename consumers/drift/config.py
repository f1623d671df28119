"""The drift consumer's configuration: frozen, validated, the only home of its defaults.

Imports nothing heavy, so the CLI can build its help and settings without loading the consumer.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from features.definitions import CALENDAR_FEATURES as DRIFT_CALENDAR_FEATURES
from fraudstream.settings import KafkaSecurity

__all__ = ["CALENDAR_FEATURES", "DriftConfig", "DriftThresholds"]

#: reported, but not in the window status (``features/definitions.py`` says why)
CALENDAR_FEATURES = DRIFT_CALENDAR_FEATURES


class DriftThresholds(BaseModel):
    """When a feature's window is WARN or ALERT (configuration, ARCHITECTURE.md "Drift")."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    psi_warn: float = 0.1
    psi_alert: float = 0.25
    #: a KS statistic at or above this, with a p-value below ``ks_alpha``, is a WARN
    ks_threshold: float = Field(default=0.1, gt=0, le=1)
    ks_alpha: float = Field(default=0.001, gt=0, lt=1)
    not_in_status: frozenset[str] = CALENDAR_FEATURES

    @model_validator(mode="after")
    def _check(self) -> DriftThresholds:
        if not 0 < self.psi_warn <= self.psi_alert:
            raise ValueError(f"need 0 < psi_warn <= psi_alert, got {self.psi_warn}, {self.psi_alert}")
        return self


class DriftConfig(BaseModel):
    """The drift consumer's configuration; every duration in seconds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bootstrap_servers: str
    security: KafkaSecurity = Field(default_factory=KafkaSecurity)
    decisions_topic: str
    reports_topic: str
    #: Confluent framing through this schema registry (None: single-object); decisions decode either way
    schema_registry_url: str | None = None
    model_store: str
    group_id: str = Field(default="fraudstream-drift", min_length=1)
    #: tumbling window size in event time (None: windows bounded by ``window_events`` only)
    window: float | None = Field(default=3600.0, gt=0)
    #: how long past its end (in event time) a window waits for late decisions
    grace: float = Field(default=600.0, ge=0)
    #: close a window once it holds this many decisions (None: time only)
    window_events: int | None = Field(default=None, ge=1)
    thresholds: DriftThresholds = Field(default_factory=DriftThresholds)
    #: end of stream: close every open window when nothing arrived for this long (None: never)
    close_idle_after: float | None = Field(default=None, gt=0)
    #: stop when idle for this long after closing (tests, demo, benchmarks); None runs forever
    stop_idle_after: float | None = Field(default=None, ge=0)
