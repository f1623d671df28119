"""Per-card state and the card features (semantics in ``features/definitions.py``).

State is the card's recent transactions as parallel lists sorted by event time (ms, amount,
transaction id, terminal id), plus the fraud labels of its recent transactions (transaction id ->
event time, ``reported_at``). Applying a transaction or a label twice is a no-op (ids are keys),
entries older than the longest window plus a grace period behind the card's newest event expire,
and at most ``max_card_entries`` transactions and ``max_card_frauds`` labels are kept. Features are a
pure function of the state and the transaction and only look at entries strictly earlier than the
transaction, so late and duplicated events give the same features as in-order delivery.
"""

from __future__ import annotations

import struct
from bisect import bisect_left
from dataclasses import dataclass, field

import orjson

from features.definitions import SMALL_AMOUNT, FeatureConfig
from features.state_codec import pack_floats, pack_ints, pack_strings, unpack_floats, unpack_ints, unpack_strings

#: binary form: tag, entries, bytes of the joined ids, of the joined terminal ids; then the arrays
_HEADER = struct.Struct("<BIII")
_TAG = 1
_TAG_BYTE = bytes([_TAG])


@dataclass
class CardState:
    times: list[int] = field(default_factory=list)
    amounts: list[float] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    terminals: list[str] = field(default_factory=list)
    #: transaction id -> (event time ms, reported_at ms) of fraud labels
    frauds: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: last source offset applied, per source topic (the stream worker's replay guard)
    offsets: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.times)

    def to_bytes(self) -> bytes:
        """The changelog value (``features/state_codec.py``); deterministic for equal states."""
        ids, terminals = pack_strings(self.ids), pack_strings(self.terminals)
        if ids is None or terminals is None:
            return self.to_json()
        times, amounts = pack_ints(self.times), pack_floats(self.amounts)
        frauds = [[tx, ts, rep] for tx, (ts, rep) in sorted(self.frauds.items())]
        tail = orjson.dumps([frauds, self.offsets], option=orjson.OPT_SORT_KEYS)
        header = _HEADER.pack(_TAG, len(self.times), len(ids), len(terminals))
        return b"".join((header, times, amounts, ids, terminals, tail))

    @classmethod
    def from_bytes(cls, data: bytes) -> CardState:
        """Read :meth:`to_bytes` output, or the JSON of earlier versions."""
        if data[:1] != _TAG_BYTE:
            return cls.from_json(data)
        _, n, ids_size, terminals_size = _HEADER.unpack_from(data)
        view = memoryview(data)
        at = _HEADER.size
        times = unpack_ints(view[at : at + 8 * n])
        amounts = unpack_floats(view[at + 8 * n : at + 16 * n])
        at += 16 * n
        ids = unpack_strings(view[at : at + ids_size], n)
        at += ids_size
        terminals = unpack_strings(view[at : at + terminals_size], n)
        frauds, offsets = orjson.loads(view[at + terminals_size :])
        return cls(times, amounts, ids, terminals, {tx: (ts, rep) for tx, ts, rep in frauds}, offsets)

    def to_json(self) -> bytes:
        """Compact UTF-8 JSON (the changelog value before the binary form; still its fallback)."""
        frauds = [[tx, ts, rep] for tx, (ts, rep) in sorted(self.frauds.items())]
        payload = [self.times, self.amounts, self.ids, self.terminals, frauds, self.offsets]
        return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)

    @classmethod
    def from_json(cls, text: str | bytes) -> CardState:
        times, amounts, ids, terminals, frauds, *rest = orjson.loads(text)
        return cls(
            list(times),
            [float(a) for a in amounts],
            list(ids),
            list(terminals),
            {tx: (int(ts), int(rep)) for tx, ts, rep in frauds},
            {str(k): int(v) for k, v in (rest[0] if rest else {}).items()},
        )

    def apply(self, transaction_id: str, ts_ms: int, amount: float, terminal_id: str, config: FeatureConfig) -> bool:
        """Add a transaction; returns False (and changes nothing) if it is already in the state."""
        if transaction_id in self.ids:
            return False
        if self.times and ts_ms < self.times[-1] - config.card_retention_ms:
            return False  # older than anything we keep: it could never be in a window again
        index = bisect_left(self.times, ts_ms)
        # keep equal timestamps in id order so the state does not depend on arrival order
        while index < len(self.times) and self.times[index] == ts_ms and self.ids[index] < transaction_id:
            index += 1
        self.times.insert(index, ts_ms)
        self.amounts.insert(index, amount)
        self.ids.insert(index, transaction_id)
        self.terminals.insert(index, terminal_id)
        self._expire(config)
        return True

    def apply_label(
        self, transaction_id: str, event_ts_ms: int, reported_at_ms: int, is_fraud: bool, config: FeatureConfig
    ) -> bool:
        """Record a fraud label of one of the card's transactions (the earliest report wins)."""
        if not is_fraud:
            return False
        known = self.frauds.get(transaction_id)
        if known is not None and known[1] <= reported_at_ms:
            return False
        if self.times and event_ts_ms < self.times[-1] - config.card_retention_ms:
            return False
        self.frauds[transaction_id] = (event_ts_ms, reported_at_ms)
        if len(self.frauds) > config.max_card_frauds:
            del self.frauds[min(self.frauds, key=lambda tx: self.frauds[tx])]
        return True

    def _expire(self, config: FeatureConfig) -> None:
        cutoff = self.times[-1] - config.card_retention_ms
        drop = max(bisect_left(self.times, cutoff), len(self.times) - config.max_card_entries)
        if drop > 0:
            del self.times[:drop], self.amounts[:drop], self.ids[:drop], self.terminals[:drop]
        if self.frauds:
            for tx in [tx for tx, (ts, _) in self.frauds.items() if ts < cutoff]:
                del self.frauds[tx]

    def features(self, ts_ms: int, amount: float, terminal_id: str, config: FeatureConfig) -> list[float]:
        """Card features in definition order."""
        times, amounts = self.times, self.amounts
        end = bisect_left(times, ts_ms)  # entries [.., end) are strictly earlier
        out: list[float] = []
        starts = []
        # windows are increasing, so each starts at or before the previous one: extend its sum
        start, prior_sum = end, 0.0
        for window in config.card_windows_ms:
            previous = start
            start = bisect_left(times, ts_ms - window, 0, previous)
            if start < previous:
                prior_sum += sum(amounts[start:previous])
            starts.append(start)
            count = end - start + 1
            total = prior_sum + amount
            out += [float(count), total, total / count]
        prior_count = end - start  # the last window is the longest
        prior_mean = prior_sum / prior_count if prior_count else 0.0
        out.append(amount / prior_mean if prior_mean > 0 else 1.0)
        if end:
            out.append(min((ts_ms - times[end - 1]) / 1000.0, config.max_gap_seconds))
        else:
            out.append(config.max_gap_seconds)
        out.append(0.0 if terminal_id in self.terminals[start:end] else 1.0)
        out.append(float(len([a for a in amounts[starts[1] : end] if a < SMALL_AMOUNT])))
        if self.frauds:
            window_start, known_before = ts_ms - config.card_windows_ms[-1], ts_ms - config.label_lag_ms
            known = [1 for ts, rep in self.frauds.values() if window_start <= ts < ts_ms and rep < known_before]
            out.append(float(len(known)))
        else:
            out.append(0.0)
        return out
