"""Log output of every fraudstream process: text for people, one JSON object a line in production.

``FRAUDSTREAM_LOG_FORMAT=json`` (or ``--log-format json``; docker-compose sets it) makes each
record one line such as::

    {"ts": "2026-11-22T06:01:02.345Z", "level": "warning", "logger": "fraudstream.worker",
     "message": "dead-lettered: bad_amount", "topic": "transactions", "partition": 2, "offset": 1881}

Context goes in ``extra=`` (``log.warning("...", extra={"topic": t, "partition": p, "offset": o})``)
and becomes top-level keys. Whatever the format, digit runs that look like a payment card number
are masked to their last four digits before anything is written (``fraudstream/pan.py``): the
pipeline only carries tokenised ids and never logs them, and this guards against a PAN arriving
in an error message (a bad event's text, an exception) all the same.

The Kafka client libraries log every failed connection attempt, many a second while a broker is
away (aiokafka's loggers, and librdkafka's, routed to ``fraudstream.kafka.client`` by
``fraudstream/kafka.py``): :class:`ThrottleClientLogs` lets one of their lines through per
:data:`CLIENT_LOG_INTERVAL` and says how many it held back, so an outage reads as one line per
interval while the clients retry.

The worker hands :func:`logging_config` to Faust's worker (which otherwise installs its own
coloured handler); the other processes call :func:`configure_logging`.
"""

from __future__ import annotations

import logging
import logging.config
import threading
import time
from collections.abc import Callable
from typing import Any, Literal, get_args

import orjson

from fraudstream.pan import mask_pan

LogFormat = Literal["text", "json"]

#: Attributes every LogRecord has; anything else came from ``extra=`` and is logged as a field.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RedactCardNumbers(logging.Filter):
    """Masks card-number-like digit runs in the message (arguments merged in) and in extras."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_pan(message)
        if masked != message:
            record.msg, record.args = masked, None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, mask_pan(value))
        return True


#: the loggers of the Kafka client libraries (librdkafka's is named in ``fraudstream/kafka.py``)
CLIENT_LOGGERS = ("aiokafka", "faust.transport", "fraudstream.kafka.client")
#: at most one Kafka client line this often
CLIENT_LOG_INTERVAL = 10.0


class ThrottleClientLogs(logging.Filter):
    """One line of the Kafka client loggers per ``interval``; the next one says how many were held back."""

    def __init__(self, interval: float = CLIENT_LOG_INTERVAL, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval, self.clock = interval, clock
        self._lock = threading.Lock()  # librdkafka's lines come from whichever thread polls
        self._last: float | None = None
        self._held = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(CLIENT_LOGGERS):
            return True
        with self._lock:
            now = self.clock()
            if self._last is not None and now - self._last < self.interval:
                self._held += 1
                return False
            if self._held and self._last is not None:
                record.msg = (f"{record.getMessage()} ({self._held} more Kafka client lines held back in the "
                              f"last {now - self._last:.0f} s)")  # fmt: skip
                record.args = None
            self._last, self._held = now, 0
        return True


class TextFormatter(logging.Formatter):
    """The standard text line; tracebacks masked too (the filter sees only the message)."""

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        return mask_pan(super().formatException(ei))


class JsonLineFormatter(logging.Formatter):
    """One JSON object per record: ts (UTC, ms), level, logger, message, extras, error."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in line:
                line[key] = value
        if record.exc_info:
            line["error"] = mask_pan(self.formatException(record.exc_info))
        return orjson.dumps(line, default=str).decode()


def logging_config(fmt: LogFormat, level: str | int = "INFO") -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` for ``fmt``: one stderr handler on the root logger."""
    if fmt not in get_args(LogFormat):
        raise ValueError(f"unknown log format {fmt!r}; use 'text' or 'json'")
    level = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    formatter: dict[str, Any] = (
        {"()": JsonLineFormatter}
        if fmt == "json"
        else {"()": TextFormatter, "format": TEXT_FORMAT, "datefmt": "%Y-%m-%dT%H:%M:%S"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": RedactCardNumbers}, "throttle": {"()": ThrottleClientLogs}},
        "formatters": {"default": formatter},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "default",
                "filters": ["throttle", "redact"],
                "level": level,
            }
        },
        "root": {"level": level, "handlers": ["default"]},
    }


def configure_logging(fmt: LogFormat, level: str | int = "INFO") -> None:
    logging.config.dictConfig(logging_config(fmt, level))
