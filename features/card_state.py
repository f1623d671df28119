"""Per-card state and the card velocity features (see ``features/definitions.py`` for semantics).

State is the card's recent transactions as three parallel lists sorted by event time (ms, amount,
transaction id). Applying a transaction twice is a no-op (its id is already there), entries older
than the longest window plus a grace period behind the card's newest event expire, and at most
``max_card_entries`` are kept. Features are a pure function of the state and the transaction, and
only look at entries strictly earlier than the transaction, so late and duplicated events give the
same features as the first, in-order delivery did.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from dataclasses import dataclass, field

from features.definitions import FeatureConfig


@dataclass
class CardState:
    times: list[int] = field(default_factory=list)
    amounts: list[float] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.times)

    def to_json(self) -> str:
        return json.dumps([self.times, self.amounts, self.ids], separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> CardState:
        times, amounts, ids = json.loads(text)
        return cls(list(times), [float(a) for a in amounts], list(ids))

    def apply(self, transaction_id: str, ts_ms: int, amount: float, config: FeatureConfig) -> bool:
        """Add a transaction; returns False (and changes nothing) if it is already in the state."""
        if transaction_id in self.ids:
            return False
        horizon = (self.times[-1] if self.times else ts_ms) - config.card_retention_ms
        if ts_ms < horizon:
            return False  # older than anything we keep: it could never be in a window again
        index = bisect_left(self.times, ts_ms)
        # keep equal timestamps in id order so the state does not depend on arrival order
        while index < len(self.times) and self.times[index] == ts_ms and self.ids[index] < transaction_id:
            index += 1
        self.times.insert(index, ts_ms)
        self.amounts.insert(index, amount)
        self.ids.insert(index, transaction_id)
        self._expire(config)
        return True

    def _expire(self, config: FeatureConfig) -> None:
        cutoff = self.times[-1] - config.card_retention_ms
        drop = bisect_left(self.times, cutoff)
        drop = max(drop, len(self.times) - config.max_card_entries)
        if drop > 0:
            del self.times[:drop], self.amounts[:drop], self.ids[:drop]

    def features(self, ts_ms: int, amount: float, config: FeatureConfig) -> list[float]:
        """Card features in definition order: (count, sum, mean) per window, ratio, seconds since prev."""
        times, amounts = self.times, self.amounts
        end = bisect_left(times, ts_ms)  # entries [.., end) are strictly earlier
        out: list[float] = []
        prior_count_30d, prior_sum_30d = 0, 0.0
        for window in config.card_windows_ms:
            start = bisect_left(times, ts_ms - window, 0, end)
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
        return out


