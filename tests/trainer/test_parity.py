"""The parity check: streamed decisions against batch scoring, to the tolerances the worker promises."""

from __future__ import annotations

import pandas as pd

from trainer.parity import compare_with_batch

NAMES = ["amount", "card_count_1h"]


def _batch() -> pd.DataFrame:
    return pd.DataFrame({"transaction_id": ["a", "b", "c"], "score": [0.1, 0.5, 0.9],
                         "decision": ["APPROVE", "REVIEW", "DECLINE"],
                         "amount": [10.0, 20.0, 30.0], "card_count_1h": [1.0, 2.0, 1.0]})  # fmt: skip


def _decision(tx: str, score: float, decision: str, amount: float, count: float, at: int = 0) -> dict:
    return {"transaction_id": tx, "score": score, "decision": decision, "decision_time": at,
            "features": {"amount": amount, "card_count_1h": count}}  # fmt: skip


def test_equal_streams_have_no_differences_and_duplicates_may_differ_only_in_decision_time() -> None:
    streamed = [_decision("a", 0.1, "APPROVE", 10.0, 1.0), _decision("b", 0.5 + 1e-9, "REVIEW", 20.0, 2.0),
                _decision("c", 0.9, "DECLINE", 30.0, 1.0), _decision("c", 0.9, "DECLINE", 30.0, 1.0, at=5)]  # fmt: skip
    parity = compare_with_batch(streamed, _batch(), NAMES)
    assert parity.ok
    assert (parity.decided, parity.duplicates) == (3, 1)
    assert parity.summary().endswith(": 0 differences")


def test_every_kind_of_difference_is_counted() -> None:
    streamed = [
        _decision("a", 0.1, "APPROVE", 10.0 + 1e-6, 1.0),  # a feature off by more than 1e-9
        _decision("b", 0.52, "APPROVE", 20.0, 2.0),  # score and decision
        _decision("b", 0.52, "REVIEW", 20.0, 2.0),  # a duplicate that differs
        _decision("z", 0.3, "APPROVE", 1.0, 1.0),  # not in the batch
    ]  # "c" is missing
    parity = compare_with_batch(streamed, _batch(), NAMES)
    assert (parity.feature_rows, parity.scores, parity.decisions) == (1, 1, 1)
    assert (parity.duplicates_differing, parity.missing, parity.unexpected) == (1, 1, 1)
    assert parity.features == {"amount": 1}
    assert parity.differences == 6
    assert not parity.ok
    assert "amount 1" in parity.summary()
