"""``fraudstream``: the one command-line entry point, with a subcommand per job.

The shell on top of every layer: nothing imports it. Each command group lives in its own module
(``kafka_commands``, ``data_commands``, ``model_commands``, ``stream_commands``,
``state_commands``, ``demo_command``) and
registers its subcommands here.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import os
import sys
from collections.abc import Sequence
from typing import get_args

from cli import (
    data_commands,
    demo_command,
    kafka_commands,
    model_commands,
    state_commands,
    status_command,
    stream_commands,
)
from cli.options import settings_from
from fraudstream.errors import FraudstreamError
from fraudstream.logs import LogFormat, configure_logging
from fraudstream.settings import unknown_variables

__all__ = ["build_parser", "main"]

DESCRIPTION = "Real-time card-fraud scoring on Kafka: data, models, stream processes and the local broker."
EPILOG = """Settings come from FRAUDSTREAM_* environment variables (FRAUDSTREAM_BOOTSTRAP_SERVERS,
FRAUDSTREAM_HOME, FRAUDSTREAM_MODEL_STORE, FRAUDSTREAM_TOPICS__DECISIONS, ...) and the flags;
`fraudstream COMMAND --help` shows each command's flags and their defaults. A secured cluster:
FRAUDSTREAM_SECURITY__PROTOCOL (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL), ..._CA_FILE,
..._CERT_FILE, ..._KEY_FILE, ..._SASL_MECHANISM (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512),
..._SASL_USERNAME, ..._SASL_PASSWORD or ..._SASL_PASSWORD_FILE (README, "Secured clusters")."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fraudstream", description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bootstrap-servers", help="Kafka bootstrap servers (env FRAUDSTREAM_BOOTSTRAP_SERVERS)")
    parser.add_argument(
        "--log-format", choices=get_args(LogFormat), help="text, or one JSON object a line (env FRAUDSTREAM_LOG_FORMAT)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (kafka_commands, data_commands, model_commands, stream_commands, state_commands, demo_command,
                  status_command):  # fmt: skip
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    unknown = unknown_variables(os.environ)
    if unknown:  # a misspelt setting would otherwise be ignored: say so before anything connects
        print(f"error: not fraudstream settings: {', '.join(unknown)}", file=sys.stderr)
        return 2
    try:
        settings = settings_from(args)
    except ValueError as exc:  # a bad FRAUDSTREAM_* variable: pydantic names it and the value
        print(f"error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_format, settings.log_level)
    # a crash in a native library (librdkafka, RocksDB, XGBoost) prints every thread's Python stack
    # to stderr, which the process's log keeps, instead of a bare "exited -11"
    with contextlib.suppress(ValueError, OSError):  # a stderr with no file behind it (called in-process)
        faulthandler.enable()
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except (FraudstreamError, ValueError, OSError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    raise SystemExit(main())
