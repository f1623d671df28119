"""How often the replay producers' visibility barrier flushes, against the rule it replaced.

    uv run python bench/barrier.py [--events 500000]

Counts, without a broker, where ``producers.replay.VisibilityBarrier`` makes a producer wait
for delivery over the generator's default data in replay order, and where the earlier rule did
(before a day's first *transaction*, and before a transaction later than ``λ`` after an
unflushed label; it missed labels). What a flush costs in time is measured by
``bench/foundation.py`` (a replay against the broker with and without the barrier).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import add_smoke_flag
from features.definitions import DAY_MS, DEFAULT_CONFIG
from fraudstream.settings import TopicNames
from producers.config import GeneratorConfig
from producers.generator import generate
from producers.replay import VisibilityBarrier, encoded_events


class TransactionsOnlyRule:
    """The rule before 2026-12-02, for comparison only."""

    def __init__(self, label_lag_ms: int = DEFAULT_CONFIG.label_lag_ms) -> None:
        self.label_lag_ms, self.flushes = label_lag_ms, 0
        self._day: int | None = None
        self._label: int | None = None

    def before(self, timestamp_ms: int, is_label: bool) -> bool:
        if is_label:
            self._label = timestamp_ms if self._label is None else self._label
            return False
        day = timestamp_ms // DAY_MS
        flush = (self._day is not None and day != self._day) or (
            self._label is not None and self._label < timestamp_ms - self.label_lag_ms
        )
        self._day = day
        if flush:
            self._label, self.flushes = None, self.flushes + 1
        return flush


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=500_000)
    add_smoke_flag(parser)
    args = parser.parse_args()
    config = GeneratorConfig(n_customers=100, n_terminals=200, n_days=7) if args.smoke else GeneratorConfig()
    dataset = generate(config)
    topics = TopicNames(transactions="tx", labels="labels", decisions="d", dlq="q")
    new, old = VisibilityBarrier(), TransactionsOnlyRule()
    events = days = days_starting_with_a_label = 0
    day = None
    for event in encoded_events(dataset, topics, args.events):
        new.before(event.timestamp_ms, event.is_label)
        old.before(event.timestamp_ms, event.is_label)
        events += 1
        if event.timestamp_ms // DAY_MS != day:
            day, days = event.timestamp_ms // DAY_MS, days + 1
            days_starting_with_a_label += event.is_label
    print(f"{events:,} events, {days} UTC days ({days_starting_with_a_label} start with a label)")
    print("| rule | flushes |\n|---|---|")
    print(f"| transactions only (before) | {old.flushes:,} |")
    print(f"| every record (VisibilityBarrier) | {new.flushes:,} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
