"""Log output: JSON lines with context fields in production mode, and no card numbers in any mode."""

from __future__ import annotations

import io
import json
import logging
import logging.config

import pytest

from fraudstream.logs import configure_logging, logging_config
from fraudstream.pan import mask_pan


@pytest.fixture
def capture():
    """Configure logging for a format and return the text written to stderr so far."""
    stream = io.StringIO()
    saved = logging.root.handlers[:], logging.root.level

    def configure(fmt: str) -> io.StringIO:
        configure_logging(fmt, "info")  # type: ignore[arg-type]
        (handler,) = logging.root.handlers
        handler.setStream(stream)  # type: ignore[attr-defined]  # the configured stderr handler
        return stream

    yield configure
    logging.root.handlers[:], level = saved
    logging.root.setLevel(level)


def test_json_format_writes_one_object_a_line_with_extras_as_fields(capture) -> None:
    stream = capture("json")
    log = logging.getLogger("fraudstream.worker")
    log.warning("dead-lettered: %s", "invalid", extra={"topic": "transactions", "partition": 2, "offset": 1881})
    log.info("second\nline of one message")
    log.debug("below the level")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    first, second = map(json.loads, lines)
    assert first["message"] == "dead-lettered: invalid"
    assert (first["level"], first["logger"]) == ("warning", "fraudstream.worker")
    assert (first["topic"], first["partition"], first["offset"]) == ("transactions", 2, 1881)
    assert first["ts"].endswith("Z")
    assert len(first["ts"]) == len("2026-11-22T06:01:02.345Z")
    assert second["message"] == "second\nline of one message"


def test_exceptions_are_one_field_of_the_same_line(capture) -> None:
    stream = capture("json")
    try:
        raise RuntimeError("model store unreachable")
    except RuntimeError:
        logging.getLogger("x").exception("reload failed")
    (line,) = stream.getvalue().splitlines()
    record = json.loads(line)
    assert record["message"] == "reload failed"
    assert "RuntimeError: model store unreachable" in record["error"]


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_card_numbers_are_masked_in_messages_arguments_extras_and_errors(capture, fmt: str) -> None:
    stream = capture(fmt)
    log = logging.getLogger("fraudstream.worker")
    log.warning("pan 4111111111111111 in the message")
    log.warning("pan %s as an argument", "5500-0000-0000-0004")
    log.warning("pan in an extra", extra={"error": "bad value '4000 0566 5566 5556'"})
    try:
        raise ValueError("amount for card 378282246310005 is NaN")
    except ValueError:
        log.exception("failed")
    text = stream.getvalue()
    for pan in ("4111111111111111", "5500-0000-0000-0004", "4000 0566 5566 5556", "378282246310005"):
        assert pan not in text
    for pan in ("4111111111111111", "5500-0000-0000-0004", "378282246310005") + (
        ("4000 0566 5566 5556",) if fmt == "json" else ()  # text omits extras
    ):
        assert mask_pan(pan) in text


def test_masking_leaves_tokens_ids_offsets_and_timestamps_alone() -> None:
    for text in ("card_0004231", "offset 123456789012", "ts 1763791262345", "2026-11-22T06:01:02.345Z", "tx-00012",
                 "4111111111111112"):  # fmt: skip  # the last one fails the Luhn check
        assert mask_pan(text) == text
    assert mask_pan("4111 1111 1111 1111") == "**** **** **** 1111"


def test_an_unknown_format_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match=r"'yaml'.*'text' or 'json'"):
        logging_config("yaml")  # type: ignore[arg-type]


def test_the_worker_config_is_a_dictconfig_faust_can_apply(capture) -> None:
    stream = capture("text")
    logging.config.dictConfig(logging_config("json", "warning"))  # what Faust's worker is handed
    logging.root.handlers[0].setStream(stream)  # type: ignore[attr-defined]
    logging.getLogger("faust").info("hidden at warning")
    logging.getLogger("faust").warning("shown")
    assert [json.loads(line)["message"] for line in stream.getvalue().splitlines()] == ["shown"]


def test_kafka_client_lines_pass_one_per_interval_and_say_how_many_were_held_back() -> None:
    from fraudstream.logs import ThrottleClientLogs

    now = [0.0]
    throttle = ThrottleClientLogs(interval=10.0, clock=lambda: now[0])

    def line(name: str, message: str) -> logging.LogRecord:
        return logging.LogRecord(name, logging.ERROR, __file__, 1, message, None, None)

    passed = []
    for second in range(25):
        now[0] = float(second)
        for name in ("aiokafka", "aiokafka.consumer.fetcher", "fraudstream.kafka.client"):
            record = line(name, f"connect failed at {second}")
            if throttle.filter(record):
                passed.append(record.getMessage())
        assert throttle.filter(line("fraudstream.worker", "ours")), "the project's own lines always pass"
    assert passed == [
        "connect failed at 0",
        "connect failed at 10 (29 more Kafka client lines held back in the last 10 s)",
        "connect failed at 20 (29 more Kafka client lines held back in the last 10 s)",
    ]
