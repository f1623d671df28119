"""Synthetic card transactions with fraud scenarios and delayed labels (``fraudstream generate``).

A vectorised, seeded re-imagining of the Fraud Detection Handbook's simulator, extended with the
patterns practitioners report. Geography is a 100x100 grid split into countries by longitude-like
bands; customers use the physical terminals within ``radius`` of home plus a few e-commerce
gateways, so cross-border use has a natural base rate.

Legitimate behaviour: per-customer spend level (mean/std), activity (transactions a day, Poisson),
a daily rhythm (midday and evening peaks, little at night) and a weekly one (busier Fridays and
Saturdays, quieter Sundays).

Fraud scenarios (``fraud_scenario`` names them; a transaction has at most one):

=========================== ====================================================================
``large_amount``            any transaction above 220 (the handbook's scenario 1)
``compromised_terminal``    terminals compromised for 28 days: everything paid there is fraud
``compromised_card``        cards compromised for 14 days: a third of their spending, amounts x5
``card_testing``            injected bursts of 3-8 tiny e-commerce charges, then one large one
``night_spending``          injected purchases between 01:00 and 05:00 far from home
``velocity_spike``          injected 6-15 purchases within 1-3 hours at scattered terminals
``unusual_merchant``        injected cross-border purchases at rare merchant categories
                            (gambling, wire transfer, quasi-cash)
=========================== ====================================================================

Every fraud gets a Label whose ``reported_at`` follows a log-normal delay (median two days);
``late_report_fraction`` of them are reported 14-45 days later (or every one exactly
``label_delay_fixed_days`` later, the handbook's protocol). Labels are never earlier than their
transaction.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree
from tqdm import tqdm

from fraudstream.pan import contains_pan
from producers.config import GeneratorConfig
from schemas.dataset import Dataset

GENERATOR_VERSION = "1.0.0"
SECONDS_PER_DAY = 86_400

#: Countries as bands along x: most of the grid is one country, with two neighbours.
COUNTRY_BANDS = (("NL", 0.0, 70.0), ("BE", 70.0, 85.0), ("DE", 85.0, 100.0))
ECOM_COUNTRIES = (("NL", 0.45), ("GB", 0.15), ("US", 0.15), ("DE", 0.1), ("IE", 0.1), ("CN", 0.05))
RISKY_COUNTRIES = (("US", 0.3), ("CN", 0.2), ("RU", 0.15), ("NG", 0.15), ("BR", 0.2))
POS_MCC = (
    ("5411", 0.30), ("5812", 0.14), ("5814", 0.10), ("5541", 0.10), ("5912", 0.07),
    ("5311", 0.07), ("5999", 0.07), ("4111", 0.06), ("5732", 0.04), ("7011", 0.03),
    ("5944", 0.02),
)  # fmt: skip
ECOM_MCC = (("5999", 0.35), ("5311", 0.2), ("4722", 0.15), ("5732", 0.15), ("5815", 0.15))
RISKY_MCC = (("7995", 0.35), ("4829", 0.25), ("6051", 0.2), ("5967", 0.2))
TESTING_MCC = "5815"  # digital goods: where stolen cards are tried first


Progress = Callable[[str], None]


def _choice(rng: np.random.Generator, table: tuple[tuple[str, float], ...], size: int) -> np.ndarray:
    values = np.array([value for value, _ in table], dtype=object)
    weights = np.array([weight for _, weight in table])
    return values[rng.choice(len(values), size=size, p=weights / weights.sum())]


def _country_of(x: np.ndarray) -> np.ndarray:
    out = np.empty(len(x), dtype=object)
    for country, low, high in COUNTRY_BANDS:
        out[(x >= low) & (x <= high)] = country
    return out


def _tokens(rng: np.random.Generator, prefix: str, n: int) -> np.ndarray:
    """Unique random hex tokens (ids are opaque tokens, never sequential card numbers).

    A hex token can hold 13 or more decimal digits in a row that pass the Luhn check: the worker
    would dead-letter it as a card number (``fraudstream/pan.py``), so such a token is replaced by
    a spare one, leaving every other token as the seed made it.
    """
    candidates = rng.permutation(np.unique(rng.integers(0, 2**62, size=n + n // 10 + 16)))
    tokens = [f"{prefix}{v:016x}" for v in candidates]
    spares = (token for token in tokens[n:] if not contains_pan(token))
    chosen = [next(spares, None) if contains_pan(token) else token for token in tokens[:n]]
    if len(chosen) < n or None in chosen:  # pragma: no cover - astronomically unlikely
        raise RuntimeError("token collision; use another seed")
    return np.array(chosen, dtype=object)


def make_customers(config: GeneratorConfig, rng: np.random.Generator) -> pd.DataFrame:
    n = config.n_customers
    x, y = rng.uniform(0, 100, n), rng.uniform(0, 100, n)
    mean_amount = rng.uniform(5, 100, n)
    return pd.DataFrame(
        {
            "card_id": _tokens(rng, "card_", n),
            "x": x,
            "y": y,
            "mean_amount": mean_amount,
            "std_amount": mean_amount / 2,
            "tx_per_day": rng.uniform(0, 4, n),
            "ecom_share": rng.beta(1.2, 6.0, n),
            "country": _country_of(x),
        }
    )


def make_terminals(config: GeneratorConfig, rng: np.random.Generator) -> pd.DataFrame:
    n = config.n_terminals
    kind = rng.choice(
        4,
        size=n,
        p=[
            1 - config.ecom_terminal_share - config.risky_terminal_share - config.atm_terminal_share,
            config.ecom_terminal_share,
            config.risky_terminal_share,
            config.atm_terminal_share,
        ],
    )
    x, y = rng.uniform(0, 100, n), rng.uniform(0, 100, n)
    channel = np.array(["POS", "ECOM", "ECOM", "ATM"], dtype=object)[kind]
    mcc = _choice(rng, POS_MCC, n)
    mcc[kind == 1] = _choice(rng, ECOM_MCC, int((kind == 1).sum()))
    mcc[kind == 2] = _choice(rng, RISKY_MCC, int((kind == 2).sum()))
    mcc[kind == 3] = "6011"
    country = _country_of(x)
    country[kind == 1] = _choice(rng, ECOM_COUNTRIES, int((kind == 1).sum()))
    country[kind == 2] = _choice(rng, RISKY_COUNTRIES, int((kind == 2).sum()))
    return pd.DataFrame(
        {
            "terminal_id": _tokens(rng, "term_", n),
            "x": x,
            "y": y,
            "kind": kind,
            "channel": channel,
            "merchant_category": mcc,
            "country": country,
        }
    )


def _local_terminal_lists(
    customers: pd.DataFrame, terminals: pd.DataFrame, config: GeneratorConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR lists of the physical terminals (POS, ATM) within ``radius`` of each customer."""
    physical = np.flatnonzero(terminals["kind"].isin([0, 3]).to_numpy())
    tree = cKDTree(terminals[["x", "y"]].to_numpy()[physical])
    homes = customers[["x", "y"]].to_numpy()
    neighbours = tree.query_ball_point(homes, r=config.radius)
    _, nearest = tree.query(homes, k=1)
    lists = [np.asarray(n if len(n) else [nearest[i]], dtype=np.int64) for i, n in enumerate(neighbours)]
    lengths = np.array([len(a) for a in lists])
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return physical[np.concatenate(lists)], offsets, lengths


def _time_of_day(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds into the day: midday and evening peaks, a flat tail, little at night."""
    component = rng.choice(3, size=n, p=[0.55, 0.35, 0.10])
    seconds = np.where(
        component == 0,
        rng.normal(13 * 3600, 3 * 3600, n),
        np.where(component == 1, rng.normal(19 * 3600, 2.5 * 3600, n), rng.uniform(0, SECONDS_PER_DAY, n)),
    )
    outside = (seconds < 0) | (seconds >= SECONDS_PER_DAY)
    seconds[outside] = rng.uniform(6 * 3600, 23 * 3600, int(outside.sum()))
    return seconds


#: Monday..Sunday activity factors (Fridays and Saturdays busier, Sundays quieter).
WEEKLY_RHYTHM = np.array([0.95, 0.95, 1.0, 1.05, 1.15, 1.2, 0.7])


def _legitimate(
    config: GeneratorConfig,
    rng: np.random.Generator,
    customers: pd.DataFrame,
    terminals: pd.DataFrame,
    progress: Progress,
) -> dict[str, np.ndarray]:
    start = np.datetime64(config.start_date, "s").astype(np.int64)
    weekday0 = config.start_date.weekday()
    day_factor = WEEKLY_RHYTHM[(weekday0 + np.arange(config.n_days)) % 7]
    local_terms, offsets, lengths = _local_terminal_lists(customers, terminals, config)
    ecom_terms = np.flatnonzero(terminals["kind"].to_numpy() == 1)
    risky_terms = np.flatnonzero(terminals["kind"].to_numpy() == 2)
    # Each customer shops at a handful of web shops; one in fifty also at a "risky" one.
    n_cust = len(customers)
    ecom_lists = rng.choice(ecom_terms, size=(n_cust, 6)) if len(ecom_terms) else np.zeros((n_cust, 0), int)
    if len(risky_terms) and ecom_lists.shape[1]:
        uses_risky = rng.random(n_cust) < 0.02
        ecom_lists[uses_risky, 0] = rng.choice(risky_terms, size=int(uses_risky.sum()))

    parts: list[dict[str, np.ndarray]] = []
    chunk = 1_000
    for begin in tqdm(range(0, n_cust, chunk), desc="transactions", unit="k customers", disable=None):
        idx = np.arange(begin, min(begin + chunk, n_cust))
        lam = customers["tx_per_day"].to_numpy()[idx, None] * day_factor[None, :]
        counts = rng.poisson(lam)
        cust = np.repeat(idx, counts.sum(axis=1))
        day = np.concatenate([np.repeat(np.arange(config.n_days), row) for row in counts])
        n = len(cust)
        seconds = start + day * SECONDS_PER_DAY + _time_of_day(rng, n).astype(np.int64)
        ecom = (rng.random(n) < customers["ecom_share"].to_numpy()[cust]) & (ecom_lists.shape[1] > 0)
        terminal = local_terms[offsets[cust] + (rng.random(n) * lengths[cust]).astype(np.int64)]
        if ecom.any():
            terminal[ecom] = ecom_lists[cust[ecom], rng.integers(0, ecom_lists.shape[1], int(ecom.sum()))]
        mean = customers["mean_amount"].to_numpy()[cust]
        amount = rng.normal(mean, customers["std_amount"].to_numpy()[cust])
        negative = amount <= 0
        amount[negative] = rng.uniform(0, 2 * mean[negative])
        is_atm = terminals["kind"].to_numpy()[terminal] == 3
        amount[is_atm] = 20.0 * rng.integers(1, 11, int(is_atm.sum()))
        parts.append({"customer": cust, "terminal": terminal, "ts": seconds * 1000, "amount": amount})
    progress(f"generated {sum(len(p['customer']) for p in parts):,} legitimate transactions")
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def _victims(rng: np.random.Generator, per_day: float, n_days: int, population: int) -> tuple[np.ndarray, np.ndarray]:
    """(day, index) pairs: Poisson(per_day) victims drawn each day."""
    counts = rng.poisson(per_day, n_days)
    days = np.repeat(np.arange(n_days), counts)
    return days, rng.integers(0, population, len(days))


def _inject(
    config: GeneratorConfig,
    rng: np.random.Generator,
    customers: pd.DataFrame,
    terminals: pd.DataFrame,
) -> dict[str, np.ndarray]:
    """Transactions that only exist because of fraud: testing, night, velocity, unusual merchant."""
    start_ms = np.datetime64(config.start_date, "ms").astype(np.int64)
    day_ms = SECONDS_PER_DAY * 1000
    kind = terminals["kind"].to_numpy()
    mcc = terminals["merchant_category"].to_numpy()
    physical = np.flatnonzero((kind == 0) | (kind == 3))
    testing_terms = np.flatnonzero((kind == 1) & (mcc == TESTING_MCC))
    if len(testing_terms) == 0:
        testing_terms = np.flatnonzero(kind == 1) if (kind == 1).any() else physical
    risky = np.flatnonzero(kind == 2)
    if len(risky) == 0:
        risky = physical
    mean_amount = customers["mean_amount"].to_numpy()
    rows: dict[str, list[np.ndarray]] = {k: [] for k in ("customer", "terminal", "ts", "amount", "scenario")}

    def add(cust: np.ndarray, term: np.ndarray, ts: np.ndarray, amount: np.ndarray, scenario: str) -> None:
        rows["customer"].append(cust)
        rows["terminal"].append(term)
        rows["ts"].append(ts.astype(np.int64))
        rows["amount"].append(amount)
        rows["scenario"].append(np.full(len(cust), scenario, dtype=object))

    s, n_days, n_cust = config.scale, config.n_days, len(customers)

    days, victims = _victims(rng, config.card_testing_per_day * s, n_days, n_cust)
    n_small = rng.integers(3, 9, len(victims))
    base = start_ms + days * day_ms + rng.integers(0, day_ms, len(victims))
    victim_rep = np.repeat(victims, n_small)
    step = (
        np.concatenate([np.cumsum(rng.integers(10_000, 120_000, k)) for k in n_small])
        if len(victims)
        else np.zeros(0, np.int64)
    )
    add(
        victim_rep,
        rng.choice(testing_terms, len(victim_rep)),
        np.repeat(base, n_small) + step,
        np.round(rng.uniform(0.5, 3.0, len(victim_rep)), 2),
        "card_testing",
    )
    big_at = (
        base + step[np.cumsum(n_small) - 1] + rng.integers(5 * 60_000, 60 * 60_000, len(victims))
        if len(victims)
        else base
    )
    add(victims, rng.choice(testing_terms, len(victims)), big_at, rng.uniform(300, 1500, len(victims)), "card_testing")

    days, victims = _victims(rng, config.night_spending_per_day * s, n_days, n_cust)
    n_tx = rng.integers(2, 6, len(victims))
    victim_rep = np.repeat(victims, n_tx)
    ts = start_ms + np.repeat(days, n_tx) * day_ms + rng.integers(3600_000, 5 * 3600_000, len(victim_rep))
    add(
        victim_rep,
        rng.choice(physical, len(victim_rep)),
        ts,
        mean_amount[victim_rep] * rng.uniform(1.0, 3.0, len(victim_rep)),
        "night_spending",
    )

    days, victims = _victims(rng, config.velocity_spike_per_day * s, n_days, n_cust)
    n_tx = rng.integers(6, 16, len(victims))
    span = rng.integers(3600_000, 3 * 3600_000, len(victims))
    victim_rep = np.repeat(victims, n_tx)
    begin = start_ms + days * day_ms + rng.integers(8 * 3600_000, 20 * 3600_000, len(victims))
    ts = np.repeat(begin, n_tx) + (rng.random(len(victim_rep)) * np.repeat(span, n_tx)).astype(np.int64)
    add(
        victim_rep,
        rng.choice(physical, len(victim_rep)),
        ts,
        np.abs(rng.normal(mean_amount[victim_rep], mean_amount[victim_rep] / 2)) + 1.0,
        "velocity_spike",
    )

    days, victims = _victims(rng, config.unusual_merchant_per_day * s, n_days, n_cust)
    n_tx = rng.integers(1, 4, len(victims))
    victim_rep = np.repeat(victims, n_tx)
    ts = start_ms + np.repeat(days, n_tx) * day_ms + rng.integers(0, day_ms, len(victim_rep))
    add(victim_rep, rng.choice(risky, len(victim_rep)), ts, rng.uniform(50, 800, len(victim_rep)), "unusual_merchant")

    return {key: np.concatenate(values) for key, values in rows.items()}


def _mark_compromises(
    config: GeneratorConfig,
    rng: np.random.Generator,
    tx: pd.DataFrame,
    n_terminals: int,
    n_customers: int,
) -> None:
    """Mark compromised-terminal and compromised-card frauds on existing transactions, in place."""
    start_ms = np.datetime64(config.start_date, "ms").astype(np.int64)
    day_ms = SECONDS_PER_DAY * 1000
    unmarked = tx["fraud_scenario"].isna().to_numpy()

    days, terms = _victims(
        rng, config.compromised_terminals_per_day * config.terminal_scale, config.n_days, n_terminals
    )
    comp = pd.DataFrame(
        {
            "terminal": terms,
            "from": start_ms + (days + 1) * day_ms,
            "to": start_ms + (days + 1 + config.compromised_terminal_days) * day_ms,
        }
    )
    joined = tx.reset_index()[["index", "terminal", "ts"]].merge(comp, on="terminal")
    hit = joined.loc[(joined["ts"] >= joined["from"]) & (joined["ts"] < joined["to"]), "index"].unique()
    hit = hit[unmarked[hit]]
    tx.loc[hit, "fraud_scenario"] = "compromised_terminal"

    unmarked = tx["fraud_scenario"].isna().to_numpy()
    days, cards = _victims(rng, config.compromised_cards_per_day * config.scale, config.n_days, n_customers)
    comp = pd.DataFrame(
        {
            "customer": cards,
            "from": start_ms + (days + 1) * day_ms,
            "to": start_ms + (days + 1 + config.compromised_card_days) * day_ms,
        }
    )
    joined = tx.reset_index()[["index", "customer", "ts"]].merge(comp, on="customer")
    joined = joined[(joined["ts"] >= joined["from"]) & (joined["ts"] < joined["to"])]
    hit = joined["index"].unique()
    hit = hit[unmarked[hit] & (rng.random(len(hit)) < 1 / 3)]
    tx.loc[hit, "amount"] = tx.loc[hit, "amount"] * 5
    tx.loc[hit, "fraud_scenario"] = "compromised_card"


def _labels(config: GeneratorConfig, rng: np.random.Generator, frauds: pd.DataFrame) -> pd.DataFrame:
    n = len(frauds)
    delay_days = np.clip(rng.lognormal(np.log(config.label_delay_median_days), 0.6, n), 0.1, 14.0)
    late = rng.random(n) < config.late_report_fraction
    delay_days[late] = rng.uniform(14, 45, int(late.sum()))
    if config.label_delay_fixed_days is not None:
        delay_days = np.full(n, config.label_delay_fixed_days)
    delay = pd.to_timedelta(np.round(delay_days * SECONDS_PER_DAY * 1000).astype(np.int64), unit="ms")
    labels = pd.DataFrame(
        {
            "transaction_id": frauds["transaction_id"].to_numpy(),
            "card_id": frauds["card_id"].to_numpy(),
            "terminal_id": frauds["terminal_id"].to_numpy(),
            "event_time": frauds["event_time"].to_numpy(),
            "reported_at": (frauds["event_time"] + delay).to_numpy(),
            "is_fraud": True,
            "fraud_scenario": frauds["fraud_scenario"].to_numpy(),
        }
    )
    return labels.sort_values(["reported_at", "transaction_id"], kind="stable").reset_index(drop=True)


def generate(config: GeneratorConfig, progress: Progress = lambda message: None) -> Dataset:
    """Build the dataset for ``config``; the same config always gives the same frames."""
    rng = np.random.default_rng(config.seed)
    customers = make_customers(config, rng)
    terminals = make_terminals(config, rng)
    progress(f"{len(customers):,} customers, {len(terminals):,} terminals")
    legit = _legitimate(config, rng, customers, terminals, progress)
    injected = _inject(config, rng, customers, terminals)
    tx = pd.DataFrame(
        {
            "customer": np.concatenate([legit["customer"], injected["customer"]]),
            "terminal": np.concatenate([legit["terminal"], injected["terminal"]]),
            "ts": np.concatenate([legit["ts"], injected["ts"]]),
            "amount": np.concatenate([legit["amount"], injected["amount"]]),
            "fraud_scenario": np.concatenate(
                [np.full(len(legit["customer"]), None, dtype=object), injected["scenario"]]
            ),
        }
    )
    end_ms = np.datetime64(config.start_date, "ms").astype(np.int64) + config.n_days * SECONDS_PER_DAY * 1000
    tx = tx[tx["ts"] < end_ms]
    tx = tx.sort_values(["ts", "customer"], kind="stable").reset_index(drop=True)
    _mark_compromises(config, rng, tx, len(terminals), len(customers))
    tx["amount"] = np.round(tx["amount"].to_numpy(), 2)
    large = tx["fraud_scenario"].isna() & (tx["amount"] > config.large_amount_threshold)
    tx.loc[large, "fraud_scenario"] = "large_amount"
    progress(f"marked {int(tx['fraud_scenario'].notna().sum()):,} frauds")

    card = customers["card_id"].to_numpy()[tx["customer"].to_numpy()]
    term = tx["terminal"].to_numpy()
    prefix = hashlib.sha256(f"{config.seed}".encode()).hexdigest()[:6]
    transactions = pd.DataFrame(
        {
            "transaction_id": np.array([f"tx_{prefix}_{i:010d}" for i in range(len(tx))], dtype=object),
            "card_id": card,
            "terminal_id": terminals["terminal_id"].to_numpy()[term],
            "event_time": pd.to_datetime(tx["ts"].to_numpy(), unit="ms", utc=True),
            "amount": tx["amount"].to_numpy(),
            "currency": config.currency,
            "merchant_category": terminals["merchant_category"].to_numpy()[term],
            "channel": terminals["channel"].to_numpy()[term],
            "card_country": customers["country"].to_numpy()[tx["customer"].to_numpy()],
            "terminal_country": terminals["country"].to_numpy()[term],
            "is_fraud": tx["fraud_scenario"].notna().to_numpy(),
            "fraud_scenario": tx["fraud_scenario"].to_numpy(),
        }
    )
    labels = _labels(config, rng, transactions[transactions["is_fraud"]])
    counts = transactions["fraud_scenario"].value_counts().to_dict()
    parameters = config.model_dump(mode="json")
    return Dataset(transactions, labels, parameters, {str(k): int(v) for k, v in counts.items()})


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_dataset(dataset: Dataset, out_dir: Path, elapsed_seconds: float | None = None) -> dict[str, Any]:
    """Write ``transactions.parquet``, ``labels.parquet`` and ``manifest.json``; return the manifest."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tx_path, label_path = out_dir / "transactions.parquet", out_dir / "labels.parquet"
    dataset.transactions.to_parquet(tx_path, index=False)
    dataset.labels.to_parquet(label_path, index=False)
    tx = dataset.transactions
    manifest: dict[str, Any] = {
        "generator_version": GENERATOR_VERSION,
        "created_at": datetime.now(UTC).isoformat(),
        "files": {
            "transactions": {"path": tx_path.name, "sha256": _sha256(tx_path), "rows": len(tx)},
            "labels": {"path": label_path.name, "sha256": _sha256(label_path), "rows": len(dataset.labels)},
        },
        "transactions": len(tx),
        "frauds": int(tx["is_fraud"].sum()),
        "fraud_rate": float(tx["is_fraud"].mean()) if len(tx) else 0.0,
        "cards": int(tx["card_id"].nunique()),
        "terminals": int(tx["terminal_id"].nunique()),
        "event_time_start": tx["event_time"].min().isoformat() if len(tx) else None,
        "event_time_end": tx["event_time"].max().isoformat() if len(tx) else None,
        "scenarios": dataset.scenario_counts,
        "parameters": dataset.parameters,
        "python": platform.python_version(),
        "elapsed_seconds": elapsed_seconds,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def generate_to(config: GeneratorConfig, out_dir: Path, progress: Progress = print) -> dict[str, Any]:
    """Generate and write a dataset, timing the whole run for the manifest."""
    started = time.perf_counter()
    dataset = generate(config, progress)
    return write_dataset(dataset, out_dir, round(time.perf_counter() - started, 3))
