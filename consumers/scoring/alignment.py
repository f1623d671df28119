"""Event-time alignment across the source partitions a worker owns: a record is processed only
after every record it may depend on.

Every feature of a transaction at event time ``t`` reads only data strictly before ``t``: the
card's earlier transactions and its labels reported before ``t``, and the terminal's transactions
of earlier days and labels reported before ``t`` (``features/definitions.py``). Processing records
in event-time order therefore gives every transaction the features batch scoring gives it,
whichever partition happens to be fetched first; processing a *later* record early never changes
an earlier one's features. So the aligner holds each fetched record back until no source
partition can still deliver an earlier one, then releases records in event-time order (labels
before transactions at the same instant).

A partition can still deliver a record earlier than ``t`` unless either

* it has delivered a record at or after ``t`` (records of a partition are in event-time order:
  the replay producer writes in event-time order, and upstream systems write each card's
  transactions in order); or
* it was *at its end* (every record below its high watermark delivered) in a fetch response at
  least ``skew_ms`` newer than the response that delivered the held record. A producer writing in
  event-time order hands an earlier record to its client before the held one, but the client
  sends each partition's batch on its own (librdkafka lingers up to ``linger.ms`` to fill it), so
  the earlier record may become visible on the broker up to that long *after* the held one;
  ``skew_ms`` bounds this. Anything the partition gets after that response was written after the
  held record, and so is not earlier.

That second rule is the rule for idle and finished partitions: a partition with nothing to deliver
holds the others back for ``skew_ms`` and at most one more fetch round trip (the latency it costs
is in BENCHMARKS.md), and a finished replay never stalls. A record that arrives later than the rule
assumes (an out-of-order producer, or one whose linger exceeds ``skew_ms``) is processed when it
arrives; its features are then those of a batch run over what had arrived.

Memory stays bounded: a partition whose held records exceed ``max_held`` is reported by
:meth:`EventTimeAligner.ahead`, and the feed pauses it until the others catch up.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from consumers.scoring.records import InputEvent

__all__ = ["EventTimeAligner", "PartitionProgress", "SourcePartition"]

#: (topic, partition)
SourcePartition = tuple[str, int]
NEVER = -(2**62)


class PartitionProgress:
    """What is known of one source partition: the newest event time it delivered, and the newest
    fetch response (consumer clock, ms) in which it was at its end."""

    __slots__ = ("complete_as_of", "held", "newest")

    def __init__(self) -> None:
        self.newest = NEVER
        self.complete_as_of = NEVER
        self.held = 0


class EventTimeAligner:
    """Holds fetched source records until every owned partition has reached them; see the module docstring.

    >>> aligner = EventTimeAligner(labels_topic="labels", partitions=[("tx", 0), ("tx", 1), ("labels", 0)])
    >>> aligner.add([InputEvent("tx", 0, 0, b"c", b"", 1_000)], fetched_at=5)
    >>> aligner.release()  # tx-1 and labels-0 may still deliver something earlier
    []
    >>> aligner.add([InputEvent("tx", 1, 0, b"d", b"", 2_000)], fetched_at=6)
    >>> aligner.at_end(("labels", 0), as_of=6)
    >>> [e.timestamp_ms for e in aligner.release()]  # tx-1 is at 2,000 now; labels-0 was empty
    [1000]
    """

    def __init__(
        self,
        labels_topic: str,
        partitions: Iterable[SourcePartition] = (),
        max_held: int = 10_000,
        skew_ms: int = 0,
    ) -> None:
        if skew_ms < 0 or max_held < 1:
            raise ValueError(f"need skew_ms >= 0 and max_held >= 1, got {skew_ms} and {max_held}")
        self.labels_topic = labels_topic
        self.max_held = max_held
        self.skew_ms = skew_ms
        self.progress: dict[SourcePartition, PartitionProgress] = {tp: PartitionProgress() for tp in partitions}
        #: (event time, 0 for a label / 1 for a transaction, partition, offset, fetched at, event)
        self._held: list[tuple[int, int, int, int, int, InputEvent]] = []

    # -- what the feed tells it ------------------------------------------------------------------

    def assign(self, partitions: Iterable[SourcePartition]) -> None:
        """The source partitions this worker owns now; held records of others are dropped (a
        rebalance re-reads them from the committed offsets, wherever they are assigned)."""
        wanted = set(partitions)
        self.progress = {tp: self.progress.get(tp) or PartitionProgress() for tp in wanted}
        self._held = [h for h in self._held if (h[5].topic, h[5].partition) in wanted]
        heapq.heapify(self._held)
        for tp, state in self.progress.items():
            state.held = sum(1 for h in self._held if (h[5].topic, h[5].partition) == tp)

    def clear(self) -> None:
        """Forget held records and progress (a rebalance or stop: the records are read again)."""
        self._held = []
        self.progress = {tp: PartitionProgress() for tp in self.progress}

    def add(self, events: Iterable[InputEvent], fetched_at: int) -> None:
        """Records as fetched (each partition's in offset order), from responses no newer than ``fetched_at``."""
        labels = self.labels_topic
        for event in events:
            tp = (event.topic, event.partition)
            state = self.progress.get(tp)
            if state is None:
                state = self.progress[tp] = PartitionProgress()
            if event.timestamp_ms > state.newest:
                state.newest = event.timestamp_ms
            state.held += 1
            rank = 0 if event.topic == labels else 1
            heapq.heappush(self._held, (event.timestamp_ms, rank, event.partition, event.offset, fetched_at, event))

    def at_end(self, tp: SourcePartition, as_of: int) -> None:
        """``tp`` had delivered everything below its high watermark in the fetch response at ``as_of``."""
        state = self.progress.get(tp)
        if state is not None and as_of > state.complete_as_of:
            state.complete_as_of = as_of

    # -- what it gives back ----------------------------------------------------------------------

    def release(self) -> list[InputEvent]:
        """The held records no partition can precede any more, in event-time order."""
        out: list[InputEvent] = []
        held, progress, skew = self._held, self.progress, self.skew_ms
        others = list(progress.items())
        while held:
            ts, _, partition, _, fetched_at, event = held[0]
            own = (event.topic, partition)
            for tp, state in others:
                if tp != own and state.newest < ts and state.complete_as_of < fetched_at + skew:
                    return out  # ``tp`` may still deliver something earlier
            heapq.heappop(held)
            progress[own].held -= 1
            out.append(event)
        return out

    def ahead(self) -> set[SourcePartition]:
        """Partitions holding more than ``max_held`` records: pause them until the others catch up."""
        return {tp for tp, state in self.progress.items() if state.held > self.max_held}

    def behind(self) -> set[SourcePartition]:
        """Partitions holding at most half of ``max_held``: a paused one may resume."""
        return {tp for tp, state in self.progress.items() if state.held <= self.max_held // 2}

    @property
    def held(self) -> int:
        return len(self._held)
