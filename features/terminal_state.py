"""Per-terminal state and the delayed terminal risk features (semantics in ``definitions.py``).

State is bounded whatever the terminal's volume: transaction counts per UTC day (only the days a
window can still reach), the fraud labels of those days (transaction id -> event day and
``reported_at``), and the ids of the last ``terminal_dedup_days`` days' transactions so a replayed
transaction is not counted twice. Labels are keyed by transaction id, so applying one twice is a
no-op; the earliest ``reported_at`` wins.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from functools import lru_cache

import orjson

from features.definitions import DAY_MS, FeatureConfig
from features.state_codec import pack_ints, pack_strings, unpack_ints, unpack_strings

#: binary form: tag, newest day (or _NO_DAY), days, recent ids, bytes of the joined recent ids;
#: then days, their counts and the recent ids' days as int64, the joined ids, labels and offsets
_HEADER = struct.Struct("<BqIII")
_TAG = 2
_TAG_BYTE = bytes([_TAG])
_NO_DAY = -(2**63)


@dataclass
class TerminalState:
    day_counts: dict[int, int] = field(default_factory=dict)
    #: transaction id -> (event day, reported_at ms) of fraud labels
    frauds: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: transaction id -> event day, for the newest days only (duplicate detection)
    recent_ids: dict[str, int] = field(default_factory=dict)
    newest_day: int | None = None
    #: last source offset applied, per source topic (the stream worker's replay guard)
    offsets: dict[str, int] = field(default_factory=dict)
    #: memo of the per-window transaction counts for one query day (not state: never serialised).
    #: The windows of day D cover days before D only, so it stays valid until a transaction of an
    #: earlier day arrives or days expire.
    _counts_memo: tuple[int, FeatureConfig, list[int]] | None = field(default=None, compare=False, repr=False)

    def to_bytes(self) -> bytes:
        """The changelog value (``features/state_codec.py``); deterministic for equal states."""
        recent = sorted(self.recent_ids.items())
        recent_ids = pack_strings([tx for tx, _ in recent])
        if recent_ids is None:
            return self.to_json()
        days = sorted(self.day_counts.items())
        numbers = pack_ints([d for d, _ in days] + [c for _, c in days] + [d for _, d in recent])
        newest = _NO_DAY if self.newest_day is None else self.newest_day
        header = _HEADER.pack(_TAG, newest, len(days), len(recent), len(recent_ids))
        tail = orjson.dumps(
            [sorted([tx, day, rep] for tx, (day, rep) in self.frauds.items()), self.offsets],
            option=orjson.OPT_SORT_KEYS,
        )
        return b"".join((header, numbers, recent_ids, tail))

    @classmethod
    def from_bytes(cls, data: bytes) -> TerminalState:
        """Read :meth:`to_bytes` output, or the JSON of earlier versions."""
        if data[:1] != _TAG_BYTE:
            return cls.from_json(data)
        _, newest, n_days, n_recent, ids_size = _HEADER.unpack_from(data)
        view = memoryview(data)
        at = _HEADER.size
        numbers = unpack_ints(view[at : at + 8 * (2 * n_days + n_recent)])
        at += 8 * (2 * n_days + n_recent)
        recent_ids = unpack_strings(view[at : at + ids_size], n_recent)
        frauds, offsets = orjson.loads(view[at + ids_size :])
        return cls(
            dict(zip(numbers[:n_days], numbers[n_days : 2 * n_days], strict=True)),
            {tx: (day, rep) for tx, day, rep in frauds},
            dict(zip(recent_ids, numbers[2 * n_days :], strict=True)),
            None if newest == _NO_DAY else newest,
            offsets,
        )

    def to_json(self) -> bytes:
        """Compact UTF-8 JSON (the changelog value before the binary form; still its fallback)."""
        return orjson.dumps(
            {
                "d": sorted([day, count] for day, count in self.day_counts.items()),
                "f": sorted([tx, day, rep] for tx, (day, rep) in self.frauds.items()),
                "r": sorted([tx, day] for tx, day in self.recent_ids.items()),
                "n": self.newest_day,
                "o": self.offsets,
            },
            option=orjson.OPT_SORT_KEYS,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> TerminalState:
        raw = orjson.loads(text)
        return cls(
            {int(day): int(count) for day, count in raw["d"]},
            {tx: (int(day), int(rep)) for tx, day, rep in raw["f"]},
            {tx: int(day) for tx, day in raw["r"]},
            raw["n"],
            {str(k): int(v) for k, v in raw.get("o", {}).items()},
        )

    def apply_transaction(self, transaction_id: str, ts_ms: int, config: FeatureConfig) -> bool:
        """Count a transaction on its UTC day; False if it is a recent duplicate or too old to matter."""
        day = ts_ms // DAY_MS
        if transaction_id in self.recent_ids:
            return False
        if self.newest_day is not None and day < self.newest_day - config.terminal_retention_days:
            return False
        self.day_counts[day] = self.day_counts.get(day, 0) + 1
        if self._counts_memo is not None and day < self._counts_memo[0]:
            self._counts_memo = None
        if self.newest_day is None or day >= self.newest_day - config.terminal_dedup_days + 1:
            self.recent_ids[transaction_id] = day
        if self.newest_day is None or day > self.newest_day:
            self.newest_day = day
            self._expire(config)
        return True

    def apply_label(self, transaction_id: str, event_ts_ms: int, reported_at_ms: int, is_fraud: bool,
                    config: FeatureConfig) -> bool:  # fmt: skip
        """Record a fraud label; cleared labels (``is_fraud`` false) are not used by the features."""
        if not is_fraud:
            return False
        day = event_ts_ms // DAY_MS
        known = self.frauds.get(transaction_id)
        if known is not None and known[1] <= reported_at_ms:
            return False
        if self.newest_day is not None and day < self.newest_day - config.terminal_retention_days:
            return False
        self.frauds[transaction_id] = (day, reported_at_ms)
        if len(self.frauds) > config.max_terminal_frauds:
            oldest = min(self.frauds, key=lambda tx: self.frauds[tx])
            del self.frauds[oldest]
        return True

    def _expire(self, config: FeatureConfig) -> None:
        assert self.newest_day is not None
        keep_from = self.newest_day - config.terminal_retention_days
        # runs whenever the newest day moves, for most transactions: look before building lists
        if min(self.day_counts) < keep_from:
            for day in [d for d in self.day_counts if d < keep_from]:
                del self.day_counts[day]
            self._counts_memo = None
        if self.frauds:
            for tx in [t for t, (d, _) in self.frauds.items() if d < keep_from]:
                del self.frauds[tx]
        dedup_from = self.newest_day - config.terminal_dedup_days + 1
        if self.recent_ids and min(self.recent_ids.values()) < dedup_from:
            for tx in [t for t, d in self.recent_ids.items() if d < dedup_from]:
                del self.recent_ids[tx]

    def features(self, ts_ms: int, config: FeatureConfig) -> list[float]:
        """(count, risk) per delayed window, then per recent window, in definition order."""
        return terminal_features([self], ts_ms, config)

    def window_counts(self, ts_ms: int, config: FeatureConfig) -> list[tuple[int, int]]:
        """(transactions, frauds known at ``ts_ms``: reported before it minus the label lag) per window."""
        day = ts_ms // DAY_MS
        spans = _windows(day, config)
        memo = self._counts_memo
        if memo is not None and memo[0] == day and memo[1] is config:
            totals = memo[2]
        else:
            # one pass over the kept days (a few dozen at most), not over every day of every window
            totals = [0] * len(spans)
            first, last = min(s for s, _ in spans), max(e for _, e in spans)
            for d, count in self.day_counts.items():
                if first <= d < last:
                    for i, (start, end) in enumerate(spans):
                        if start <= d < end:
                            totals[i] += count
            self._counts_memo = (day, config, totals)
        if not self.frauds:  # the common case
            return [(count, 0) for count in totals]
        frauds = [0] * len(spans)
        known_before = ts_ms - config.label_lag_ms
        for d, reported in self.frauds.values():
            if reported < known_before:
                for i, (start, end) in enumerate(spans):
                    if start <= d < end:
                        frauds[i] += 1
        return list(zip(totals, frauds, strict=True))


@lru_cache(maxsize=4096)
def _windows(day: int, config: FeatureConfig) -> tuple[tuple[int, int], ...]:
    """[start, end) in UTC days of each terminal window for a transaction on ``day``."""
    spans = []
    for delay, windows in ((config.terminal_delay_days, config.terminal_window_days),
                           (0, config.terminal_recent_window_days)):  # fmt: skip
        for days in windows:
            spans.append((day - delay - days, day - delay))
    return tuple(spans)


def terminal_features(partials: list[TerminalState | None], ts_ms: int, config: FeatureConfig) -> list[float]:
    """Terminal features from one or more partial states of the same terminal (None: no partial).

    The stream worker keeps one partial state per (terminal, source partition), so each is written
    only by the owner of that partition; counts and frauds add up across partials.
    """
    counts: list[tuple[int, int]] | None = None
    for state in partials:
        if state is not None and (state.day_counts or state.frauds):
            partial = state.window_counts(ts_ms, config)
            if counts is None:
                counts = partial
            else:
                counts = [(a + c, b + f) for (a, b), (c, f) in zip(counts, partial, strict=True)]
    if counts is None:
        return [0.0, 0.0] * (len(config.terminal_window_days) + len(config.terminal_recent_window_days))
    out: list[float] = []
    for count, fraud in counts:
        out += [float(count), fraud / count if count else 0.0]
    return out
