"""``fraudstream status``: what runs on this host, where its logs and state are, and how to stop it."""

from __future__ import annotations

import argparse
from typing import Any

from cli.options import settings_from, store_help, store_uri

__all__ = ["register"]


def cmd_status(args: argparse.Namespace) -> int:
    from cli.kafka_commands import local_broker
    from consumers.scoring.state_dir import held_slots
    from registry import ModelRegistry, RegistryError

    settings = settings_from(args)
    print(f"home: {settings.home} (FRAUDSTREAM_HOME)")
    broker = local_broker(settings)
    pid = broker.pid()
    if pid is None:
        print(f"local Kafka broker: not running (start it: fraudstream kafka start); data {broker.data_dir}")
    else:
        ready = "ready" if broker.is_ready() else "NOT ready"
        print(f"local Kafka broker: running (pid {pid}), {ready} on {broker.bootstrap_servers}; "
              f"logs {broker.log_dir}\n  stop it: fraudstream kafka stop")  # fmt: skip
    workers = [(app.name, slot, owner) for app in sorted((settings.home / "worker").glob("*")) if app.is_dir()
               for slot, owner in held_slots(app)]  # fmt: skip
    if not workers:
        print("workers on this host: none running")
    for app, slot, owner in workers:
        print(f"worker {app}: running (pid {owner}), state {slot}\n"
              f"  stop it: kill -TERM {owner} (it commits its offsets and exits within seconds)")  # fmt: skip
    uri = store_uri(args, settings)
    registry = ModelRegistry(uri)
    aliases = registry.aliases() if registry.versions() else {}
    named = ", ".join(f"{alias} {version}" for alias, version in sorted(aliases.items())) or "no alias set"
    print(f"models: {len(registry.versions())} versions in {uri}; {named}")
    reports = settings.home / "reports"
    if reports.is_dir():
        print(f"training reports: {reports}")
    demo = settings.home / "demo"
    if demo.is_dir():
        print(f"demo: {demo} (its worker log and reports are there)")
    try:
        registry.resolve("production")
    except RegistryError:
        print("  no production model yet: fraudstream train, then fraudstream model promote VERSION")
    return 0


def register(sub: Any) -> None:
    status = sub.add_parser("status", help="what runs on this host, where its logs are, how to stop it")
    status.add_argument("--store", help=store_help)
    status.set_defaults(func=cmd_status)
