"""Card numbers (PANs) in identifiers and bytes: found, and masked, before anything is written.

A PAN here is a run of 13 to 19 digits (single spaces or dashes allowed between digits) that
passes the Luhn check and has no further digit on either side: alone (``4111111111111111``) or
inside a longer id (``tx-4111 1111 1111 1111-a``). A longer run of digits is not a card number
(none has more than 19 digits), so numeric ids such as timestamps with sequence numbers pass,
while a PAN glued to other digits is indistinguishable from one and is not looked for.

The worker dead-letters a record whose key or ids hold one (``consumers/scoring/processor.py``),
and :func:`mask_pan_bytes` masks what the dead-letter copy keeps (the key, the value's bytes, the
original headers, the error message), keeping the last four digits and the length, so a masked
Avro value still decodes. In bytes masking errs the other way: bytes that are no text can glue a
digit to a card number (an Avro string's length byte can be an ASCII digit), so there a run is
masked when any 13 to 19 of its consecutive digits pass the Luhn check, and a run of more than 19
digits always; in text (:func:`mask_pan`: log lines, error messages) only a card number is.

>>> contains_pan("tx-4111111111111111-a"), contains_pan("tx-4111111111111112"), contains_pan("202612011234567890123")
(True, False, False)
>>> mask_pan("key 4111-1111-1111-1111!")
'key ****-****-****-1111!'
"""

from __future__ import annotations

import re

__all__ = ["contains_pan", "fullmatch_pan", "luhn_valid", "mask_pan", "mask_pan_bytes", "may_hold_pan"]

#: a maximal run of digits, single spaces or dashes between them
_RUN = r"(?<![0-9])[0-9](?:[ -]?[0-9])*(?![0-9])"
_TEXT_RUN = re.compile(_RUN)
_BYTES_RUN = re.compile(_RUN.encode())
_MIN_DIGITS, _MAX_DIGITS, _KEEP = 13, 19, 4
#: a digit and twelve more digits, spaces or dashes: what every card number has, found by one
#: search without backtracking (ids without one are cleared fast; the rest are checked in full)
_LONG_ENOUGH = re.compile(r"[0-9][0-9 -]{12,}")


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check of a string of digits."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        if index % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _is_pan(run: str) -> bool:
    digits = run.replace(" ", "").replace("-", "")
    return _MIN_DIGITS <= len(digits) <= _MAX_DIGITS and luhn_valid(digits)


def may_hold_pan(text: str) -> bool:
    """False when ``text`` certainly holds no card number (one fast search: for several ids at
    once, join them with a character that is no digit, space or dash)."""
    return _LONG_ENOUGH.search(text) is not None


def fullmatch_pan(value: str) -> bool:
    """True when the whole of ``value`` is one card number."""
    match = _TEXT_RUN.fullmatch(value)
    return match is not None and _is_pan(value)


def contains_pan(value: str) -> bool:
    """True when ``value`` holds a card number anywhere (see the module docstring)."""
    if _LONG_ENOUGH.search(value) is None:  # almost every id: checked on the worker's hot path
        return False
    return any(_is_pan(match.group()) for match in _TEXT_RUN.finditer(value))


def _maskable(run: str) -> bool:
    digits = run.replace(" ", "").replace("-", "")
    n = len(digits)
    if n < _MIN_DIGITS:
        return False
    if n > _MAX_DIGITS:
        return True
    return any(luhn_valid(digits[start : start + length]) for length in range(_MIN_DIGITS, n + 1)
               for start in range(n - length + 1))  # fmt: skip


def _masked(run: str) -> str:
    keep_from = len(run)
    seen = 0
    while seen < _KEEP:  # the index of the fourth digit from the end
        keep_from -= 1
        seen += run[keep_from].isdigit()
    return "".join("*" if char.isdigit() else char for char in run[:keep_from]) + run[keep_from:]


def mask_pan(text: str) -> str:
    """``text`` with every card number's digits but the last four replaced by ``*`` (same length)."""
    return _TEXT_RUN.sub(lambda m: _masked(m.group()) if _is_pan(m.group()) else m.group(), text)


def mask_pan_bytes(data: bytes) -> bytes:
    """The ASCII digit runs of ``data`` that hold or may hold a card number masked (see the module
    docstring); every other byte, and the length, unchanged."""
    if len(data) < _MIN_DIGITS:
        return data

    def replace(match: re.Match[bytes]) -> bytes:
        run = match.group().decode("ascii")
        return _masked(run).encode("ascii") if _maskable(run) else match.group()

    return _BYTES_RUN.sub(replace, data)
