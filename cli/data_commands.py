"""``fraudstream generate``, ``produce`` and ``features``: data into the system, and what is computed from it."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from cli.options import default_help, given, kafka_from, settings_from
from producers.config import DriftSpec, GeneratorConfig

__all__ = ["register"]

#: generate flag -> GeneratorConfig field
GENERATOR_FLAGS = {
    "customers": "n_customers",
    "terminals": "n_terminals",
    "days": "n_days",
    "start_date": "start_date",
    "seed": "seed",
}
#: produce flag -> DriftSpec field
DRIFT_FLAGS = {
    "drift_amount_scale": "amount_scale",
    "drift_merchant_share": "merchant_share",
    "drift_cross_border_share": "cross_border_share",
}


def cmd_generate(args: argparse.Namespace) -> int:
    from producers.generator import generate_to

    config = GeneratorConfig(**given(args, GENERATOR_FLAGS, GENERATOR_FLAGS))
    manifest = generate_to(config, Path(args.out))
    print(
        f"wrote {manifest['transactions']:,} transactions ({manifest['frauds']:,} frauds, "
        f"rate {manifest['fraud_rate']:.3%}) and {manifest['files']['labels']['rows']:,} labels "
        f"to {args.out} in {manifest['elapsed_seconds']:.1f} s"
    )
    print("scenarios: " + ", ".join(f"{k}={v:,}" for k, v in manifest["scenarios"].items()))
    return 0


def drift_spec(args: argparse.Namespace) -> DriftSpec | None:
    if args.drift_from is None:
        return None
    mix: dict[str, float] = {}
    for item in filter(None, (args.drift_merchant or "").split(",")):
        code, _, weight = item.partition("=")
        mix[code.strip()] = float(weight or 1.0)
    start = datetime.fromisoformat(args.drift_from)
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    return DriftSpec(start=start, merchant_mix=mix, **given(args, DRIFT_FLAGS, DRIFT_FLAGS))


def cmd_produce(args: argparse.Namespace) -> int:
    from fraudstream.kafka import ensure_topics
    from producers.adapters import load_dataset, parse_mapping
    from producers.replay import Pacer, replay, shift_end_to, shift_to

    settings = settings_from(args)
    print(f"settings: {settings.model_dump_json()}")
    mapping = parse_mapping(args.columns) if args.columns else None
    dataset = load_dataset(args.data, mapping, **given(args, ["label_delay_days"]))
    if args.shift_to_now:
        dataset = shift_to(dataset, datetime.now(UTC))
    elif args.end_at_now:
        dataset = shift_end_to(dataset, datetime.now(UTC))
    if args.metrics_port:
        from producers.replay_metrics import serve

        serve(args.metrics_port)
    kafka = kafka_from(settings)
    ensure_topics(kafka, settings.topics.model_dump().values(), settings.partitions)
    summary = replay(
        dataset,
        kafka,
        settings.topics,
        pacer=Pacer(rate=args.rate, speedup=args.speedup),
        drift=drift_spec(args),
        limit=args.limit,
        registry_url=settings.schema_registry_url,
    )
    result = summary.as_dict()
    print(json.dumps(result, indent=2))
    if args.summary_json:
        Path(args.summary_json).write_text(json.dumps(result, indent=2) + "\n")
    if not summary.ok:
        print(f"error: {summary.failed} event(s) were not acknowledged", file=sys.stderr)
        return 1
    return 0


def cmd_features(args: argparse.Namespace) -> int:
    from features.definitions import FEATURES, markdown_table

    if args.markdown:
        print(markdown_table(), end="")
    else:
        for spec in FEATURES:
            print(f"{spec.name:28s} {spec.semantics}")
    return 0


def add_data_source(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """``--data``, ``--columns`` and ``--label-delay-days``: a dataset, as every data command reads one."""
    from schemas.dataset import LABEL_DELAY_DAYS

    parser.add_argument("--data", required=required, help="generated folder, or a .csv/.parquet file")
    parser.add_argument("--columns", help="column mapping SOURCE=canonical,... for external files")
    parser.add_argument(
        "--label-delay-days",
        type=float,
        help=f"label delay when the data has no report times (default: {LABEL_DELAY_DAYS:g})",
    )


def register(sub: Any) -> None:
    gen = sub.add_parser("generate", help="generate a synthetic dataset")
    gen.add_argument("--out", required=True, help="output folder")
    gen.add_argument("--customers", type=int, help=default_help("cards", GeneratorConfig, "n_customers"))
    gen.add_argument("--terminals", type=int, help=default_help("terminals", GeneratorConfig, "n_terminals"))
    gen.add_argument("--days", type=int, help=default_help("days of transactions", GeneratorConfig, "n_days"))
    gen.add_argument(
        "--start-date", type=date.fromisoformat, help=default_help("first day", GeneratorConfig, "start_date")
    )
    gen.add_argument("--seed", type=int, help=default_help("random seed", GeneratorConfig, "seed"))
    gen.set_defaults(func=cmd_generate)

    prod = sub.add_parser("produce", help="replay a dataset into Kafka")
    add_data_source(prod)
    pace = prod.add_mutually_exclusive_group()
    pace.add_argument("--rate", type=float, help="events per second")
    pace.add_argument("--speedup", type=float, help="multiple of event time (e.g. 3600: an hour a second)")
    shift = prod.add_mutually_exclusive_group()
    shift.add_argument("--shift-to-now", action="store_true", help="move event times so the first is now")
    shift.add_argument(
        "--end-at-now",
        action="store_true",
        help="move event times so the last is now (fast replays of history into a live worker)",
    )
    prod.add_argument("--limit", type=int, help="send only the first N events")
    prod.add_argument("--drift-from", help="ISO time from which to inject drift")
    prod.add_argument("--drift-amount-scale", type=float, help=default_help("amount factor", DriftSpec, "amount_scale"))
    prod.add_argument("--drift-merchant", help="new merchant mix, e.g. 7995=0.5,4829=0.5")
    prod.add_argument(
        "--drift-merchant-share",
        type=float,
        help=default_help("share re-drawn from the mix", DriftSpec, "merchant_share"),
    )
    prod.add_argument(
        "--drift-cross-border-share",
        type=float,
        help=default_help("share moved abroad", DriftSpec, "cross_border_share"),
    )
    prod.add_argument("--summary-json", help="also write the summary to this file")
    prod.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    prod.set_defaults(func=cmd_produce)

    feats = sub.add_parser("features", help="print the feature reference")
    feats.add_argument("--markdown", action="store_true", help="as the Markdown of docs/features.md")
    feats.set_defaults(func=cmd_features)
