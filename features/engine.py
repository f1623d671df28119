"""The feature engine: one incremental, deterministic implementation used by the stream worker.

:class:`FeatureEngine` turns a transaction plus its card's and terminal's state into the feature
vector of :data:`features.definitions.FEATURE_NAMES`, and applies transactions and labels to state.
The Faust worker keeps the states in tables; :meth:`FeatureEngine.process_transaction` and
:meth:`FeatureEngine.process_label` keep them in dicts for offline use and tests.
``features/batch.py`` computes the same vectors for a whole dataset at once, vectorised; a test
holds the two equal to 1e-9.

>>> engine = FeatureEngine()
>>> tx = TransactionView("t1", "card_1", "term_1", 1_775_000_000_000, 25.0, "POS", "5411", "NL", "NL")
>>> vector = engine.process_transaction(tx)
>>> dict(zip(engine.names, vector))["card_count_24h"]
1.0
>>> engine.process_transaction(tx._replace(transaction_id="t2", ts_ms=tx.ts_ms + 60_000))[6]  # card_count_1h
2.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from features.card_state import CardState
from features.definitions import DAY_MS, DEFAULT_CONFIG, HIGH_RISK_MCC, FeatureConfig, feature_names
from features.terminal_state import TerminalState

_TWO_PI_OVER_DAY = 2.0 * math.pi / DAY_MS
_NIGHT_END_MS = 6 * 3_600_000


class TransactionView(NamedTuple):
    """The fields of a transaction the features read (times as epoch milliseconds, UTC)."""

    transaction_id: str
    card_id: str
    terminal_id: str
    ts_ms: int
    amount: float
    channel: str = "UNKNOWN"
    merchant_category: str = "0000"
    card_country: str = "ZZ"
    terminal_country: str = "ZZ"

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> TransactionView:
        """From a decoded Transaction (``event_time`` a datetime or epoch ms)."""
        return cls(
            record["transaction_id"],
            record["card_id"],
            record["terminal_id"],
            _millis(record["event_time"]),
            float(record["amount"]),
            record.get("channel", "UNKNOWN"),
            record.get("merchant_category", "0000"),
            record.get("card_country", "ZZ"),
            record.get("terminal_country", "ZZ"),
        )


def _millis(value: Any) -> int:
    return round(value.timestamp() * 1000) if isinstance(value, datetime) else int(value)


class LabelView(NamedTuple):
    """The fields of a label the features read (times as epoch milliseconds, UTC)."""

    transaction_id: str
    card_id: str
    terminal_id: str
    ts_ms: int
    reported_at_ms: int
    is_fraud: bool

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> LabelView:
        return cls(
            record["transaction_id"],
            record["card_id"],
            record["terminal_id"],
            _millis(record["event_time"]),
            _millis(record["reported_at"]),
            bool(record["is_fraud"]),
        )


def transaction_features(tx: TransactionView) -> list[float]:
    """amount, amount_log1p, hour_sin, hour_cos, is_night, is_weekend."""
    ms_of_day = tx.ts_ms % DAY_MS
    angle = ms_of_day * _TWO_PI_OVER_DAY
    weekday = (tx.ts_ms // DAY_MS + 3) % 7  # 1970-01-01 was a Thursday (weekday 3)
    return [
        tx.amount,
        math.log1p(tx.amount),
        math.sin(angle),
        math.cos(angle),
        1.0 if ms_of_day < _NIGHT_END_MS else 0.0,
        1.0 if weekday >= 5 else 0.0,
    ]


def categorical_features(tx: TransactionView) -> list[float]:
    """channel_ecom, channel_atm, is_cross_border, mcc_high_risk."""
    cross = "ZZ" not in (tx.card_country, tx.terminal_country) and tx.card_country != tx.terminal_country
    return [
        1.0 if tx.channel == "ECOM" else 0.0,
        1.0 if tx.channel == "ATM" else 0.0,
        1.0 if cross else 0.0,
        1.0 if tx.merchant_category in HIGH_RISK_MCC else 0.0,
    ]


class FeatureEngine:
    def __init__(self, config: FeatureConfig = DEFAULT_CONFIG) -> None:
        self.config = config
        self.names = feature_names(config)
        self.cards: dict[str, CardState] = {}
        self.terminals: dict[str, TerminalState] = {}

    def vector(self, tx: TransactionView, card: CardState, terminal: TerminalState) -> list[float]:
        """The feature vector of ``tx`` given the states *before* it is applied."""
        return (
            transaction_features(tx)
            + card.features(tx.ts_ms, tx.amount, tx.terminal_id, self.config)
            + terminal.features(tx.ts_ms, self.config)
            + categorical_features(tx)
        )

    def process_transaction(self, tx: TransactionView) -> list[float]:
        """Compute the vector from the in-memory states, then apply the transaction to them."""
        card = self.cards.setdefault(tx.card_id, CardState())
        terminal = self.terminals.setdefault(tx.terminal_id, TerminalState())
        vector = self.vector(tx, card, terminal)
        card.apply(tx.transaction_id, tx.ts_ms, tx.amount, tx.terminal_id, self.config)
        terminal.apply_transaction(tx.transaction_id, tx.ts_ms, self.config)
        return vector

    def process_label(self, label: LabelView) -> None:
        """Apply a label to its card's and its terminal's state."""
        card = self.cards.setdefault(label.card_id, CardState())
        card.apply_label(label.transaction_id, label.ts_ms, label.reported_at_ms, label.is_fraud, self.config)
        terminal = self.terminals.setdefault(label.terminal_id, TerminalState())
        terminal.apply_label(label.transaction_id, label.ts_ms, label.reported_at_ms, label.is_fraud, self.config)
