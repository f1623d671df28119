"""Streamed decisions against batch scoring of the same data: the check that serving has no skew.

Batch scoring (``fraudstream score``) is the reference: the worker must give every transaction the
same features (within 1e-9), the same score (within 1e-6) and the same decision, and every
duplicate decision (at-least-once delivery after a crash) must equal the first but for its
``decision_time``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["FEATURE_TOLERANCE", "SCORE_TOLERANCE", "Parity", "compare_with_batch"]

FEATURE_TOLERANCE = 1e-9
SCORE_TOLERANCE = 1e-6


@dataclass
class Parity:
    transactions: int = 0
    decided: int = 0
    duplicates: int = 0
    missing: int = 0
    unexpected: int = 0
    feature_rows: int = 0
    scores: int = 0
    decisions: int = 0
    duplicates_differing: int = 0
    #: feature -> rows whose streamed value differs from batch
    features: Counter[str] = field(default_factory=Counter)

    @property
    def differences(self) -> int:
        return (
            self.missing
            + self.unexpected
            + self.feature_rows
            + self.scores
            + self.decisions
            + self.duplicates_differing
        )

    @property
    def ok(self) -> bool:
        return self.differences == 0

    def summary(self) -> str:
        head = (f"{self.decided:,} of {self.transactions:,} transactions decided ({self.duplicates:,} duplicates): "
                f"features within {FEATURE_TOLERANCE:g}, scores within {SCORE_TOLERANCE:g}, same decision")  # fmt: skip
        if self.ok:
            return f"{head}: 0 differences"
        parts = [f"{name} {count:,}" for name, count in (
            ("missing", self.missing), ("unexpected", self.unexpected), ("feature rows", self.feature_rows),
            ("scores", self.scores), ("decisions", self.decisions),
            ("duplicates differing", self.duplicates_differing)) if count]  # fmt: skip
        worst = ", ".join(f"{name} {count:,}" for name, count in self.features.most_common(5))
        return f"{head}: {self.differences:,} differences ({', '.join(parts)}){f'; features: {worst}' if worst else ''}"


def compare_with_batch(streamed: Iterable[dict[str, Any]], batch: pd.DataFrame, feature_names: Sequence[str]) -> Parity:
    """``streamed``: decoded Decision records; ``batch``: ``fraudstream score`` output (one row a transaction)."""
    by_tx: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for decision in streamed:
        by_tx[decision["transaction_id"]].append(decision)
    ids = batch["transaction_id"].tolist()
    known = set(ids)
    parity = Parity(transactions=len(ids), unexpected=sum(1 for tx in by_tx if tx not in known))
    names = list(feature_names)
    reference = batch[names].to_numpy(dtype=float)
    scores, outcomes = batch["score"].to_numpy(dtype=float), batch["decision"].to_numpy()
    for row, tx in enumerate(ids):
        copies = by_tx.get(tx)
        if not copies:
            parity.missing += 1
            continue
        parity.decided += 1
        parity.duplicates += len(copies) - 1
        first = copies[0]
        vector = np.array([first["features"][name] for name in names], dtype=float)
        close = np.isclose(vector, reference[row], rtol=FEATURE_TOLERANCE, atol=FEATURE_TOLERANCE)
        if not close.all():
            parity.feature_rows += 1
            parity.features.update(names[i] for i in np.flatnonzero(~close))
        if abs(first["score"] - scores[row]) > SCORE_TOLERANCE:
            parity.scores += 1
        if first["decision"] != outcomes[row]:
            parity.decisions += 1
        parity.duplicates_differing += sum(
            1 for copy in copies[1:] if {**copy, "decision_time": None} != {**first, "decision_time": None}
        )
    return parity
