"""Where the scoring worker's time goes, without Kafka: the processor alone, profiled with cProfile.

    uv run python bench/worker_profile.py [--events 50000] [--batch 1000]

Runs :class:`ScoringProcessor` over generated transactions and labels in batches with an in-memory
state, prints events/s (the processor's ceiling, before Kafka and Faust) and the top functions by
cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import add_smoke_flag
from consumers.scoring.model_watch import prepare_model
from consumers.scoring.processor import ScoringProcessor
from consumers.scoring.records import InputEvent
from consumers.scoring.state_store import TableState
from fraudstream.settings import TopicNames
from producers.config import GeneratorConfig
from producers.generator import generate, write_dataset
from producers.replay import encoded_events
from registry import ModelRegistry
from trainer.config import Gates, TrainConfig
from trainer.train import train


class Fixed:
    def __init__(self, model: object) -> None:
        self.current = model

    def maybe_reload(self) -> bool:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--cards", type=int, default=5_000, help="cards in the dataset (bench/worker.py uses 5,000)")
    parser.add_argument("--days", type=int, default=42, help="days in the dataset (bench/worker.py uses 42)")
    parser.add_argument("--sort", default="cumulative", help="cProfile sort key (cumulative, tottime)")
    parser.add_argument("--no-profile", action="store_true", help="time the processor without cProfile")
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        args.events, args.cards, args.days = 2_000, 300, 22
    with tempfile.TemporaryDirectory() as tmp:
        dataset = generate(
            GeneratorConfig(n_customers=args.cards, n_terminals=2 * args.cards, n_days=args.days, seed=5)
        )
        write_dataset(dataset, Path(tmp) / "data")
        store = f"file://{tmp}/models"
        result = train(TrainConfig(data=Path(tmp) / "data", store_uri=store, gates=Gates.off(),
                                   report_dir=Path(tmp) / "r", trials=0), progress=lambda m: None)  # fmt: skip
        model = ModelRegistry(store).load(result.version)
        prepare_model(model, threads=1)  # as the worker does
    topics = TopicNames()
    events = [
        InputEvent(e.topic, 0, i, e.key, e.value, e.timestamp_ms)
        for i, e in enumerate(encoded_events(dataset, topics, limit=args.events))
    ]
    processor = ScoringProcessor(topics, Fixed(model), partitions=3)  # type: ignore[arg-type]
    state = TableState.in_memory()
    profiler = cProfile.Profile()
    started = time.perf_counter()
    if not args.no_profile:
        profiler.enable()
    for begin in range(0, len(events), args.batch):
        state.apply(processor.process(events[begin : begin + args.batch], state).state_writes)
    profiler.disable()
    elapsed = time.perf_counter() - started
    how = "not profiled" if args.no_profile else "profiled"
    print(f"{len(events):,} events in {elapsed:.2f} s = {len(events) / elapsed:,.0f} events/s (processor only, {how})")
    if args.no_profile:
        return 0
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(25)
    print(out.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
