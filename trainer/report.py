"""The training report: metrics JSON, a short Markdown summary and PNG plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import precision_recall_curve, roc_curve


def write_report(
    out_dir: Path,
    card: dict[str, Any],
    y_test: np.ndarray,
    scores: dict[str, np.ndarray],
    importance: dict[str, float],
) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    fig, ax = plt.subplots(figsize=(5, 4))
    for name, s in scores.items():
        precision, recall, _ = precision_recall_curve(y_test, s)
        ax.plot(recall, precision, label=name)
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall (test period)")
    ax.legend()
    written.append(_save(fig, out_dir / "pr_curve.png"))

    fig, ax = plt.subplots(figsize=(5, 4))
    for name, s in scores.items():
        fpr, tpr, _ = roc_curve(y_test, s)
        ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], "k:", linewidth=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (test period)")
    ax.legend()
    written.append(_save(fig, out_dir / "roc_curve.png"))

    fig, ax = plt.subplots(figsize=(5, 4))
    main = scores["xgboost"]
    bins = np.linspace(0, 1, 51).tolist()
    ax.hist(main[y_test == 0], bins=bins, alpha=0.6, density=True, label="genuine", log=True)
    ax.hist(main[y_test == 1], bins=bins, alpha=0.6, density=True, label="fraud", log=True)
    for key, style in (("review", "--"), ("decline", ":")):
        ax.axvline(card["thresholds"][key], color="k", linestyle=style, label=f"{key} threshold")
    ax.set(xlabel="XGBoost score", ylabel="density (log)", title="Scores by class (test period)")
    ax.legend()
    written.append(_save(fig, out_dir / "score_histogram.png"))

    top = sorted(importance.items(), key=lambda item: item[1])[-20:]
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.barh([name for name, _ in top], [value for _, value in top])
    ax.set(xlabel="total gain", title="XGBoost feature importance (top 20)")
    fig.tight_layout()
    written.append(_save(fig, out_dir / "feature_importance.png"))

    (out_dir / "metrics.json").write_text(json.dumps(card["metrics"], indent=2) + "\n")
    written.append(out_dir / "metrics.json")
    (out_dir / "report.md").write_text(markdown_summary(card))
    written.append(out_dir / "report.md")
    return written


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def markdown_summary(card: dict[str, Any]) -> str:
    m, periods, gates = card["metrics"], card["periods"], card["gates"]
    lines = [
        f"# Model {card['model_id']}",
        "",
        f"Data `{card['data']['sha256'][:12]}` ({card['data']['transactions']:,} transactions); "
        f"feature spec {card['feature_spec_version']}; trained in {card['timings']['total_seconds']:.1f} s.",
        "",
        f"Periods: train {periods['train_start'][:10]} to {periods['train_end'][:10]} "
        f"(validation from {periods['validation_start'][:10]}), test {periods['test_start'][:10]} "
        f"to {periods['test_end'][:10]}.",
        "",
        "| model | AUC-ROC | average precision | card precision@100 |",
        "|---|---|---|---|",
    ]
    for name in ("xgboost", "logistic_regression"):
        r = m[name]
        lines.append(
            f"| {name} | {r['auc_roc']:.3f} | {r['average_precision']:.3f} | {r['card_precision_at_100']:.3f} |"
        )
    at = m["xgboost"]["at_review_threshold"]
    lines += [
        "",
        f"Thresholds (chosen on validation): review {card['thresholds']['review']:.4f}, "
        f"decline {card['thresholds']['decline']:.4f}.",
        f"At the review threshold on test: precision {at['precision']:.3f}, recall {at['recall']:.3f}, "
        f"F1 {at['f1']:.3f} (TP {at['tp']}, FP {at['fp']}, FN {at['fn']}, TN {at['tn']}).",
        "",
        "Gates: " + ("passed" if not gates["failed"] else "FAILED: " + "; ".join(gates["failed"])),
        "",
    ]
    return "\n".join(lines)
