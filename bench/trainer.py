"""Trainer benchmarks: speed on ~1.8 M transactions, batch scoring of 1 M, and model quality.

    uv run python bench/trainer.py [--seeds 42 7 123]

For each seed: generate the default dataset (5,000 cards, 10,000 terminals, 183 days), then
`train` with the default 7/7/7 protocol (timed: load + features + training + evaluation + store),
and report the test-period metrics of XGBoost and the logistic baseline. Then batch-score a 1 M
transaction dataset with the first model (timed end to end: load, features, predict, write).
Prints a Markdown table and writes bench/results/trainer.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import add_smoke_flag, results_dir
from producers.config import GeneratorConfig
from producers.generator import generate_to
from trainer.batch_score import score_dataset
from trainer.config import TrainConfig
from trainer.train import train


def quiet(message: str) -> None:
    pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 7, 123])
    add_smoke_flag(parser)
    args = parser.parse_args()
    tiny = {"n_customers": 300, "n_terminals": 600, "n_days": 22} if args.smoke else {}
    if args.smoke:
        args.seeds = args.seeds[:1]
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = f"file://{root / 'store'}"
        for seed in args.seeds:
            data = root / f"data-{seed}"
            manifest = generate_to(GeneratorConfig(seed=seed, **tiny), data, progress=quiet)
            started = time.perf_counter()
            result = train(TrainConfig(data=data, store_uri=store, report_dir=root / f"report-{seed}"), progress=quiet)
            wall = time.perf_counter() - started
            m = result.card["metrics"]
            run = {
                "seed": seed,
                "transactions": manifest["transactions"],
                "fraud_rate": manifest["fraud_rate"],
                "train_wall_seconds": round(wall, 1),
                "timings": result.card["timings"],
                "version": result.version,
                "gates_failed": result.card["gates"]["failed"],
                "thresholds": {k: result.card["thresholds"][k] for k in ("review", "decline")},
            }
            for name in ("xgboost", "logistic_regression"):
                run[name] = {k: m[name][k] for k in ("auc_roc", "average_precision", "card_precision_at_100")}
            run["at_review"] = m["xgboost"]["at_review_threshold"]
            runs.append(run)
            print(json.dumps(run), flush=True)

        big = root / "data-1m"
        generate_to(GeneratorConfig(**{"n_days": 100, **tiny}, seed=99), big, progress=quiet)
        started = time.perf_counter()
        summary = score_dataset(big, store, root / "scored.parquet", runs[0]["version"], progress=quiet)
        scoring = {"rows": summary["rows"], "seconds": round(time.perf_counter() - started, 1)}
        print(json.dumps({"batch_scoring": scoring}), flush=True)

    (results_dir(args.smoke) / "trainer.json").write_text(
        json.dumps({"runs": runs, "batch_scoring": scoring}, indent=2) + "\n"
    )

    print("\n| seed | transactions | train total (s) | features (s) | XGB AUC | XGB AP | XGB CP@100 | LR AUC | LR AP "
          "| LR CP@100 | precision / recall / F1 at review | gates |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        x, lr, at = r["xgboost"], r["logistic_regression"], r["at_review"]
        feature_seconds = r["timings"]["features_seconds"]
        print(
            f"| {r['seed']} | {r['transactions']:,} | {r['train_wall_seconds']} | {feature_seconds:.1f} "
            f"| {x['auc_roc']:.3f} | {x['average_precision']:.3f} | {x['card_precision_at_100']:.3f} "
            f"| {lr['auc_roc']:.3f} | {lr['average_precision']:.3f} | {lr['card_precision_at_100']:.3f} "
            f"| {at['precision']:.3f} / {at['recall']:.3f} / {at['f1']:.3f} "
            f"| {'pass' if not r['gates_failed'] else 'FAIL: ' + '; '.join(r['gates_failed'])} |"
        )
    for key in ("auc_roc", "average_precision", "card_precision_at_100"):
        values = [r["xgboost"][key] for r in runs]
        print(f"xgboost {key}: mean {statistics.mean(values):.3f} over {len(values)} seeds")
    print(f"\nbatch scoring: {scoring['rows']:,} transactions in {scoring['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
