"""``fraudstream train``, ``score`` and ``model``: models made, used in batch, and promoted."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

from cli.data_commands import add_data_source
from cli.options import default_help, given, kafka_from, settings_from, store_help, store_uri
from trainer.config import Gates, PeriodConfig, RetrainConfig, TrainConfig

__all__ = ["register"]

PERIOD_FLAGS = ("train_days", "delay_days", "test_days", "validation_days", "train_start")
GATE_FLAGS = ("min_f1", "min_precision", "min_recall", "min_average_precision")
TRAIN_FLAGS = ("label_delay_days", "review_precision", "decline_precision", "threshold_source", "trials", "time_budget",
               "folds")  # fmt: skip
TRAIN_RENAME = {"time_budget": "time_budget_seconds"}


def train_config(args: argparse.Namespace) -> TrainConfig:
    from producers.adapters import parse_mapping

    settings = settings_from(args)
    return TrainConfig(
        data=Path(args.data),
        store_uri=store_uri(args, settings),
        report_dir=Path(args.report_dir) if args.report_dir else None,
        reports_root=settings.home / "reports",
        columns=parse_mapping(args.columns) if args.columns else None,
        periods=PeriodConfig(**given(args, PERIOD_FLAGS)),
        gates=Gates(**given(args, GATE_FLAGS)),
        mlflow_tracking_uri=settings.mlflow_tracking_uri,
        **given(args, TRAIN_FLAGS, TRAIN_RENAME),
    )


def mirror_to_mlflow(args: argparse.Namespace, aliases: dict[str, str]) -> int:
    """Mirror the project's aliases into MLflow when a tracking URI is set; 4 if that failed."""
    settings = settings_from(args)
    if not settings.mlflow_tracking_uri:
        return 0
    from trainer.mlflow_tracking import MlflowError, mirror_aliases

    try:
        for note in mirror_aliases(settings.mlflow_tracking_uri, aliases):
            print(note)
    except MlflowError as exc:
        print(f"warning: {exc}; the project's store changed all the same", file=sys.stderr)
        return 4
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from trainer.train import train

    config = train_config(args)
    result = train(config)
    card = result.card
    if "error" in result.mlflow:
        print(f"warning: {result.mlflow['error']}", file=sys.stderr)
    elif result.mlflow:
        print(f"MLflow run {result.mlflow['run_id']}, registered version {result.mlflow['mlflow_version']}")
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


def _drift_reports(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The drift reports to judge: a JSON-lines file, or the drift reports topic read to its end."""
    if args.drift_reports:
        lines = Path(args.drift_reports).read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]
    from consumers.topic_audit import read_topic

    settings = settings_from(args)
    _, records = read_topic(kafka_from(settings), settings.topics.drift_reports, "DriftReport", keep_records=True,
                            registry_url=settings.schema_registry_url)  # fmt: skip
    return [record.record for record in records if record.record is not None]


def dataset_from_topics(args: argparse.Namespace, out_dir: Path) -> Path:
    """The transactions and labels topics, read to their end, as a dataset folder.

    Ground truth is what the labels say by now (a transaction is a fraud if a fraud label for it
    has arrived); a transaction replayed twice counts once.
    """
    import pandas as pd

    from consumers.topic_audit import read_topic
    from producers.adapters import normalise_labels, normalise_transactions
    from producers.generator import write_dataset
    from schemas.dataset import LABEL_COLUMNS, Dataset

    settings = settings_from(args)
    kafka = kafka_from(settings)
    frames = {}
    for topic, schema in ((settings.topics.transactions, "Transaction"), (settings.topics.labels, "Label")):
        print(f"reading {topic} to its end")
        _, records = read_topic(kafka, topic, schema, timeout=600, keep_records=True,  # type: ignore[arg-type]
                                registry_url=settings.schema_registry_url)  # fmt: skip
        frames[schema] = pd.DataFrame([r.record for r in records if r.record is not None])
        print(f"  {len(frames[schema]):,} records")
    if frames["Transaction"].empty:
        raise SystemExit(f"error: {settings.topics.transactions} holds no transaction to train on")
    raw_labels = frames["Label"] if not frames["Label"].empty else pd.DataFrame(columns=list(LABEL_COLUMNS))
    labels = normalise_labels(raw_labels.drop_duplicates("transaction_id", keep="last"))
    frauds = set(labels.loc[labels["is_fraud"].astype(bool), "transaction_id"])
    transactions = frames["Transaction"].drop_duplicates("transaction_id", keep="first")
    transactions = transactions.assign(is_fraud=transactions["transaction_id"].isin(frauds), fraud_scenario=None)
    write_dataset(Dataset(normalise_transactions(transactions, {}), labels), out_dir)
    return out_dir


def cmd_retrain(args: argparse.Namespace) -> int:
    import tempfile

    from consumers.drift.config import DriftThresholds
    from trainer.retrain import retrain

    if bool(args.from_topics) == bool(args.data):
        print("error: give either --data or --from-topics", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="fraudstream-retrain-") as scratch:
        prepare = None
        if args.from_topics:
            args.data = str(Path(scratch) / "data")

            def prepare() -> Path:  # only once the trigger fired: reading the topics takes a while
                return dataset_from_topics(args, Path(args.data))

        config = RetrainConfig(
            train=train_config(args),
            psi_alert=args.psi_alert if args.psi_alert is not None else DriftThresholds().psi_alert,
            **given(args, ["min_alert_features", "min_f1_gain", "when"], {"when": "trigger"}),
        )
        reports = _drift_reports(args) if config.trigger == "drift" else []
        result = retrain(config, reports, prepare=prepare)
    if result.version is None:
        print(f"no retrain: {result.trigger.reason if result.trigger else 'not triggered'}")
        return 0
    print(json.dumps(result.comparison, indent=2))
    if result.staged:
        from registry import ModelRegistry

        mirror_to_mlflow(args, ModelRegistry(config.train.store_uri).aliases())
        print(f"candidate {result.version} is now 'staging'. Shadow it: fraudstream worker --shadow staging; "
              f"then promote it: fraudstream model promote {result.version}")  # fmt: skip
        return 0
    print(f"candidate {result.version} stored, NOT staged: " + "; ".join(result.reasons), file=sys.stderr)
    return 3


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
    if args.action in ("promote", "rollback"):
        return mirror_to_mlflow(args, registry.aliases())
    return 0


def add_train_flags(parser: argparse.ArgumentParser, data_required: bool = True) -> None:
    add_data_source(parser, required=data_required)
    parser.add_argument("--store", help=store_help)
    parser.add_argument("--report-dir", help="where the report goes (default: $FRAUDSTREAM_HOME/reports/VERSION)")
    parser.add_argument("--train-start", type=date.fromisoformat, help="first training day (default: as late as fits)")
    for flag, text in (
        ("train_days", "days of training"),
        ("delay_days", "days between training and test"),
        ("test_days", "days of test"),
        ("validation_days", "last days of the training period held out"),
    ):
        parser.add_argument(f"--{flag.replace('_', '-')}", type=int, help=default_help(text, PeriodConfig, flag))
    parser.add_argument(
        "--review-precision",
        type=float,
        help=default_help("validation precision at the review threshold", TrainConfig, "review_precision"),
    )
    parser.add_argument(
        "--decline-precision",
        type=float,
        help=default_help("validation precision at the decline threshold", TrainConfig, "decline_precision"),
    )
    parser.add_argument(
        "--threshold-source",
        choices=["training_days", "fold_weeks"],
        help=default_help(
            "thresholds from out-of-fold scores of the training days, or from the prequential folds' weeks "
            "(one standard deviation below their mean)",
            TrainConfig,
            "threshold_source",
        ),
    )
    for flag in GATE_FLAGS:
        parser.add_argument(f"--{flag.replace('_', '-')}", type=float, help=default_help("gate", Gates, flag))
    parser.add_argument(
        "--trials",
        type=int,
        help=default_help("model-selection trials (0: the defaults, no search)", TrainConfig, "trials"),
    )
    parser.add_argument(
        "--time-budget",
        type=float,
        help=default_help("seconds the search may take", TrainConfig, "time_budget_seconds"),
    )
    parser.add_argument("--folds", type=int, help=default_help("prequential folds", TrainConfig, "folds"))


def register(sub: Any) -> None:
    tr = sub.add_parser("train", help="train, evaluate and store a model version")
    tr.set_defaults(func=cmd_train)
    add_train_flags(tr)

    rt = sub.add_parser("retrain", help="train a challenger on recent data; stage it if it beats production")
    when = "always (for a schedule), or drift: only if production's newest drift window has enough PSI alerts"
    rt.add_argument("--when", choices=["always", "drift"], help=default_help(when, RetrainConfig, "trigger"))
    rt.add_argument("--drift-reports", help="drift reports as JSON lines (default: read the drift reports topic)")
    rt.add_argument(
        "--min-alert-features",
        type=int,
        help=default_help("features with a PSI alert that trigger", RetrainConfig, "min_alert_features"),
    )
    rt.add_argument("--psi-alert", type=float, help="the PSI alert level (default: the drift consumer's)")
    rt.add_argument(
        "--min-f1-gain",
        type=float,
        help=default_help("F1 gain over production on the same holdout", RetrainConfig, "min_f1_gain"),
    )
    rt.add_argument("--from-topics", action="store_true",
                    help="train on the transactions and labels topics, read to their end (not --data)")  # fmt: skip
    rt.set_defaults(func=cmd_retrain)
    add_train_flags(rt, data_required=False)

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
