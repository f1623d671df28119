"""What every command shares: the settings (environment, then flags), and flags that pass only when given.

Defaults live in the configuration models (``WorkerConfig``, ``DriftConfig``, ``TrainConfig``, ...)
and nowhere else: every flag defaults to None, :func:`given` passes on the ones the user set, and
:func:`default_help` shows the model's default in ``--help``. ``tests/cli/test_options.py`` fails on
a flag that carries a default of its own.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from fraudstream.settings import FraudstreamSettings

__all__ = ["default_help", "given", "kafka_from", "settings_from", "store_help", "store_uri"]

#: how long a command waits for the cluster to answer before it says so and exits
CONNECT_TIMEOUT = 8.0

store_help = "model store URI: file://PATH or s3://bucket/prefix (env FRAUDSTREAM_MODEL_STORE)"


def settings_from(args: argparse.Namespace) -> FraudstreamSettings:
    """The shared settings: ``FRAUDSTREAM_*`` variables, overridden by the global flags."""
    overrides: dict[str, Any] = {}
    if getattr(args, "bootstrap_servers", None):
        overrides["bootstrap_servers"] = args.bootstrap_servers
    if getattr(args, "log_format", None):
        overrides["log_format"] = args.log_format
    return FraudstreamSettings(**overrides)


def kafka_from(settings: FraudstreamSettings, timeout: float = CONNECT_TIMEOUT) -> dict[str, Any]:
    """The Kafka client configuration of ``settings``, once a broker answered with it.

    Raises :class:`~fraudstream.kafka.KafkaUnavailableError` (one line: the address, the cause, what to
    check) within about ``timeout``; the CLI prints it and exits non-zero.
    """
    from fraudstream.kafka import check_connection

    config = settings.client_config()
    check_connection(config, timeout)
    return config


def store_uri(args: argparse.Namespace, settings: FraudstreamSettings) -> str:
    return str(getattr(args, "store", None) or settings.model_store or f"file://{settings.home / 'models'}")


def given(args: argparse.Namespace, names: Iterable[str], rename: dict[str, str] | None = None) -> dict[str, Any]:
    """The flags among ``names`` that the user gave (not None), keyed by config field (``rename``).

    >>> flags = argparse.Namespace(batch_size=10, batch_wait=None, state_store="memory://")
    >>> given(flags, ["batch_size", "batch_wait", "state_store"], {"state_store": "store"})
    {'batch_size': 10, 'store': 'memory://'}
    """
    rename = rename or {}
    return {rename.get(name, name): getattr(args, name) for name in names if getattr(args, name, None) is not None}


def default_help(text: str, model: type[BaseModel], field: str) -> str:
    """``text`` with the model's default for ``field``, for ``--help``."""
    default = model.model_fields[field].get_default(call_default_factory=True)
    return f"{text} (default: {default})"
