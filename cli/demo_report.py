"""The demo's report: a Markdown page with three plots, in the demo folder's ``report/``.

* ``drift.png``: PSI per feature and daily window of the first production model (the drift day marked);
* ``decisions.png``: the decisions per day (the review queue's volume) and which model decided;
* ``challenger.png``: precision and recall of the challenger and the champion, at every threshold,
  on the days after the challenger's training data (the truth is the generator's).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.definitions import CALENDAR_FEATURES
from schemas.dataset import Dataset

if TYPE_CHECKING:
    from cli.demo import Story

__all__ = ["write_report"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _drift_plot(path: Path, reports: list[dict[str, Any]], champion: str, drift_start: pd.Timestamp | None) -> bool:
    windows = [r for r in reports if r["model_version"] == champion]
    if not windows:
        return False
    names = [f["feature"] for f in windows[0]["features"] if f["feature"] not in CALENDAR_FEATURES]
    table = np.array([[{f["feature"]: f["psi"] for f in w["features"]}.get(n, np.nan) for w in windows] for n in names])
    days = [pd.Timestamp(w["window_start"], unit="ms").strftime("%m-%d") for w in windows]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(12, 9))
    image = ax.imshow(np.minimum(table, 1.0), aspect="auto", cmap="magma_r", vmin=0, vmax=1.0)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_xticks(range(len(days)), days, rotation=90, fontsize=7)
    if drift_start is not None:
        at = sum(1 for w in windows if w["window_start"] < drift_start.value // 1_000_000)
        ax.axvline(at - 0.5, color="tab:blue", linewidth=2, label="drift injected")
        ax.legend(loc="upper left")
    fig.colorbar(image, ax=ax, label="PSI (capped at 1; WARN 0.1, ALERT 0.25)")
    ax.set_title("Drift per feature and daily window (production model; calendar features left out)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _day(event_time: Any) -> str:
    """A decision's event day, ``MM-DD`` (decoded Avro gives a datetime; epoch ms are accepted too)."""
    moment = pd.Timestamp(event_time, unit="ms") if isinstance(event_time, int) else pd.Timestamp(event_time)
    return str(moment.strftime("%m-%d"))


def _decisions_plot(path: Path, decisions: list[dict[str, Any]]) -> bool:
    if not decisions:
        return False
    frame = pd.DataFrame({"transaction_id": [d["transaction_id"] for d in decisions],
                          "day": [_day(d["event_time"]) for d in decisions],
                          "decision": [d["decision"] for d in decisions],
                          "model": [d["model_version"][-6:] for d in decisions]})  # fmt: skip
    frame = frame.drop_duplicates("transaction_id")  # a duplicate decision is the same decision
    flagged = frame[frame["decision"] != "APPROVE"].groupby(["day", "decision"]).size().unstack(fill_value=0)
    models = frame.groupby(["day", "model"]).size().unstack(fill_value=0)
    flagged = flagged.reindex(models.index, fill_value=0)  # every day, flagged or not, on one axis
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6), sharex=True)
    flagged.plot.bar(stacked=True, ax=top, color={"REVIEW": "tab:orange", "DECLINE": "tab:red"}, width=0.8)
    top.set_ylabel("review queue a day")
    top.set_title("Flagged decisions per day, and the model that decided")
    models.plot.bar(stacked=True, ax=bottom, width=0.8)
    bottom.set_ylabel("decisions a day")
    bottom.tick_params(axis="x", labelsize=7, labelrotation=90)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _challenger_plot(path: Path, replayed: Dataset, workdir: Path, models: dict[str, Any]) -> str | None:
    champion_file, challenger_file = workdir / "scored.parquet", workdir / "scored-challenger.parquet"
    if not (champion_file.exists() and challenger_file.exists() and models.get("test_start") is not None):
        return None
    from sklearn.metrics import average_precision_score, precision_recall_curve

    tx = replayed.transactions
    after = tx.loc[tx["event_time"] >= models["test_start"], ["transaction_id", "is_fraud"]]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 5))
    summary = []
    for name, file in (("champion", champion_file), ("challenger", challenger_file)):
        scored = pd.read_parquet(file, columns=["transaction_id", "score"]).merge(after, on="transaction_id")
        truth = scored["is_fraud"].to_numpy(dtype=bool)
        precision, recall, _ = precision_recall_curve(truth, scored["score"])
        ap = average_precision_score(truth, scored["score"])
        ax.plot(recall, precision, label=f"{name} {models[name][-6:]} (AP {ap:.3f})")
        summary.append(f"{name} AP {ap:.3f}")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(f"After the drift, from {models['test_start']:%Y-%m-%d} ({len(after):,} transactions)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return ", ".join(summary)


def write_report(folder: Path, story: Story, replayed: Dataset, models: dict[str, Any]) -> Path:
    """Write ``folder/README.md`` and its plots; returns the page's path."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["# fraudstream demo", "", "What the demo did and found, step by step:", ""]
    lines += [f"- {line}" for line in story.lines]
    if story.failures:
        lines += ["", "**Checks that failed:**", ""] + [f"- {failure}" for failure in story.failures]
    champion = models.get("champion") or (story.reports[0]["model_version"] if story.reports else "")
    if _drift_plot(folder / "drift.png", story.reports, champion, models.get("drift_start")):
        lines += ["", "## Drift", "", "![PSI per feature and daily window](drift.png)"]
    if _decisions_plot(folder / "decisions.png", story.decisions):
        lines += ["", "## Decisions", "", "![decisions per day](decisions.png)"]
    compared = _challenger_plot(folder / "challenger.png", replayed, folder.parent, models)
    if compared:
        lines += ["", "## Challenger and champion", "", compared, "", "![precision and recall](challenger.png)"]
    page = folder / "README.md"
    page.write_text("\n".join(lines) + "\n")
    return page
