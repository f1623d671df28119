"""Every partition of the terminal state, in every worker process: a read-only view of the changelog.

A terminal's transactions and labels arrive on every source partition (the topics are keyed by
card), so its state is kept as one partial per (terminal, source partition), each written only by
the process that owns that partition (``processor.py``), and its features add the partials up. A
process reads the partials of its own partitions from its table store; :class:`ChangelogView`
gives it the others: a consumer outside the group, assigned those partitions of the terminal
changelog from the beginning, that keeps the newest value of every key and, per partition, the
newest :class:`~consumers.scoring.alignment.Watermark` its owner wrote.

A watermark is written to a changelog partition after the state writes of the batch it covers
(``delivery.py``); a partition's records are read in order, so when the view holds a watermark
it holds every write the watermark covers. Writes that come later are of later records, and a
transaction's features never read a later record, so reading more than the watermark covers is
harmless.

The view reads only the partitions other processes own (one process alone reads nothing): a
partition that another process takes over is read from the beginning, and its watermark is shown
once the view has read it to the end it had then (before that, compaction may have removed a
key's older value that the watermark covers while the newer value is still unread); one this
process takes over is forgotten. Memory is the others' share of the terminal table; start-up
reads their compacted changelog partitions once (both measured in BENCHMARKS.md).
"""

from __future__ import annotations

import logging
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from consumers.scoring.alignment import Watermark

__all__ = ["WATERMARK_KEY", "ChangelogView", "decode_watermark", "encode_watermark"]

log = logging.getLogger("fraudstream.worker")

#: the changelog key of a partition's watermark: never a terminal key (those end in a separator and a partition)
WATERMARK_KEY = b"\x00watermark"
_WATERMARK = struct.Struct("<4q")


def encode_watermark(watermark: Watermark) -> bytes:
    """Four little-endian int64s.

    >>> decode_watermark(encode_watermark(Watermark(1, 2, 3, 4)))
    Watermark(transactions_upto=1, transactions_idle_at=2, labels_upto=3, labels_idle_at=4)
    """
    return _WATERMARK.pack(*watermark)


def decode_watermark(value: bytes) -> Watermark:
    return Watermark(*_WATERMARK.unpack(value))


#: how often a view with no partitions to read looks again anyway (set_partitions wakes it at once)
IDLE_RECHECK = 1.0


class ChangelogView:
    """The newest value of every key of every partition of ``topic``, and each partition's watermark.

    ``get`` and ``watermark`` are called from the event loop while the view's thread applies what
    it reads; each is one dictionary read.
    """

    def __init__(self, client_config: dict[str, Any], topic: str, partitions: int, poll_timeout: float = 0.01):
        self.topic, self.partitions, self.poll_timeout = topic, partitions, poll_timeout
        self.config = {
            **client_config,
            "group.id": f"terminal-view-{uuid.uuid4().hex[:8]}",  # never joins: partitions are assigned
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "fetch.wait.max.ms": 10,
            "enable.partition.eof": True,
        }
        self.data: list[dict[bytes, bytes]] = [{} for _ in range(partitions)]
        self._watermarks: list[Watermark | None] = [None] * partitions
        #: the partitions to read (those other processes own), set from any thread
        self.wanted: frozenset[int] = frozenset()
        #: the wanted partitions read to the end they had when their reading began
        self.ready: set[int] = set()
        #: set whenever every wanted partition is ready
        self.caught_up = threading.Event()
        self.records = 0
        self.bytes = 0
        self._stop = threading.Event()
        #: set by :meth:`set_partitions` and :meth:`stop`: what a view with nothing to read waits for
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        #: called from the view's thread after what it read moved a shown watermark (the worker
        #: wakes its aligner: a transaction waiting on another process goes as soon as it may)
        self.on_watermark: Callable[[], None] | None = None
        self._moved = False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="terminal-view", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def set_partitions(self, partitions: Iterable[int]) -> None:
        """Read these partitions (the ones other processes own) and no others: a partition that
        joins is read from the beginning, one that leaves is forgotten (this process owns it)."""
        self.wanted = frozenset(partitions)
        if self.wanted - self.ready:
            self.caught_up.clear()
        self._wake.set()

    def get(self, key: bytes, partition: int) -> bytes | None:
        return self.data[partition].get(key)

    def watermark(self, partition: int) -> Watermark | None:
        """What the owner of ``partition`` has applied (None: nothing known yet)."""
        return self._watermarks[partition] if partition in self.ready else None

    def apply(self, partition: int, key: bytes | None, value: bytes | None) -> None:
        """One changelog record, in partition order."""
        if key is None:
            return
        if key == WATERMARK_KEY:
            if value is not None:
                new = decode_watermark(value)
                known = self._watermarks[partition]
                merged = new if known is None else known.merge(new)
                if merged != known:
                    self._watermarks[partition] = merged
                    self._moved = self._moved or partition in self.ready
            return
        data = self.data[partition]
        if value is None:
            old = data.pop(key, None)
            if old is not None:
                self.bytes -= len(key) + len(old)
        else:
            old = data.get(key)
            self.bytes += len(value) - (len(old) if old is not None else -len(key))
            data[key] = value

    def _ready(self, partition: int, started: float) -> None:
        self.ready.add(partition)
        self._moved = True
        if self.wanted <= self.ready and not self.caught_up.is_set():
            keys = sum(len(data) for data in self.data)
            log.info(
                f"terminal changelog view caught up on partitions {sorted(self.wanted)}: {self.records:,} records "
                f"read, {keys:,} keys, {self.bytes / 2**20:.1f} MiB of keys and values, "
                f"in {time.monotonic() - started:.2f} s",
                extra={"records": self.records, "keys": keys, "bytes": self.bytes},
            )
            self.caught_up.set()

    def _forget(self, partition: int) -> None:
        self.ready.discard(partition)
        self._watermarks[partition] = None
        data = self.data[partition]
        self.bytes -= sum(len(k) + len(v) for k, v in data.items())
        self.data[partition] = {}

    def _run(self) -> None:
        """Consume until stopped; a failure (the changelog not created yet, a broker away) is logged
        and the view starts again from the beginning (the other processes' watermarks, and so the
        transactions that wait on them, wait meanwhile)."""
        while not self._stop.is_set():
            try:
                self._consume()
            except Exception as exc:
                self.error = exc
                log.warning(f"terminal changelog view: {exc}; starting it again in 1 s")
                self._stop.wait(1.0)

    def _consume(self) -> None:
        consumer = Consumer(self.config)
        for partition in range(self.partitions):
            self._forget(partition)
        assigned: set[int] = set()
        ends: dict[int, int] = {}
        started = time.monotonic()
        try:
            apply = self.apply
            while not self._stop.is_set():
                wanted = self.wanted
                if wanted != assigned:
                    started = time.monotonic()
                    self._reassign(consumer, assigned, set(wanted), ends, started)
                    assigned = set(wanted)
                if not assigned:
                    # nothing to read (one process owns every partition): sleep until that changes,
                    # not a poll every few milliseconds, which costs an idle worker CPU for nothing
                    self._wake.wait(IDLE_RECHECK)
                    self._wake.clear()
                    continue
                for message in consumer.consume(10_000, self.poll_timeout):
                    error = message.error()
                    number = message.partition()
                    if number is None or number not in assigned:
                        continue
                    partition = number
                    if error is not None:
                        if error.code() != KafkaError._PARTITION_EOF:
                            log.warning(f"terminal changelog view: {error}")
                        elif partition not in self.ready:
                            self._ready(partition, started)
                        continue
                    apply(partition, message.key(), message.value())
                    self.records += 1
                    if partition not in self.ready and (message.offset() or 0) + 1 >= ends[partition]:
                        self._ready(partition, started)
                if self._moved:
                    self._moved = False
                    if self.on_watermark is not None:
                        self.on_watermark()
        finally:
            consumer.close()

    def _reassign(self, consumer: Any, assigned: set[int], wanted: set[int], ends: dict[int, int],
                  started: float) -> None:  # fmt: skip
        gone, new = assigned - wanted, wanted - assigned
        if gone:
            consumer.incremental_unassign([TopicPartition(self.topic, p) for p in gone])
            for partition in gone:
                self._forget(partition)
        if new:
            for partition in new:
                self._forget(partition)
                low, high = consumer.get_watermark_offsets(TopicPartition(self.topic, partition), timeout=30)
                ends[partition] = high if high > low else 0
            consumer.incremental_assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in new])
            for partition in new:
                if ends[partition] == 0:
                    self._ready(partition, started)
