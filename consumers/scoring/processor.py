"""One micro-batch of the scoring worker, without Faust: decode, validate, features, score, decide.

Input is a batch of raw Kafka records from the transactions and labels topics (in consumption
order). For each record, in order:

* a **label** updates its card's state and its terminal's partial state;
* a **transaction** gets its feature vector from the states as they are *before* it, then updates
  them (so a batch gives the same features as one-at-a-time processing);
* anything that cannot be decoded or validated becomes a dead-letter message with the original key,
  bytes and headers naming the error and the source topic, partition and offset
  (``dead_letters.py``: card numbers masked, oversized copies cut to a size the broker takes).

Then all transactions of the batch are scored in one call (a batched XGBoost call costs a small
fraction per row of a single-row call), thresholds applied, and reason codes (the top three
positive feature contributions) computed for REVIEW and DECLINE rows only.

State is read through :class:`StateAccess` (``state_store.py``: the Faust tables' stores in
production, dicts in unit tests) and each changed key is returned once per batch in
``BatchResult.state_writes``, with the source partition whose changelog it belongs to. Terminal
state is kept per (terminal, source partition) so every partial has one writer; features add the
partials up. The partials of partitions another process owns are read through ``foreign`` (the
terminal changelog view, ``terminal_view.py``) afresh every batch; the event-time alignment
(``alignment.py``) has made sure they hold everything the batch's transactions read.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
from pydantic import ValidationError

from consumers.scoring.dead_letters import dead_letter_copy
from consumers.scoring.model_watch import ModelWatch
from consumers.scoring.records import (
    CARD_TABLE,
    TERMINAL_TABLE,
    BatchResult,
    InputEvent,
    OutputMessage,
    ScoredTransaction,
    Shadow,
    StateAccess,
    StateWrite,
    ValidationReason,
)
from features.card_state import CardState
from features.definitions import DAY_MS, DEFAULT_CONFIG, FeatureConfig
from features.engine import LabelView, TransactionView, categorical_features, transaction_features
from features.terminal_state import TerminalState, terminal_features
from fraudstream.pan import contains_pan, may_hold_pan
from fraudstream.settings import TopicNames
from schemas.codec import DecodeError, DecodeReason, SchemaStore
from schemas.confluent import ConfluentCodec, RecordCodec, codec_for
from schemas.decision_encoding import DecisionBatchEncoder, DecisionReason, ShadowVerdict
from schemas.models import Label, Transaction

#: the identifiers of transactions and labels, never a card number
ID_FIELDS = ("transaction_id", "card_id", "terminal_id")


def first_time(state: CardState | TerminalState, source: str, offset: int) -> bool:
    """Replay guard: each state key is written only by events of one partition, in offset order,
    so an event at or below the last applied offset of its source topic was applied already."""
    if offset <= state.offsets.get(source, -1):
        return False
    state.offsets[source] = offset
    return True


def terminal_key(terminal_id: str, partition: int) -> bytes:
    return f"{terminal_id}\x1f{partition}".encode()


class ScoringProcessor:
    def __init__(
        self,
        topics: TopicNames,
        models: ModelWatch,
        partitions: int,
        config: FeatureConfig = DEFAULT_CONFIG,
        shadow: Shadow | None = None,
        max_future_ms: int = DAY_MS,
        clock: Callable[[], float] = time.time,
        cache_size: int = 500_000,
        registry_url: str | None = None,
    ) -> None:
        self.topics, self.models, self.partitions, self.config = topics, models, partitions, config
        self.shadow, self.max_future_ms, self.clock = shadow, max_future_ms, clock
        #: Decoded states kept between batches, so a hot card is not re-parsed every batch: a card,
        #: or a terminal's partials of every partition (the absent ones too, so a terminal not yet
        #: seen on a partition is not looked up in the store again each batch). This process is
        #: the only writer of the keys of its partitions; the app clears the cache whenever
        #: partitions are assigned or revoked.
        self.cache: OrderedDict[tuple[str, str], CardState | list[TerminalState | None]] = OrderedDict()
        self.cache_size = cache_size
        store = SchemaStore.default()
        self.tx_codec = codec_for("Transaction", topics.transactions, registry_url, store)
        self.label_codec = codec_for("Label", topics.labels, registry_url, store)
        #: Decisions written Confluent-framed (their 5-byte header) when a registry is set
        self.decision_framing = codec_for("Decision", topics.decisions, registry_url, store)
        self.decision_encoder: DecisionBatchEncoder | None = None  # built for the current model's features
        #: the partition numbers this process owns (None: all of them), and how it reads the
        #: terminal partials of the others: ``foreign(key, partition)``
        self.owned: frozenset[int] | None = None
        self.foreign: Callable[[bytes, int], bytes | None] | None = None
        #: (terminal id, partition) -> the foreign partial's encoded and decoded value last read
        self._foreign_seen: dict[tuple[str, int], tuple[bytes | None, TerminalState | None]] = {}

    def set_owned(self, owned: frozenset[int] | None) -> None:
        """The partition numbers this process owns now (a rebalance): the cache starts afresh."""
        self.owned = None if owned is None or len(owned) >= self.partitions else frozenset(owned)
        self.cache.clear()
        self._foreign_seen.clear()

    def process(self, events: list[InputEvent], state: StateAccess) -> BatchResult:
        result = BatchResult()
        cards: dict[str, CardState] = {}
        #: terminal id -> its partial state per source partition (None: none there yet)
        terminals: dict[str, list[TerminalState | None]] = {}
        #: (table, card or terminal id, partition of the state's changelog)
        dirty: dict[tuple[str, str, int], None] = {}
        cache, partitions = self.cache, self.partitions
        owned, foreign = self.owned, self.foreign
        others = [] if owned is None or foreign is None else [p for p in range(partitions) if p not in owned]
        seen = self._foreign_seen
        if len(seen) > self.cache_size:
            seen.clear()

        def card(card_id: str, partition: int) -> CardState:
            found = cards.get(card_id)
            if found is None:
                found = cache.get((CARD_TABLE, card_id))  # type: ignore[assignment]
                if found is None:
                    raw = state.get(CARD_TABLE, card_id.encode(), partition)
                    found = CardState.from_bytes(raw) if raw else CardState()
                cards[card_id] = found
            return found

        def terminal_partials(terminal_id: str) -> list[TerminalState | None]:
            found = terminals.get(terminal_id)
            if found is None:
                found = cache.get((TERMINAL_TABLE, terminal_id))  # type: ignore[assignment]
                if found is None:
                    found = []
                    for p in range(partitions):
                        if others and p in others:
                            found.append(None)  # read below
                            continue
                        raw = state.get(TERMINAL_TABLE, terminal_key(terminal_id, p), p)
                        found.append(TerminalState.from_bytes(raw) if raw else None)
                for p in others:  # afresh every batch: their owners write them
                    assert foreign is not None
                    raw = foreign(terminal_key(terminal_id, p), p)
                    last = seen.get((terminal_id, p))
                    if last is None or last[0] is not raw:
                        last = (raw, TerminalState.from_bytes(raw) if raw else None)
                        seen[(terminal_id, p)] = last
                    found[p] = last[1]
                terminals[terminal_id] = found
            return found

        def own_terminal(terminal_id: str, partition: int) -> TerminalState:
            partials = terminal_partials(terminal_id)
            own = partials[partition]
            if own is None:
                own = partials[partition] = TerminalState()
            return own

        now_ms = int(self.clock() * 1000)
        labels = self.topics.labels
        for event in events:
            if event.topic == labels:
                label = self.decode_label(event, result, now_ms)
                if label is None:
                    continue
                result.labels += 1
                if card(label.card_id, event.partition).apply_label(
                    label.transaction_id, label.ts_ms, label.reported_at_ms, label.is_fraud, self.config
                ):
                    dirty[(CARD_TABLE, label.card_id, event.partition)] = None
                if own_terminal(label.terminal_id, event.partition).apply_label(
                    label.transaction_id, label.ts_ms, label.reported_at_ms, label.is_fraud, self.config
                ):
                    dirty[(TERMINAL_TABLE, label.terminal_id, event.partition)] = None
                if self.shadow is not None and label.is_fraud:
                    self.shadow.learn_label(label.transaction_id, True)
                continue
            tx = self.decode_transaction(event, result, now_ms)
            if tx is None:
                continue
            card_state = card(tx.card_id, event.partition)
            vector = (
                transaction_features(tx)
                + card_state.features(tx.ts_ms, tx.amount, tx.terminal_id, self.config)
                + terminal_features(terminal_partials(tx.terminal_id), tx.ts_ms, self.config)
                + categorical_features(tx)
            )
            if first_time(card_state, "transactions", event.offset):
                card_state.apply(tx.transaction_id, tx.ts_ms, tx.amount, tx.terminal_id, self.config)
                dirty[(CARD_TABLE, tx.card_id, event.partition)] = None
            own = own_terminal(tx.terminal_id, event.partition)
            if first_time(own, "transactions", event.offset):
                own.apply_transaction(tx.transaction_id, tx.ts_ms, self.config)
                dirty[(TERMINAL_TABLE, tx.terminal_id, event.partition)] = None
            result.scored.append(ScoredTransaction(event, tx, vector))

        for table, ident, partition in dirty:
            if table == CARD_TABLE:
                obj: CardState | TerminalState | None = cards[ident]
                cached: CardState | list[TerminalState | None] = cards[ident]
                key = ident.encode()
            else:
                cached = terminals[ident]
                obj = cached[partition]
                key = terminal_key(ident, partition)
            assert obj is not None
            result.state_writes.append(StateWrite(table, key, obj.to_bytes(), partition))
            cache[(table, ident)] = cached
            cache.move_to_end((table, ident))
        while len(cache) > self.cache_size:
            cache.popitem(last=False)
        if result.scored:
            self._score(result, now_ms)
        return result

    # -- decoding ------------------------------------------------------------------------------

    def _dead_letter(
        self, event: InputEvent, result: BatchResult, reason: DecodeReason | ValidationReason, message: str
    ) -> None:
        result.dead_letters.append(dead_letter_copy(event, reason, message))
        result.dead_letter_reasons.append(reason)

    def _validated(self, event: InputEvent, result: BatchResult, codec: RecordCodec, model: Any) -> Any:
        try:
            record = codec.decode(event.value)
        except DecodeError as exc:
            self._dead_letter(event, result, exc.reason, str(exc))
            return None
        ids = f"{record.get('transaction_id')}|{record.get('card_id')}|{record.get('terminal_id')}"
        holding = may_hold_pan(ids) and [
            n for n in ID_FIELDS if isinstance(record.get(n), str) and contains_pan(record[n])
        ]
        if holding:  # its own reason: an upstream system leaks card numbers, and must be told
            self._dead_letter(event, result, "card_number",
                              f"{', '.join(holding)}: what looks like a card number (PAN), masked in this copy; "
                              "identifiers must be tokens")  # fmt: skip
            return None
        try:
            return model.model_validate(record)
        except ValidationError as exc:
            errors = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            self._dead_letter(event, result, "invalid", errors)
            return None

    def _check_key_and_time(
        self, event: InputEvent, result: BatchResult, card_id: str, ts_ms: int, now_ms: int
    ) -> bool:
        if event.key != card_id.encode():
            self._dead_letter(
                event, result, "key_mismatch",
                f"record key {event.key!r} is not the card_id: it would be scored on the wrong partition",
            )  # fmt: skip
            return False
        if ts_ms > now_ms + self.max_future_ms:
            self._dead_letter(
                event, result, "future_event_time",
                f"event time {ts_ms} ms is more than {self.max_future_ms / 3_600_000:g} h ahead of the worker clock",
            )  # fmt: skip
            return False
        return True

    def decode_transaction(self, event: InputEvent, result: BatchResult, now_ms: int) -> TransactionView | None:
        model = self._validated(event, result, self.tx_codec, Transaction)
        if model is None:
            return None
        tx = TransactionView(
            model.transaction_id, model.card_id, model.terminal_id, round(model.event_time.timestamp() * 1000),
            model.amount, model.channel, model.merchant_category, model.card_country, model.terminal_country,
        )  # fmt: skip
        return tx if self._check_key_and_time(event, result, tx.card_id, tx.ts_ms, now_ms) else None

    def decode_label(self, event: InputEvent, result: BatchResult, now_ms: int) -> LabelView | None:
        model = self._validated(event, result, self.label_codec, Label)
        if model is None:
            return None
        label = LabelView.from_record(model.model_dump())
        return label if self._check_key_and_time(event, result, label.card_id, label.ts_ms, now_ms) else None

    # -- scoring ---------------------------------------------------------------------------------

    def _score(self, result: BatchResult, now_ms: int) -> None:
        model = self.models.current
        names = model.feature_names
        if self.decision_encoder is None or self.decision_encoder.feature_names != names:
            framing = self.decision_framing
            header = framing.header if isinstance(framing, ConfluentCodec) else None
            self.decision_encoder = DecisionBatchEncoder(names, header=header)
        matrix = np.array([s.vector for s in result.scored], dtype=float)
        scores = model.predict(matrix)
        decisions = model.decide(scores)
        flagged = np.flatnonzero(decisions != "APPROVE")
        reasons: list[list[DecisionReason]] = [[] for _ in result.scored]
        if len(flagged):
            contributions = model.contributions(matrix[flagged])[:, :-1]  # last column is the bias
            for row, contrib in zip(flagged.tolist(), contributions, strict=True):
                top = np.argsort(-contrib, kind="stable")[:3]
                reasons[row] = [
                    DecisionReason(names[i], float(matrix[row, i]), float(contrib[i]))
                    for i in top.tolist()
                    if contrib[i] > 0
                ]
        result.model_version = model.version
        score_list, decision_list = scores.tolist(), decisions.tolist()
        for row, scored in enumerate(result.scored):
            scored.score, scored.decision = score_list[row], decision_list[row]
        shadows: list[ShadowVerdict] | None = None
        txs = [scored.transaction for scored in result.scored]
        if self.shadow is not None:
            shadow, flagged_rows = self.shadow, [decision != "APPROVE" for decision in decision_list]
            shadow_scores = shadow.score_batch([tx.transaction_id for tx in txs], [tx.ts_ms for tx in txs], matrix,
                                               score_list, flagged_rows)  # fmt: skip
            name = shadow.name
            shadows = [ShadowVerdict(name, score, shadow.decide(score)) for score in shadow_scores]
        encoded = self.decision_encoder.encode_batch(
            transaction_ids=[tx.transaction_id for tx in txs],
            card_ids=[tx.card_id for tx in txs],
            terminal_ids=[tx.terminal_id for tx in txs],
            event_times_ms=[tx.ts_ms for tx in txs],
            decision_time_ms=now_ms,
            scores=score_list,
            decisions=decision_list,
            review_threshold=model.review_threshold,
            decline_threshold=model.decline_threshold,
            model_version=model.version,
            reasons=reasons,
            features=matrix,
            shadows=shadows,
        )
        for tx, value in zip(txs, encoded, strict=True):
            result.decisions.append(OutputMessage(tx.card_id.encode(), value, (), now_ms))
