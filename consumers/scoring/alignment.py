"""Event-time alignment: a transaction is processed only once everything its features read has
been applied, from every source partition, in this worker process or in any other.

A transaction at event time ``t`` on UTC day ``d`` reads (``features/definitions.py``):

* its card's earlier transactions: same partition, earlier offsets;
* fraud labels known at ``t`` (reported before ``t - λ``, ``label_lag_ms``), from **every** labels
  partition (its card's labels and its terminal's);
* its terminal's transactions of days before ``d``, from **every** transactions partition.

Applying a *later* record early never changes an earlier transaction's features (state keeps a
grace period beyond its longest window, and each key's replay guard ignores what it has applied).
So labels are released as soon as they arrive, and a transaction is held until

1. every other transactions partition is *complete up to* the start of ``d``, and
2. every labels partition is complete up to ``t - λ``,

where a partition is complete up to ``x`` when it cannot deliver a record earlier than ``x`` any
more. That is the case when

* it has delivered a record at or after ``x``: a partition's records are in event-time order (the
  replay producer writes in event-time order, upstream systems write each card's transactions in
  order); or
* it was *at its end* (everything below its high watermark delivered) in a fetch response at
  wall-clock time ``C``, and some record at or after ``x`` had been fetched by ``C - skew``. A
  producer writing in event-time order hands the earlier records to its client first; the client
  sends each partition's batch on its own after up to ``linger.ms``, so they may become visible up
  to that long *later*, and ``skew_ms`` bounds it (the producers' linger, the response latency,
  and across hosts the clock offset). :meth:`EventTimeAligner.frontier` is the newest event time
  fetched by a given time.

The second rule is the rule for idle and finished partitions: an idle partition holds a
transaction back only until a fetch ``skew_ms`` after one that reached ``t - λ`` (the labels) or
the start of ``d`` (transactions). Live, those were fetched long before ``t`` arrives, so nothing
waits; in a fast replay a partition with nothing to deliver costs ``skew_ms`` and a fetch round.

**Partitions of other worker processes.** Each process owns some partitions; for the others it
reads the watermarks their owners publish in the terminal changelog after every batch
(:class:`Watermark`: per source partition, the event time it is complete and applied up to, and
the newest fetch time at which it was at its end with everything applied). A foreign partition is
complete up to ``x`` if its watermark says so, or if it was at its end and applied at ``C`` while
this process had fetched a record at or after ``x`` by ``C - skew`` (the rule above, with the
foreign fetch time). A watermark is published after the state writes it covers, in the same
changelog partition, so a process that has read the watermark has read that state.

Within a partition, records are released in offset order; partitions are looked at one head at a
time, so a partition that waits holds back no other. A partition whose offsets go back (a seek to
the committed offsets after a rebalance) drops what it holds from there: those records come again.
Memory stays bounded: a partition holding more than ``max_held`` records is reported by
:meth:`EventTimeAligner.ahead`, and the feed pauses it.
"""

from __future__ import annotations

import bisect
import heapq
from collections import deque
from collections.abc import Callable, Iterable
from typing import NamedTuple

from consumers.scoring.records import InputEvent
from features.definitions import DAY_MS

__all__ = ["NEVER", "EventTimeAligner", "PartitionProgress", "SourcePartition", "Watermark"]

#: (topic, partition)
SourcePartition = tuple[str, int]
NEVER = -(2**62)
#: how many (fetch time, newest event time) steps :meth:`EventTimeAligner.frontier` keeps
FRONTIER_STEPS = 4096


class Watermark(NamedTuple):
    """What the owner of one partition number has applied, for the other processes.

    ``*_upto``: every record of that source partition earlier than this event time is applied;
    ``*_idle_at``: the newest wall-clock fetch time (ms) at which it was at its end with everything
    it delivered applied (:data:`NEVER`: not known).
    """

    transactions_upto: int
    transactions_idle_at: int
    labels_upto: int
    labels_idle_at: int

    def merge(self, other: Watermark) -> Watermark:
        """Both are true, so the larger of each holds."""
        return Watermark(*(max(a, b) for a, b in zip(self, other, strict=True)))


NO_WATERMARK = Watermark(NEVER, NEVER, NEVER, NEVER)


class PartitionProgress:
    """One owned source partition: the newest event time it delivered, the newest fetch (wall
    clock, ms) in which it was at its end, and its held records (their effective event times, and
    the smallest real one: a record out of event-time order is held at its partition's newest
    time, but until it is applied its partition is not complete up to that time)."""

    __slots__ = ("_minima", "_seq", "complete_as_of", "events", "held", "newest")

    def __init__(self) -> None:
        self.newest = NEVER
        self.complete_as_of = NEVER
        self.held: deque[int] = deque()
        #: the held transactions, in offset order
        self.events: deque[InputEvent] = deque()
        #: (sequence, event time) candidates for the smallest real event time held (a sliding minimum)
        self._minima: deque[tuple[int, int]] = deque()
        self._seq = 0

    def hold(self, effective: int, ts: int) -> None:
        self.held.append(effective)
        minima = self._minima
        while minima and minima[-1][1] >= ts:
            minima.pop()
        minima.append((self._seq + len(self.held) - 1, ts))

    def release_one(self) -> None:
        self.held.popleft()
        if self._minima and self._minima[0][0] == self._seq:
            self._minima.popleft()
        self._seq += 1

    def rebuild(self, events: list[InputEvent]) -> None:
        """Hold exactly ``events`` (in offset order)."""
        self.held.clear()
        self.events.clear()
        self._minima.clear()
        self._seq = 0
        for event in events:
            self.hold(event.timestamp_ms, event.timestamp_ms)
            self.events.append(event)
            self.newest = max(self.newest, event.timestamp_ms)

    def earliest_held(self) -> int | None:
        """The smallest event time among the held records (None: none held)."""
        return self._minima[0][1] if self._minima else None


class EventTimeAligner:
    """Holds fetched transactions until everything they read is applied; see the module docstring.

    >>> aligner = EventTimeAligner("labels", [("tx", 0), ("tx", 1), ("labels", 0)], label_lag_ms=1_000)
    >>> aligner.add([InputEvent("tx", 0, 0, b"c", b"", 5_000)], fetched_at=10)
    >>> aligner.at_end(("tx", 1), as_of=10)  # tx-1 is empty: it can deliver nothing before 5,000
    >>> aligner.release()  # but labels-0 may still deliver one reported before 4,000
    []
    >>> aligner.add([InputEvent("labels", 0, 0, b"c", b"", 4_500)], fetched_at=11)
    >>> [e.timestamp_ms for e in aligner.release()]  # the label at once, then the transaction
    [4500, 5000]
    """

    def __init__(
        self,
        labels_topic: str,
        partitions: Iterable[SourcePartition] = (),
        max_held: int = 10_000,
        skew_ms: int = 0,
        label_lag_ms: int = 0,
        partition_count: int | None = None,
        foreign: Callable[[int], Watermark | None] | None = None,
    ) -> None:
        if skew_ms < 0 or max_held < 1 or label_lag_ms < 0:
            raise ValueError(f"need skew_ms, label_lag_ms >= 0, max_held >= 1: {skew_ms}, {label_lag_ms}, {max_held}")
        self.labels_topic = labels_topic
        self.max_held, self.skew_ms, self.label_lag_ms = max_held, skew_ms, label_lag_ms
        #: how many partitions each source topic has; those not owned here are read through ``foreign``
        self.partition_count = partition_count
        self.foreign = foreign
        self.progress: dict[SourcePartition, PartitionProgress] = {}
        #: (event time, partition, topic) of the first held transaction of each partition holding any
        self._held: list[tuple[int, int, str]] = []
        self._count = 0
        #: labels added since the last release: released at once
        self._labels: list[InputEvent] = []
        #: fetch times (ascending) and the newest event time fetched by each
        self._fetch_times: list[int] = []
        self._frontier: list[int] = []
        self.assign(partitions)

    # -- what the feed tells it ------------------------------------------------------------------

    def assign(self, partitions: Iterable[SourcePartition]) -> None:
        """The source partitions this process owns now. Held records are dropped only by
        :meth:`clear` (a rebalance, after which they are read again from the committed offsets):
        a partition missing from an assignment while it holds records keeps them."""
        wanted = set(partitions) | {tp for tp, state in self.progress.items() if state.held}
        self.progress = {tp: self.progress.get(tp) or PartitionProgress() for tp in wanted}
        self._foreign_numbers = self._foreign_partition_numbers()

    def _foreign_partition_numbers(self) -> list[int]:
        if self.partition_count is None or self.foreign is None:
            return []
        owned = {p for _, p in self.progress}
        return [p for p in range(self.partition_count) if p not in owned]

    def clear(self) -> None:
        """Forget held records and progress (a rebalance or stop: the records are read again)."""
        self._held, self._labels, self._count = [], [], 0
        self.progress = {tp: PartitionProgress() for tp in self.progress}

    def add(self, events: Iterable[InputEvent], fetched_at: int) -> None:
        """Records as fetched (each partition's in offset order), from responses no newer than
        ``fetched_at`` (wall clock, ms)."""
        labels_topic, labels = self.labels_topic, self._labels
        newest = self._frontier[-1] if self._frontier else NEVER
        for event in events:
            tp = (event.topic, event.partition)
            state = self.progress.get(tp)
            if state is None:
                state = self.progress[tp] = PartitionProgress()
                self._foreign_numbers = self._foreign_partition_numbers()
            ts = event.timestamp_ms
            if ts > state.newest:
                state.newest = ts
            if ts > newest:
                newest = ts
            if event.topic == labels_topic:
                labels.append(event)
            else:
                if state.events and event.offset <= state.events[-1].offset:
                    self._rewound(tp, state, event.offset)
                    state.newest = max(state.newest, ts)
                state.hold(ts, ts)
                state.events.append(event)
                self._count += 1
                if len(state.events) == 1:
                    heapq.heappush(self._held, (ts, event.partition, event.topic))
        self._note_frontier(fetched_at, newest)

    def _rewound(self, tp: SourcePartition, state: PartitionProgress, offset: int) -> None:
        """``tp`` was sought back to ``offset``: its held records from there on come again (kept,
        they would sit behind later records, and the partition's watermark with them), and what
        it delivered or was at the end of no longer bounds what it can deliver."""
        kept = [event for event in state.events if event.offset < offset]
        self._count -= len(state.events) - len(kept)
        state.newest, state.complete_as_of = NEVER, NEVER
        state.rebuild(kept)
        self._held = [head for head in self._held if (head[2], head[1]) != tp]
        if kept:
            self._held.append((kept[0].timestamp_ms, tp[1], tp[0]))
        heapq.heapify(self._held)

    def at_end(self, tp: SourcePartition, as_of: int) -> None:
        """``tp`` had delivered everything below its high watermark in the fetch response at ``as_of``."""
        state = self.progress.get(tp)
        if state is not None and as_of > state.complete_as_of:
            state.complete_as_of = as_of

    def _note_frontier(self, fetched_at: int, newest: int) -> None:
        times, frontier = self._fetch_times, self._frontier
        if frontier and newest <= frontier[-1]:
            return
        if times and fetched_at <= times[-1]:
            frontier[-1] = newest  # the same or an older response: it belongs to the newest step
            return
        times.append(fetched_at)
        frontier.append(newest)
        if len(times) > 2 * FRONTIER_STEPS:
            del times[:FRONTIER_STEPS], frontier[:FRONTIER_STEPS]

    def frontier(self, by: int) -> int:
        """The newest event time among records fetched at or before wall-clock time ``by`` (ms)."""
        index = bisect.bisect_right(self._fetch_times, by)
        return self._frontier[index - 1] if index else NEVER

    # -- what it gives back ----------------------------------------------------------------------

    def complete_upto(self, tp: SourcePartition) -> int:
        """The event time an owned partition can deliver nothing earlier than."""
        state = self.progress[tp]
        return max(state.newest, self.frontier(state.complete_as_of - self.skew_ms))

    def release(self) -> list[InputEvent]:
        """The labels added since the last release, then the held transactions whose reads are
        all applied: each partition's in offset order, partitions merged in event-time order.

        Partitions are looked at one head at a time, earliest first; a head that must wait holds
        back only its own partition, so a record written out of event-time order (or read again
        after a seek) never blocks the others, nor their watermarks, behind a later one.
        """
        out, self._labels = self._labels, []
        heads = self._held
        if not heads:
            return out
        labels_topic, lag, skew = self.labels_topic, self.label_lag_ms, self.skew_ms
        own_bounds = [(tp, self.complete_upto(tp)) for tp in self.progress]
        foreign = [self._foreign(p) for p in self._foreign_numbers]
        if any(mark is None for mark in foreign):
            return out
        foreign_bounds = [
            (max(m.labels_upto, self.frontier(m.labels_idle_at - skew)),
             max(m.transactions_upto, self.frontier(m.transactions_idle_at - skew)))
            for m in foreign if m is not None
        ]  # fmt: skip
        waiting = []
        while heads:
            ts, partition, topic = heapq.heappop(heads)
            day_start, known_before = ts - ts % DAY_MS, ts - lag
            ready = all(
                (upto >= known_before) if t == labels_topic else (p == partition or upto >= day_start)
                for (t, p), upto in own_bounds
            ) and all(labels >= known_before and txs >= day_start for labels, txs in foreign_bounds)
            if not ready:
                waiting.append((ts, partition, topic))
                continue
            state = self.progress[(topic, partition)]
            out.append(state.events.popleft())
            state.release_one()
            self._count -= 1
            if state.events:
                heapq.heappush(heads, (state.events[0].timestamp_ms, partition, topic))
        for head in waiting:
            heapq.heappush(heads, head)
        return out

    def _foreign(self, partition: int) -> Watermark | None:
        assert self.foreign is not None
        return self.foreign(partition)

    def labels_complete_upto(self) -> tuple[int | None, int | None]:
        """The event time up to which every labels partition is known complete and applied: of the
        partitions owned here, and of the others (None: none of that kind, or nothing known yet).

        Live, wall-clock time minus this is how long a label takes to count in scoring; while it
        stays under ``label_lag_ms`` no transaction waits for labels.
        """
        own = [self.complete_upto(tp) for tp in self.progress if tp[0] == self.labels_topic]
        others: list[int] = []
        for p in self._foreign_numbers:
            mark = self._foreign(p)
            if mark is None:
                return (min(own) if own else None), None
            others.append(max(mark.labels_upto, self.frontier(mark.labels_idle_at - self.skew_ms)))
        return (min(own) if own else None), (min(others) if others else None)

    def oldest_held(self) -> tuple[str, int, int] | None:
        """(topic, partition, offset) of the oldest held transaction, or None."""
        if not self._held:
            return None
        _, partition, topic = self._held[0]
        event = self.progress[(topic, partition)].events[0]
        return event.topic, event.partition, event.offset

    #: the kinds of :meth:`waits`: what the oldest held transaction waits for
    WAIT_KINDS = ("own_labels", "own_transactions", "other_labels", "other_transactions", "other_unknown")

    def waits(self) -> list[tuple[str, str]]:
        """Why the oldest held transaction waits: (kind, detail) per source partition it waits on,
        ``kind`` one of :attr:`WAIT_KINDS` (``other_*``: a partition another process owns); empty if
        nothing is held."""
        if not self._held:
            return []
        ts, partition, _ = self._held[0]
        day_start, known_before = ts - ts % DAY_MS, ts - self.label_lag_ms
        found = []
        for tp in self.progress:
            upto = self.complete_upto(tp)
            if tp[0] == self.labels_topic and upto < known_before:
                found.append(("own_labels", f"{tp[0]}[{tp[1]}] up to {upto} < {known_before}"))
            elif tp[0] != self.labels_topic and tp[1] != partition and upto < day_start:
                found.append(("own_transactions", f"{tp[0]}[{tp[1]}] up to {upto} < {day_start}"))
        for p in self._foreign_numbers:
            mark = self._foreign(p)
            if mark is None:
                found.append(("other_unknown", f"partition {p} of another process: no watermark yet"))
                continue
            labels = max(mark.labels_upto, self.frontier(mark.labels_idle_at - self.skew_ms))
            txs = max(mark.transactions_upto, self.frontier(mark.transactions_idle_at - self.skew_ms))
            if labels < known_before:
                found.append(
                    ("other_labels", f"labels partition {p} of another process up to {labels} < {known_before}")
                )
            if txs < day_start:
                found.append(
                    ("other_transactions", f"transactions partition {p} of another process up to {txs} < {day_start}")
                )
        return found

    def waiting_on(self) -> str | None:
        """Why the oldest held transaction waits (for the log), or None if nothing is held."""
        if not self._held:
            return None
        ts, partition, topic = self._held[0]
        event = self.progress[(topic, partition)].events[0]
        reasons = "; ".join(detail for _, detail in self.waits()) or "-"
        return f"{self._count} held from {event.topic}[{partition}] at {ts}: {reasons}"

    def watermarks(self) -> dict[int, Watermark]:
        """What has been released of each partition number owned here, for the other processes.

        Call after :meth:`release`; the watermarks hold once the records released so far are
        applied (the worker publishes them after the batch that ends with those records).
        """
        by_number: dict[int, list[int]] = {}
        labels_topic = self.labels_topic
        for tp, state in self.progress.items():
            upto = self.complete_upto(tp)
            earliest = state.earliest_held()
            if earliest is not None:
                upto = min(upto, earliest)
            slot = by_number.setdefault(tp[1], [NEVER, NEVER, NEVER, NEVER])
            at = 2 if tp[0] == labels_topic else 0
            slot[at], slot[at + 1] = upto, NEVER if state.held else state.complete_as_of
        return {p: Watermark(*values) for p, values in by_number.items()}

    def ahead(self) -> set[SourcePartition]:
        """Partitions holding more than ``max_held`` records: pause them until the others catch up."""
        return {tp for tp, state in self.progress.items() if len(state.held) > self.max_held}

    def behind(self) -> set[SourcePartition]:
        """Partitions holding at most half of ``max_held``: a paused one may resume."""
        return {tp for tp, state in self.progress.items() if len(state.held) <= self.max_held // 2}

    @property
    def held(self) -> int:
        return self._count
