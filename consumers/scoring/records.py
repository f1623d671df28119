"""The records the worker passes between its parts: source records in, outputs and results out.

:class:`InputEvent` is one Kafka record of a source topic (the feed makes them); the processor
turns a batch of them into a :class:`BatchResult` (decisions, dead letters, state writes, the
scored transactions); the delivery produces its :class:`OutputMessage` values. ``Shadow`` is the
contract every shadow model meets. These types import no Faust and no Kafka client, so every part
can be tested alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, Protocol, get_args

import numpy as np

from features.engine import TransactionView
from schemas.codec import DecodeReason

__all__ = [
    "CARD_TABLE",
    "DEAD_LETTER_REASONS",
    "FAUST_TABLE_NAMES",
    "MAX_ERROR_MESSAGE",
    "TERMINAL_TABLE",
    "BatchResult",
    "InputEvent",
    "OutputMessage",
    "ScoredTransaction",
    "Shadow",
    "StateAccess",
    "StateWrite",
    "ValidationReason",
]

CARD_TABLE, TERMINAL_TABLE = "card", "terminal"
#: the worker's Faust table of each (their changelogs are ``{app id}-{name}-changelog``)
FAUST_TABLE_NAMES = {CARD_TABLE: "card-state", TERMINAL_TABLE: "terminal-state"}
#: why a record went to the dead-letter topic (its ``error_type`` header): a decode failure, or
#: one of the worker's own checks; mypy holds every call to this list
ValidationReason = Literal["invalid", "card_number", "key_mismatch", "future_event_time"]
DEAD_LETTER_REASONS: tuple[str, ...] = (*get_args(DecodeReason), *get_args(ValidationReason))
MAX_ERROR_MESSAGE = 1000


class StateWrite(NamedTuple):
    """A changed state key: its table, key, encoded value and the changelog partition it lives in."""

    table: str
    key: bytes
    value: bytes
    partition: int


class InputEvent(NamedTuple):
    """One Kafka record of a source topic (a tuple: made for every record, so cheap to make)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    #: the record's headers as the client gave them (kept for its dead-letter copy)
    headers: Sequence[tuple[str, bytes]] | None = None


class OutputMessage(NamedTuple):
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp_ms: int | None = None


@dataclass(slots=True)
class ScoredTransaction:
    event: InputEvent
    transaction: TransactionView
    vector: list[float]
    score: float = 0.0
    decision: str = "APPROVE"


@dataclass
class BatchResult:
    decisions: list[OutputMessage] = field(default_factory=list)
    dead_letters: list[OutputMessage] = field(default_factory=list)
    dead_letter_reasons: list[str] = field(default_factory=list)
    state_writes: list[StateWrite] = field(default_factory=list)
    scored: list[ScoredTransaction] = field(default_factory=list)
    labels: int = 0
    model_version: str = ""


class StateAccess(Protocol):
    """What the processor reads state through (``consumers/scoring/state_store.py``)."""

    def get(self, table: str, key: bytes, partition: int) -> bytes | None:
        """The stored value of ``key``, which lives in changelog partition ``partition``."""


class Shadow(Protocol):
    """A model scored beside the champion that never acts: its verdict rides along in the Decision.

    ``score_batch`` is called once per batch with the champion's feature matrix (rows in batch
    order), the champion's scores and whether it flagged each row, after the champion, and must not
    change the champion's result; ``name`` names the model that scored the batch; ``learn_label``
    receives fraud labels as they arrive; ``export_metrics`` publishes its comparison with the
    champion once per batch. The contract tests (``tests/consumers/scoring/test_shadow_contract.py``)
    hold every implementation to it.
    """

    @property
    def name(self) -> str: ...

    def score_batch(
        self,
        transaction_ids: Sequence[str],
        ts_ms: Sequence[int],
        matrix: np.ndarray,
        champion_scores: Sequence[float],
        champion_flagged: Sequence[bool],
    ) -> list[float]: ...
    def learn_label(self, transaction_id: str, is_fraud: bool) -> None: ...
    def decide(self, score: float) -> str: ...
    def export_metrics(self) -> None: ...
