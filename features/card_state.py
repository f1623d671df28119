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

from bisect import bisect_left
from dataclasses import dataclass, field

import orjson

from features.definitions import SMALL_AMOUNT, FeatureConfig


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

    def to_json(self) -> bytes:
        """Compact UTF-8 JSON (the changelog value); deterministic for equal states."""
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
        prior_count_30d, prior_sum_30d = 0, 0.0
        for window in config.card_windows_ms:
            start = bisect_left(times, ts_ms - window, 0, end)
            starts.append(start)
            prior_count = end - start
            prior_sum = sum(amounts[start:end])
            count = prior_count + 1
            total = prior_sum + amount
            out += [float(count), total, total / count]
            prior_count_30d, prior_sum_30d = prior_count, prior_sum  # the last window is the longest
        prior_mean = prior_sum_30d / prior_count_30d if prior_count_30d else 0.0
        out.append(amount / prior_mean if prior_mean > 0 else 1.0)
        if end:
            out.append(min((ts_ms - times[end - 1]) / 1000.0, config.max_gap_seconds))
        else:
            out.append(config.max_gap_seconds)
        start_30d, start_24h = starts[-1], starts[1]
        out.append(0.0 if terminal_id in self.terminals[start_30d:end] else 1.0)
        out.append(float(sum(1 for a in amounts[start_24h:end] if a < SMALL_AMOUNT)))
        window_start = ts_ms - config.card_windows_ms[-1]
        out.append(float(sum(1 for ts, rep in self.frauds.values() if window_start <= ts < ts_ms and rep < ts_ms)))
        return out
