"""XGBoost threads for the worker's scoring: predict and reason codes at 1 and 2 threads.

    uv run python bench/xgb_threads.py [--cards 2000] [--days 30] [--repeat 50] [--busy 1]

Trains a model as the trainer does on a generated dataset, then times what the worker does per
1,000-event batch: ``predict`` over 1,000 rows and ``contributions`` (pred_contribs, the reason
codes) over the batch's REVIEW/DECLINE rows, with ``nthread`` 1 and 2. ``--busy N`` keeps N other
processes spinning meanwhile: in the worker, the cores it does not use serve the broker and
librdkafka, and an idle-machine timing flatters the second thread.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from bench.harness import add_smoke_flag
from features.batch import compute_features
from producers.config import GeneratorConfig
from producers.generator import generate, write_dataset
from registry import ModelRegistry
from trainer.config import Gates, TrainConfig
from trainer.train import train


def _ms(call: Callable[[], object], repeat: int) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        call()
    return (time.perf_counter() - started) / repeat * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cards", type=int, default=2000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--busy", type=int, default=0, help="spinning processes while timing (the broker's share)")
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        args.cards, args.days, args.repeat, args.busy = 300, 22, 2, min(args.busy, 1)
    dataset = generate(GeneratorConfig(n_customers=args.cards, n_terminals=2 * args.cards, n_days=args.days, seed=5))
    with tempfile.TemporaryDirectory() as tmp:
        write_dataset(dataset, Path(tmp) / "data")
        result = train(TrainConfig(data=Path(tmp) / "data", store_uri=f"file://{tmp}/m", gates=Gates.off(),
                                   report_dir=Path(tmp) / "r", trials=0), progress=lambda m: None)  # fmt: skip
        model = ModelRegistry(f"file://{tmp}/m").load(result.version)
    features = compute_features(dataset.transactions, dataset.labels)
    batch = features[model.feature_names].to_numpy(dtype=float)[:1000]
    flagged = batch[np.flatnonzero(model.decide(model.predict(batch)) != "APPROVE")]
    print(f"1,000-row batch, {len(flagged)} flagged rows, {model.booster.num_boosted_rounds()} trees")
    print(f"{args.busy} other processes spinning")
    print("| nthread | predict 1,000 rows | reason codes of the flagged rows |")
    print("|---|---|---|")
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        for threads in (1, 2, 1, 2):
            model.booster.set_param({"nthread": threads})
            predict = _ms(lambda: model.predict(batch), args.repeat)
            contributions = _ms(lambda: model.contributions(flagged), args.repeat)
            print(f"| {threads} | {predict:.2f} ms | {contributions:.2f} ms |")
    finally:
        for spinner in spinners:
            spinner.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
