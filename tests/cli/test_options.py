"""One home for each default: the configuration models hold them, the CLI passes only what was given."""

from __future__ import annotations

import argparse

import pytest

from cli.main import build_parser
from cli.stream_commands import worker_config
from consumers.scoring.config import WorkerConfig

#: options whose value is not a configuration default: flags (store_true) and help
NOT_DEFAULTS = (argparse._HelpAction, argparse._StoreTrueAction)


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_no_cli_option_carries_a_default_of_its_own() -> None:
    parser = build_parser()
    offenders = [
        f"fraudstream {name} {'/'.join(action.option_strings)} = {action.default!r}"
        for name, command in [("", parser), *_subcommands(parser).items()]
        for action in command._actions
        if action.option_strings and not isinstance(action, NOT_DEFAULTS) and action.default is not None
    ]
    assert offenders == []


def test_every_command_shows_the_config_defaults_in_its_help(capsys) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["worker", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"(default: {WorkerConfig.model_fields['batch_size'].default})" in text


def test_worker_flags_override_the_config_defaults_only_when_given(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("FRAUDSTREAM_HOME", str(tmp_path))
    parser = build_parser()
    plain = worker_config(parser.parse_args(["worker"]))
    defaults = WorkerConfig(bootstrap_servers=plain.bootstrap_servers, model_store=plain.model_store)
    assert plain.model_dump(exclude={"data_dir"}) == defaults.model_dump(exclude={"data_dir"})
    tuned = worker_config(
        parser.parse_args(["worker", "--batch-size", "10", "--fetch-min-bytes", "1", "--app-id", "a"])
    )
    assert (tuned.batch_size, tuned.fetch_min_bytes, tuned.batch_wait) == (10, 1, defaults.batch_wait)
    assert tuned.data_dir == str(tmp_path / "worker" / "a")  # each app id its own state folder
    held = worker_config(parser.parse_args(["worker", "--held-per-partition", "500"]))
    assert (held.held_per_partition, defaults.held_per_partition) == (500, 10_000)
    standbys = worker_config(parser.parse_args(["worker", "--standby-replicas", "0"]))
    assert (standbys.standby_replicas, defaults.standby_replicas) == (0, 1)
    from consumers.scoring.app import faust_app

    assert faust_app(standbys).conf.table_standby_replicas == 0  # reaches Faust


def test_a_bad_value_is_refused_with_the_field_and_the_value() -> None:
    with pytest.raises(ValueError, match="batch_size") as error:
        worker_config(build_parser().parse_args(["worker", "--batch-size", "0"]))
    assert "0" in str(error.value)
