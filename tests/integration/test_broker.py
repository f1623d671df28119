"""The local broker: idempotent start, status, and the CLI around it."""

from __future__ import annotations

from cli.broker import LocalBroker
from cli.main import main


def test_starting_a_running_broker_is_a_no_op(kafka_broker: LocalBroker) -> None:
    pid = kafka_broker.pid()
    assert pid is not None
    assert kafka_broker.start() == 0.0
    assert kafka_broker.pid() == pid
    assert kafka_broker.is_ready()


def test_cli_status_reports_a_ready_broker(kafka_broker: LocalBroker, capsys, monkeypatch) -> None:
    monkeypatch.setenv("FRAUDSTREAM_HOME", str(kafka_broker.home.parent))
    monkeypatch.setattr("cli.kafka_commands.local_broker", lambda settings, port=None, secure_port=None: kafka_broker)
    assert main(["kafka", "status"]) == 0
    assert "ready" in capsys.readouterr().out


def test_status_of_a_stopped_broker_says_not_ready(tmp_path) -> None:
    broker = LocalBroker(tmp_path / "kafka", port=19999, controller_port=20000)
    assert broker.pid() is None
    assert not broker.is_ready(timeout=0.5)
    assert broker.stop() is False


def test_project_topics_keep_old_event_time_records(bootstrap_servers: str, topic_factory) -> None:
    """Records stamped with last year's event time must not be deleted by time-based retention."""
    from confluent_kafka.admin import AdminClient, ConfigResource

    topic = topic_factory("retention")
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    config = admin.describe_configs([resource])[resource].result()
    assert config["retention.ms"].value == "-1"
    assert int(config["retention.bytes"].value) > 0
