"""``fraudstream demo``: its configuration and flags (the demo itself is ``cli/demo.py``, loaded when it runs)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cli.options import default_help, given, settings_from

__all__ = ["DemoConfig", "register"]


class DemoConfig(BaseModel):
    """What the demo generates, and where it works (default: ``$FRAUDSTREAM_HOME/demo``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    workdir: Path | None = None
    customers: int = Field(default=2_000, ge=100)
    #: the features fill for 37 days (30-day terminal windows, 7 days behind), then training needs
    #: three weeks (train, delay, test)
    history_days: int = Field(default=63, ge=58)
    #: days replayed after the history before the retrain: the drift starts on the 7th, and the
    #: retrain's training week must lie after it (train, delay and test weeks)
    live_days: int = Field(default=28, ge=28)
    seed: int = 7


def cmd_demo(args: argparse.Namespace) -> int:
    from cli.demo import run_demo

    flags = given(args, ["workdir", "customers", "history_days", "live_days", "seed"])
    return run_demo(settings_from(args), DemoConfig(**flags))


def register(sub: Any) -> None:
    demo = sub.add_parser("demo", help="the main job end to end on a small dataset")
    demo.add_argument("--workdir", type=Path, help="where the demo works (default: $FRAUDSTREAM_HOME/demo)")
    demo.add_argument("--customers", type=int, help=default_help("cards to generate", DemoConfig, "customers"))
    demo.add_argument("--history-days", type=int, help=default_help("days of history", DemoConfig, "history_days"))
    demo.add_argument(
        "--live-days", type=int, help=default_help("days replayed before the retrain", DemoConfig, "live_days")
    )
    demo.add_argument("--seed", type=int, help=default_help("the generator's seed", DemoConfig, "seed"))
    demo.set_defaults(func=cmd_demo)
