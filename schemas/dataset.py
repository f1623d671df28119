"""The canonical in-memory dataset: transactions with ground truth, and their fraud labels.

Every source (the synthetic generator, the file adapters, the topics) produces a :class:`Dataset`;
the trainer, batch scoring, the drift backfill and the replay producer consume one. Transaction
columns mirror the ``Transaction`` schema's fields plus ground truth; label columns mirror
``Label``. Both frames are ordered by their own event time (``event_time`` for transactions,
``reported_at`` for labels).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["LABEL_COLUMNS", "LABEL_DELAY_DAYS", "TRANSACTION_COLUMNS", "Dataset"]

#: Days from a fraudulent transaction to its label, for data without report times (the Fraud
#: Detection Handbook's fixed delay). Every reader that lets the user choose it defaults to this.
LABEL_DELAY_DAYS = 7.0
TRANSACTION_COLUMNS = (
    "transaction_id", "card_id", "terminal_id", "event_time", "amount", "currency",
    "merchant_category", "channel", "card_country", "terminal_country", "is_fraud", "fraud_scenario",
)  # fmt: skip
LABEL_COLUMNS = (
    "transaction_id", "card_id", "terminal_id", "event_time", "reported_at", "is_fraud", "fraud_scenario",
)  # fmt: skip


@dataclass
class Dataset:
    """Transactions (with ground truth) and their labels, both ordered by their own event time."""

    transactions: pd.DataFrame
    labels: pd.DataFrame
    #: what made the data (the generator's parameters, as JSON values), kept for its manifest
    parameters: dict[str, Any] | None = None
    #: injected fraud scenarios and how many transactions each produced (generated data only)
    scenario_counts: dict[str, int] = field(default_factory=dict)

    def between(self, after: Any, upto: Any) -> Dataset:
        """The events a replay sends in ``(after, upto]`` (None: no bound on that side):
        transactions by their event time, labels by their report time."""
        import pandas as pd

        tx, labels = self.transactions, self.labels
        tx_keep = pd.Series(True, index=tx.index)
        label_keep = pd.Series(True, index=labels.index)
        if upto is not None:
            tx_keep &= tx["event_time"] <= upto
            label_keep &= labels["reported_at"] <= upto
        if after is not None:
            tx_keep &= tx["event_time"] > after
            label_keep &= labels["reported_at"] > after
        return Dataset(tx[tx_keep].reset_index(drop=True), labels[label_keep].reset_index(drop=True))
