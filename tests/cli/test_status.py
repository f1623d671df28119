"""``fraudstream status``: running workers found by their state-folder locks, the broker, the models."""

from __future__ import annotations

import os

from cli.main import main
from consumers.scoring.state_dir import StateDirClaim
from registry import ModelRegistry
from registry.versions import ARTIFACTS


def test_status_names_running_workers_with_their_pid_the_broker_and_the_production_model(
    tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("FRAUDSTREAM_HOME", str(tmp_path))
    monkeypatch.setenv("FRAUDSTREAM_BOOTSTRAP_SERVERS", "127.0.0.1:1")  # no local broker there
    registry = ModelRegistry(f"file://{tmp_path / 'models'}")
    registry.save_version("v1", dict.fromkeys(ARTIFACTS, b"{}"))
    registry.set_alias("production", "v1")
    claim = StateDirClaim(tmp_path / "worker" / "scoring-a")
    StateDirClaim(tmp_path / "worker" / "scoring-b").release()  # a worker that has exited

    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert f"worker scoring-a: running (pid {os.getpid()}), state {claim.path}" in out
    assert "scoring-b" not in out
    assert "local Kafka broker: not running" in out
    assert "production v1" in out
    second = StateDirClaim(tmp_path / "worker" / "scoring-a")
    assert second.path.name == "process-1"  # status left slot 0 held by its owner
    second.release()

    claim.release()
    assert main(["status"]) == 0
    assert "workers on this host: none running" in capsys.readouterr().out
