"""``fraudstream state bootstrap``: a worker's card and terminal state as of a time, from history."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cli.options import default_help, kafka_from, settings_from
from consumers.scoring.config import WorkerConfig

__all__ = ["bootstrap_state", "parse_until", "register"]


def parse_until(text: str | None) -> int | None:
    """An ISO time (UTC unless it names a zone) as epoch ms; None for "the end of the history".

    >>> parse_until("2026-03-01T00:00:00Z"), parse_until("2026-03-01 00:00:00.001"), parse_until(None)
    (1772323200000, 1772323200001, None)
    """
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--until {text!r} is not an ISO time such as 2026-03-01T00:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


def bootstrap_state(
    kafka: dict[str, Any],
    app_id: str,
    partitions: int,
    data: Path | None = None,
    topics: tuple[str, str] | None = None,
    until_ms: int | None = None,
    progress: bool = True,
    registry_url: str | None = None,
) -> tuple[Any, dict[str, int]]:
    """Compute the state of ``data`` (a dataset) or ``topics`` (transactions, labels) as of
    ``until_ms`` and write it to worker ``app_id``'s changelogs; the state and what was written."""
    from tqdm import tqdm

    from consumers.scoring.bootstrap import (
        events_from_dataset,
        events_from_topics,
        state_as_of,
        until_default,
        write_state,
    )

    if data is not None:
        from producers.adapters import load_dataset

        dataset = load_dataset(data)
        until = until_ms if until_ms is not None else until_default(dataset)
        events: Any = events_from_dataset(dataset, partitions)
        next_offsets: dict[tuple[str, int], int] = {}
        total, rejected = len(dataset.transactions) + len(dataset.labels), 0
    else:
        assert topics is not None
        until = until_ms if until_ms is not None else 2**62
        events, next_offsets, rejected = events_from_topics(kafka, *topics, partitions, until, registry_url)
        total = len(events)
    with tqdm(total=total, desc="state", unit="ev", disable=not progress, mininterval=0.5) as bar:
        done = [0]

        def advance(count: int) -> None:
            bar.update(count - done[0])
            done[0] = count

        state = state_as_of(events, until, partitions, progress=advance)
        advance(state.transactions + state.labels + state.later)
    state.next_offsets, state.rejected = next_offsets, rejected
    return state, write_state(kafka, app_id, state)


def cmd_state(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if bool(args.data) == bool(args.from_topics):
        print("error: give exactly one of --data DIR and --from-topics", flush=True)
        return 2
    kafka = kafka_from(settings)
    app_id = args.app_id or WorkerConfig.model_fields["app_id"].get_default()
    until_ms = parse_until(args.until)
    topics = (settings.topics.transactions, settings.topics.labels) if args.from_topics else None
    source = f"{topics[0]} and {topics[1]}" if topics else str(args.data)
    print(f"bootstrapping worker {app_id!r} from {source}, as of {args.until or 'the end of the history'}")
    state, written = bootstrap_state(kafka, app_id, settings.partitions, args.data, topics, until_ms,
                                     registry_url=settings.schema_registry_url)  # fmt: skip
    print(state.summary())
    if state.later:
        at = datetime.fromtimestamp(state.until_ms / 1000, UTC).isoformat()
        print(f"{state.later:,} events after {at} left for the stream")
    if state.rejected:
        print(f"{state.rejected:,} records the worker would dead-letter were skipped")
    for topic, count in written.items():
        print(f"  {count:,} records -> {topic}")
    if state.next_offsets:
        print(f"worker group {app_id!r} committed at the first event after that time on every source partition")
    else:
        print(f"start `fraudstream worker --app-id {app_id}` on topics that hold the events after that time")
    return 0


def register(sub: Any) -> None:
    state = sub.add_parser("state", help="worker state: bootstrap it from history")
    actions = state.add_subparsers(dest="action", required=True, metavar="ACTION")
    boot = actions.add_parser(
        "bootstrap",
        help="write a worker's card and terminal state as of a time, from a dataset or the topics",
        description=(
            "Write the card and terminal state a worker would have after streaming the history up to --until "
            "into the changelogs of worker --app-id (which must not have state yet); a worker started with that "
            "app id restores it and goes on exactly. With --from-topics, the worker's group is also committed "
            "at the first event after --until."
        ),
    )
    boot.add_argument(
        "--data",
        type=Path,
        help="a dataset folder or file (as for `fraudstream train`); cards are placed by the Java client's default "
        "partitioner (murmur2, as `fraudstream produce`): producers that partition otherwise need --from-topics",
    )
    boot.add_argument("--from-topics", action="store_true", help="read the transactions and labels topics instead")
    boot.add_argument("--until", help="ISO time of the state (default: the newest event of the history)")
    boot.add_argument("--app-id", help=default_help("the worker's Faust app id", WorkerConfig, "app_id"))
    boot.set_defaults(func=cmd_state)
