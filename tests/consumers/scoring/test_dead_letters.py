"""A dead-letter copy keeps the record (tombstones and headers too), never a card number, and always fits."""

from __future__ import annotations

import hashlib

from consumers.scoring.dead_letters import MAX_COPY_BYTES, dead_letter_copy
from consumers.scoring.processor import ScoringProcessor
from consumers.scoring.records import InputEvent
from consumers.scoring.state_store import TableState
from fraudstream.pan import contains_pan
from schemas.codec import AvroCodec
from tests.consumers.scoring.test_processor import TX, event, tx_record

PAN = "4539578763621486"


def _size(message) -> int:
    return len(message.key or b"") + len(message.value or b"") + sum(len(n) + len(v) for n, v in message.headers)


def test_a_tombstone_stays_a_null_value_and_the_original_headers_come_first() -> None:
    original = [("trace_id", b"abc"), ("error_type", b"theirs")]
    copy = dead_letter_copy(InputEvent("tx", 2, 7, b"card_a", None, 5, original), "empty", "a tombstone")
    assert copy.value is None
    assert copy.key == b"card_a"
    assert list(copy.headers[:2]) == original
    assert dict(copy.headers)["error_type"] == b"empty"  # ours last: a dict of them reads ours
    assert dict(copy.headers)["source_offset"] == b"7"


def test_an_oversized_value_is_cut_to_a_producible_copy_with_its_size_and_digest() -> None:
    value = bytes(range(256)) * 8192  # 2 MiB
    copy = dead_letter_copy(InputEvent("tx", 0, 1, b"k" * 5000, value, 5, [("h", b"v" * 100)]), "bad_marker", "x")
    headers = dict(copy.headers)
    assert _size(copy) <= MAX_COPY_BYTES
    assert value.startswith(copy.value)
    assert headers["truncated"] == b"value"
    assert headers["original_size"] == str(len(value)).encode()
    assert headers["original_sha256"] == hashlib.sha256(value).hexdigest().encode()
    assert headers["original_key_size"] == b"5000"


def test_a_card_number_anywhere_in_the_record_is_masked_in_the_copy_and_the_value_still_decodes() -> None:
    value = TX.encode(tx_record(1, transaction_id=f"tx-{PAN}"))
    copy = dead_letter_copy(
        InputEvent("tx", 0, 1, PAN.encode(), value, 5, [("ref", f"pan={PAN}".encode())]), "key_mismatch",
        f"record key {PAN.encode()!r} is not the card_id",
    )  # fmt: skip
    assert len(copy.value) == len(value)
    assert dict(copy.headers)["masked"] == b"pan"
    for part in (copy.key, copy.value, *(v for _, v in copy.headers)):
        assert PAN.encode() not in part
        assert not contains_pan(part.decode("latin-1"))
    assert AvroCodec.for_record("Transaction").decode(copy.value)["transaction_id"] == "tx-************1486"


def test_a_card_number_in_any_id_is_dead_lettered_as_such_and_never_decided_or_stored(tiny_model) -> None:
    from tests.consumers.scoring.fakes import StaticModels
    from tests.consumers.scoring.test_processor import T0, TOPICS

    processor = ScoringProcessor(TOPICS, StaticModels(tiny_model), partitions=3, clock=lambda: T0.timestamp() + 86_400)
    bad = [tx_record(1, transaction_id=f"t{PAN}"), tx_record(2, terminal=f"T {PAN[:4]} {PAN[4:8]} {PAN[8:]}")]
    events = [event(TX.encode(tx_record(0)), b"card_a", 0)]
    events += [event(TX.encode(r), b"card_a", i + 1) for i, r in enumerate(bad)]
    result = processor.process(events, TableState.in_memory())
    assert result.dead_letter_reasons == ["card_number", "card_number"]
    assert len(result.decisions) == 1
    written = b"".join(w.key + w.value for w in result.state_writes)
    assert PAN[-8:].encode() not in written
    for letter in result.dead_letters:
        message = dict(letter.headers)["error_message"].decode()
        assert "card number" in message
        assert not contains_pan(letter.value.decode("latin-1"))
