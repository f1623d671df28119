"""Card numbers are found alone or inside ids, and masked to their last four digits, length kept."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from fraudstream.pan import contains_pan, luhn_valid, mask_pan, mask_pan_bytes


def luhn_number(rng: random.Random, length: int) -> str:
    body = "".join(rng.choice("0123456789") for _ in range(length - 1))
    check = next(d for d in "0123456789" if luhn_valid(body + d))
    return body + check


def test_a_luhn_valid_number_of_13_to_19_digits_is_found_alone_inside_an_id_and_with_separators() -> None:
    rng = random.Random(7)
    for length in range(13, 20):
        pan = luhn_number(rng, length)
        grouped = " ".join(pan[i : i + 4] for i in range(0, length, 4))
        for value in (pan, f"tx-{pan}", f"{pan}_term", f"a{grouped}b", pan.replace(pan[4], pan[4], 1)):
            assert contains_pan(value), value
        assert not contains_pan(pan[:-1] + str((int(pan[-1]) + 1) % 10))  # the check digit is wrong


def test_digit_runs_too_short_or_too_long_to_be_card_numbers_pass() -> None:
    rng = random.Random(8)
    assert not contains_pan(luhn_number(rng, 12))
    assert not any(contains_pan(luhn_number(rng, 20 + i)) for i in range(20))  # e.g. time + sequence ids
    assert not contains_pan("card_000123")


@given(st.text(alphabet="0123456789 -abc", max_size=60))
def test_masking_leaves_no_card_number_and_keeps_the_length(text: str) -> None:
    masked = mask_pan(text)
    assert len(masked) == len(text)
    assert not contains_pan(masked)
    in_bytes = mask_pan_bytes(text.encode())
    assert len(in_bytes) == len(text)
    assert not contains_pan(in_bytes.decode())


def test_masking_keeps_the_last_four_digits_and_what_is_no_card_number() -> None:
    assert mask_pan("x 4111 1111 1111 1111 y 12345") == "x **** **** **** 1111 y 12345"
    assert mask_pan_bytes(b"\x00\xff4111111111111111\x01") == b"\x00\xff************1111\x01"


def test_a_card_number_glued_to_another_digit_is_still_masked() -> None:
    # an Avro string of 25 characters starts with the length byte "2": glued to the number
    pan = "4111111111111111"
    assert not contains_pan("2" + pan)  # not an identifier holding a card number
    assert pan[:12].encode() not in mask_pan_bytes(b"\x002" + pan.encode() + b"_x")
    assert mask_pan_bytes(b"1" * 25) == b"*" * 21 + b"1111"  # a longer run: always masked
