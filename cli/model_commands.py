"""``fraudstream train``, ``score`` and ``model``: models made, used in batch, and promoted."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

from cli.data_commands import add_data_source
from cli.options import default_help, given, settings_from, store_help, store_uri
from trainer.config import Gates, PeriodConfig, TrainConfig

__all__ = ["register"]

PERIOD_FLAGS = ("train_days", "delay_days", "test_days", "validation_days", "train_start")
GATE_FLAGS = ("min_f1", "min_precision", "min_recall", "min_average_precision")
TRAIN_FLAGS = ("label_delay_days", "review_precision", "decline_precision", "trials")


def cmd_train(args: argparse.Namespace) -> int:
    from producers.adapters import parse_mapping
    from trainer.train import train

    settings = settings_from(args)
    config = TrainConfig(
        data=Path(args.data),
        store_uri=store_uri(args, settings),
        report_dir=Path(args.report_dir) if args.report_dir else None,
        reports_root=settings.home / "reports",
        columns=parse_mapping(args.columns) if args.columns else None,
        periods=PeriodConfig(**given(args, PERIOD_FLAGS)),
        gates=Gates(**given(args, GATE_FLAGS)),
        **given(args, TRAIN_FLAGS),
    )
    result = train(config)
    card = result.card
    print(f"\nmodel version {result.version} stored in {config.store_uri}")
    for name in ("xgboost", "logistic_regression"):
        m = card["metrics"][name]
        print(
            f"  {name:20s} AUC-ROC {m['auc_roc']:.3f}  average precision {m['average_precision']:.3f}  "
            f"card precision@100 {m['card_precision_at_100']:.3f}"
        )
    at = card["metrics"]["xgboost"]["at_review_threshold"]
    print(
        f"  thresholds: review {card['thresholds']['review']:.4f}, decline {card['thresholds']['decline']:.4f}; "
        f"at review on test: precision {at['precision']:.3f} recall {at['recall']:.3f} F1 {at['f1']:.3f}"
    )
    print(f"  report: {result.report_files[-1].parent}")
    if not result.passed:
        print("REFUSED for promotion, gates failed: " + "; ".join(card["gates"]["failed"]), file=sys.stderr)
        return 3
    print("  gates passed; the version is now 'staging'. Promote it: fraudstream model promote " + result.version)
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from producers.adapters import parse_mapping
    from trainer.batch_score import score_dataset

    settings = settings_from(args)
    summary = score_dataset(
        Path(args.data),
        store_uri(args, settings),
        Path(args.out),
        columns=parse_mapping(args.columns) if args.columns else None,
        **given(args, ["model", "label_delay_days"], {"model": "model_ref"}),
    )
    print(json.dumps(summary, indent=2))
    return 0


def cmd_model(args: argparse.Namespace) -> int:
    from registry import ModelRegistry, RegistryError

    settings = settings_from(args)
    registry = ModelRegistry(store_uri(args, settings))
    alias = given(args, ["alias"])
    try:
        if args.action == "list":
            aliases = registry.aliases()
            for version in registry.versions():
                card = registry.card(version)
                tags = ",".join(name for name, v in aliases.items() if v == version)
                m = card["metrics"]["xgboost"]
                status = "gates ok" if not card["gates"]["failed"] else "gates FAILED"
                print(f"{version}  AP {m['average_precision']:.3f}  AUC {m['auc_roc']:.3f}  {status}  {tags}")
        elif args.action == "show":
            print(json.dumps(registry.card(registry.resolve(args.version or "production")), indent=2))
        elif args.action == "promote":
            if not args.version:
                raise RegistryError("promote needs a VERSION")
            compare = None
            if args.data:
                from trainer.compare import compare_on_test_period

                def compare(candidate: str, current: str) -> tuple[float, float]:
                    return compare_on_test_period(registry, candidate, current, Path(args.data))

            for note in registry.promote(args.version, force=args.force, compare=compare, **alias):
                print(note)
            print(f"{alias.get('alias', 'production')} -> {args.version}")
        else:
            print(f"{alias.get('alias', 'production')} -> {registry.rollback(**alias)}")
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def register(sub: Any) -> None:
    tr = sub.add_parser("train", help="train, evaluate and store a model version")
    add_data_source(tr)
    tr.add_argument("--store", help=store_help)
    tr.add_argument("--report-dir", help="where the report goes (default: $FRAUDSTREAM_HOME/reports/VERSION)")
    tr.add_argument("--train-start", type=date.fromisoformat, help="first training day (default: as late as fits)")
    for flag, text in (
        ("train_days", "days of training"),
        ("delay_days", "days between training and test"),
        ("test_days", "days of test"),
        ("validation_days", "last days of the training period held out"),
    ):
        tr.add_argument(f"--{flag.replace('_', '-')}", type=int, help=default_help(text, PeriodConfig, flag))
    tr.add_argument(
        "--review-precision",
        type=float,
        help=default_help("validation precision at the review threshold", TrainConfig, "review_precision"),
    )
    tr.add_argument(
        "--decline-precision",
        type=float,
        help=default_help("validation precision at the decline threshold", TrainConfig, "decline_precision"),
    )
    for flag in GATE_FLAGS:
        tr.add_argument(f"--{flag.replace('_', '-')}", type=float, help=default_help("gate", Gates, flag))
    tr.add_argument(
        "--trials", type=int, help=default_help("random-search trials over XGBoost parameters", TrainConfig, "trials")
    )
    tr.set_defaults(func=cmd_train)

    sc = sub.add_parser("score", help="batch-score a file with a stored model")
    add_data_source(sc)
    sc.add_argument("--model", help="production, staging or a version id (default: production)")
    sc.add_argument("--out", required=True, help="output .parquet or .csv")
    sc.add_argument("--store", help=store_help)
    sc.set_defaults(func=cmd_score)

    model = sub.add_parser("model", help="list, show, promote or roll back model versions")
    model.add_argument("action", choices=["list", "show", "promote", "rollback"])
    model.add_argument("version", nargs="?")
    model.add_argument("--alias", choices=["production", "staging"], help="the alias to move (default: production)")
    model.add_argument("--force", action="store_true", help="promote despite failed gates or a worse score")
    model.add_argument("--data", help="score candidate and current on the candidate's test period of this data")
    model.add_argument("--store", help=store_help)
    model.set_defaults(func=cmd_model)
