"""Every feature's name and exact semantics: the one source of truth for engine, trainer and docs.

Conventions shared by all features (``t`` is the transaction's event time in UTC, to the ms):

* **Card windows** (1 h, 24 h, 7 d, 30 d) cover the card's *earlier* transactions with event time in
  ``[t - W, t)`` **plus the current transaction**. Transactions of the same card with exactly the
  same event time do not see each other, so the features do not depend on the order in which
  simultaneous events arrive.
* **Terminal windows** are whole UTC days. For a transaction on UTC day ``d``, the ``N``-day window
  covers days ``[d - delay - N, d - delay)`` (``delay`` = 7 by default, the Fraud Detection
  Handbook's label delay). It never contains the current day, so the current transaction is never
  in it. Fraud risk counts only fraud labels of that window's transactions *known* at ``t``: those
  whose ``reported_at`` is strictly before ``t - λ``, where ``λ`` (``label_lag_ms``, 1 s by default)
  is the label visibility lag. A label reported later is not known when the transaction is scored.
* **Recent terminal windows** are the same with no delay: days ``[d - N, d)``, up to yesterday.
  Their risk still counts only labels known at ``t``; with report times in the data this
  flags a compromised terminal as soon as its first frauds are reported, not a week later.
* **Card fraud history** counts fraud labels of the card's earlier transactions (event time in
  ``[t - 30d, t)``) known at ``t`` (reported before ``t - λ``).
* Labels with ``is_fraud = false`` (cleared cases) are not used by the features.
* Hours and weekdays are UTC: the schema carries no local time offset.

What a transaction at ``t`` reads is therefore strictly earlier data: the card's transactions
before ``t`` (and itself), transactions of days before ``t``'s day, and labels reported before
``t - λ``. That is what makes a stream exact: a worker that has applied those records when it scores
``t`` gives batch features, and applying later records early never changes them
(``docs/event-time.md``; the stream worker's ``consumers/scoring/alignment.py``).

Why ``λ``: a live worker can know that every label reported before ``t - λ`` has arrived, from
every labels partition and every worker process, without waiting once ``λ`` exceeds the time a
label takes to reach it; proving the same for labels reported just before ``t`` would hold every
transaction back while partitions with no labels to deliver confirm that they have none. A label
is reported days after its transaction, so a second changes no risk worth measuring.

``docs/features.md`` is generated from :data:`FEATURES` (``fraudstream features --markdown``); a
test keeps it in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

HOUR_MS = 3_600_000
DAY_MS = 86_400_000

#: Merchant categories with a high fraud prior (gambling, wire transfer, quasi-cash, direct
#: marketing): a fixed domain list, not learned from labels, so it cannot leak.
HIGH_RISK_MCC = frozenset({"7995", "4829", "6051", "5967"})
#: Amounts below this count as "small" (card testing uses tiny charges before a large one).
SMALL_AMOUNT = 5.0


@dataclass(frozen=True)
class FeatureConfig:
    """Window lengths and state bounds. Part of the feature spec version stored with each model."""

    card_windows_ms: tuple[int, ...] = (HOUR_MS, 24 * HOUR_MS, 7 * DAY_MS, 30 * DAY_MS)
    card_window_names: tuple[str, ...] = ("1h", "24h", "7d", "30d")
    terminal_window_days: tuple[int, ...] = (1, 7, 30)
    terminal_delay_days: int = 7
    terminal_recent_window_days: tuple[int, ...] = (1, 7)
    #: Seconds-since-previous is capped here, and set to it when the card has no earlier transaction.
    max_gap_seconds: float = 30 * 86_400.0
    #: State kept beyond the longest window, so replays a little behind the newest event are exact.
    grace_ms: int = DAY_MS
    #: Caps per key: beyond them the oldest entries are dropped and window counts undercount.
    max_card_entries: int = 2_000
    max_terminal_frauds: int = 10_000
    max_card_frauds: int = 1_000
    #: Terminal duplicate detection covers transactions this many days behind the terminal's newest.
    terminal_dedup_days: int = 2
    #: Label visibility lag λ: a transaction at t counts the fraud labels reported before t - λ.
    label_lag_ms: int = 1_000

    def __post_init__(self) -> None:
        if len(self.card_windows_ms) != len(self.card_window_names):
            raise ValueError("card_windows_ms and card_window_names must have the same length")
        if sorted(self.card_windows_ms) != list(self.card_windows_ms) or min(self.card_windows_ms) <= 0:
            raise ValueError(f"card windows must be positive and increasing, got {self.card_windows_ms}")
        if self.terminal_delay_days < 1:
            raise ValueError(f"terminal_delay_days must be >= 1, got {self.terminal_delay_days}")
        if min(self.terminal_window_days) < 1:
            raise ValueError(f"terminal windows must be >= 1 day, got {self.terminal_window_days}")
        if not 0 <= self.label_lag_ms < DAY_MS:
            raise ValueError(f"label_lag_ms must be in [0, one day), got {self.label_lag_ms}")

    # cached: read for every transaction the worker applies (a property recomputed them each time)
    @cached_property
    def card_retention_ms(self) -> int:
        return max(self.card_windows_ms) + self.grace_ms

    @cached_property
    def terminal_retention_days(self) -> int:
        return self.terminal_delay_days + max(self.terminal_window_days) + self.grace_ms // DAY_MS + 1


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    group: str
    semantics: str
    empty: str


def _lag(config: FeatureConfig) -> str:
    return f"{config.label_lag_ms / 1000:g} s"


def _card_specs(config: FeatureConfig) -> list[FeatureSpec]:
    lag = _lag(config)
    specs = []
    for name in config.card_window_names:
        window = f"earlier transactions of the card in [t - {name}, t) plus this one"
        specs += [
            FeatureSpec(f"card_count_{name}", "card", f"number of {window}", "1 (just this one)"),
            FeatureSpec(f"card_amount_sum_{name}", "card", f"sum of amounts of {window}", "this amount"),
            FeatureSpec(f"card_amount_mean_{name}", "card", f"mean amount of {window}", "this amount"),
        ]
    specs += [
        FeatureSpec(
            "card_amount_ratio_30d",
            "card",
            "amount / mean amount of the card's earlier transactions in [t - 30d, t)",
            "1.0 when there is none (or their mean is 0)",
        ),
        FeatureSpec(
            "card_seconds_since_prev",
            "card",
            "seconds since the card's latest transaction strictly before t, capped at 30 days",
            "2,592,000 (the cap)",
        ),
        FeatureSpec(
            "card_new_terminal_30d",
            "card",
            "1 if the card has no earlier transaction at this terminal in [t - 30d, t), else 0",
            "1",
        ),
        FeatureSpec(
            "card_small_count_24h",
            "card",
            f"earlier transactions of the card in [t - 24h, t) with amount below {SMALL_AMOUNT:g}",
            "0",
        ),
        FeatureSpec(
            "card_fraud_reported_30d",
            "card",
            f"fraud labels of the card's transactions with event time in [t - 30d, t) reported before t - {lag}",
            "0",
        ),
    ]
    return specs


def _terminal_specs(config: FeatureConfig) -> list[FeatureSpec]:
    lag = _lag(config)
    specs = []
    for days in config.terminal_window_days:
        window = f"UTC days [d - {config.terminal_delay_days} - {days}, d - {config.terminal_delay_days})"
        specs += [
            FeatureSpec(f"terminal_count_{days}d", "terminal", f"transactions at the terminal on {window}", "0"),
            FeatureSpec(
                f"terminal_risk_{days}d",
                "terminal",
                f"fraud labels reported before t - {lag} for those transactions / their count ({window})",
                "0.0 when the count is 0",
            ),
        ]
    for days in config.terminal_recent_window_days:
        window = f"UTC days [d - {days}, d)"
        specs += [
            FeatureSpec(f"terminal_recent_count_{days}d", "terminal", f"transactions at the terminal on {window}", "0"),
            FeatureSpec(
                f"terminal_recent_risk_{days}d",
                "terminal",
                f"fraud labels reported before t - {lag} for those transactions / their count ({window})",
                "0.0 when the count is 0",
            ),
        ]
    return specs


TRANSACTION_SPECS = [
    FeatureSpec("amount", "transaction", "the amount", "-"),
    FeatureSpec("amount_log1p", "transaction", "log(1 + amount)", "-"),
    FeatureSpec("hour_sin", "transaction", "sin(2 pi * seconds into the UTC day / 86400)", "-"),
    FeatureSpec("hour_cos", "transaction", "cos(2 pi * seconds into the UTC day / 86400)", "-"),
    FeatureSpec("is_night", "transaction", "1 if the UTC hour is in [0, 6), else 0", "-"),
    FeatureSpec("is_weekend", "transaction", "1 on UTC Saturday or Sunday, else 0", "-"),
]
CATEGORICAL_SPECS = [
    FeatureSpec("channel_ecom", "categorical", "1 if channel is ECOM, else 0", "-"),
    FeatureSpec("channel_atm", "categorical", "1 if channel is ATM, else 0", "-"),
    FeatureSpec(
        "is_cross_border",
        "categorical",
        "1 if card and terminal countries are both known (not ZZ) and differ, else 0",
        "0 when either is unknown",
    ),
    FeatureSpec("mcc_high_risk", "categorical", f"1 if the merchant category is in {sorted(HIGH_RISK_MCC)}", "-"),
]


def feature_specs(config: FeatureConfig | None = None) -> list[FeatureSpec]:
    config = config or FeatureConfig()
    return TRANSACTION_SPECS + _card_specs(config) + _terminal_specs(config) + CATEGORICAL_SPECS


DEFAULT_CONFIG = FeatureConfig()
FEATURES = feature_specs(DEFAULT_CONFIG)
FEATURE_NAMES: tuple[str, ...] = tuple(spec.name for spec in FEATURES)
#: Bumped whenever a definition above changes meaning; stored in every model card.
FEATURE_SPEC_VERSION = "3"


def feature_names(config: FeatureConfig | None = None) -> tuple[str, ...]:
    return tuple(spec.name for spec in feature_specs(config))


def markdown_table(config: FeatureConfig | None = None) -> str:
    """The feature reference as Markdown (written to docs/features.md)."""
    config = config or FeatureConfig()
    lines = [
        "# Features",
        "",
        f"Feature spec version {FEATURE_SPEC_VERSION}. Generated from `features/definitions.py` by",
        "`fraudstream features --markdown`; do not edit by hand.",
        "",
        (__doc__ or "").split("\n\n", 1)[1].split("``docs/features.md``")[0].strip(),
        "",
        "| # | feature | group | definition | when empty |",
        "|---|---|---|---|---|",
    ]
    for index, spec in enumerate(feature_specs(config)):
        lines.append(f"| {index} | `{spec.name}` | {spec.group} | {spec.semantics} | {spec.empty} |")
    return "\n".join(lines) + "\n"


#: Features that are a function of the time of day or the weekday, so a drift window shorter than
#: a week always differs from the all-week reference: the drift consumer reports them but leaves
#: them out of a window's status, and the retrain's drift rule does not count them.
CALENDAR_FEATURES = frozenset({"hour_sin", "hour_cos", "is_night", "is_weekend"})
