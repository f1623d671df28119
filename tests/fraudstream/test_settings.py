"""Settings come from FRAUDSTREAM_* variables; child processes get topic names through them."""

from __future__ import annotations

import re

import pytest

from fraudstream.settings import FraudstreamSettings, KafkaSecurity, TopicNames, unknown_variables


def test_topic_names_round_trip_through_the_environment(monkeypatch) -> None:
    topics = TopicNames(transactions="a.tx", labels="a.lb", decisions="a.dec", dlq="a.dlq", drift_reports="a.dr")
    for key, value in topics.as_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("FRAUDSTREAM_BOOTSTRAP_SERVERS", "127.0.0.1:1234")
    settings = FraudstreamSettings()
    assert settings.topics == topics
    assert settings.bootstrap_servers == "127.0.0.1:1234"


def test_security_settings_come_from_the_environment_with_the_password_from_a_file(monkeypatch, tmp_path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret-value\n")
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    for name, value in {"PROTOCOL": "SASL_SSL", "SASL_MECHANISM": "SCRAM-SHA-256", "SASL_USERNAME": "app",
                        "SASL_PASSWORD_FILE": str(secret), "CA_FILE": str(ca)}.items():  # fmt: skip
        monkeypatch.setenv(f"FRAUDSTREAM_SECURITY__{name}", value)
    settings = FraudstreamSettings()
    assert settings.client_config() == {
        "bootstrap.servers": settings.bootstrap_servers, "security.protocol": "SASL_SSL",
        "ssl.endpoint.identification.algorithm": "https", "ssl.ca.location": str(ca),
        "sasl.mechanism": "SCRAM-SHA-256", "sasl.username": "app", "sasl.password": "s3cret-value",
    }  # fmt: skip
    assert "s3cret" not in repr(settings)
    assert "s3cret" not in settings.model_dump_json()
    assert "**********" in settings.model_dump_json()


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"protocol": "SASL_SSL", "sasl_username": "app"}, "needs sasl_username and sasl_password"),
        ({"protocol": "SASL_PLAINTEXT", "sasl_username": "a", "sasl_password": "x", "sasl_password_file": "f"},
         "not both"),
        ({"protocol": "SASL_PLAINTEXT", "sasl_username": "a", "sasl_password_file": "/nonexistent/pw"},
         "cannot read the sasl password file /nonexistent/pw"),
        ({"protocol": "PLAINTEXT", "ca_file": "ca.pem"}, "need an SSL protocol"),
        ({"protocol": "SSL", "cert_file": "c.pem"}, "cert_file and key_file go together"),
        ({"protocol": "SSL", "ca_file": "/nonexistent/ca.pem"}, "ca_file /nonexistent/ca.pem is not a file"),
        ({"protocol": "TLS"}, "PLAINTEXT"),
    ],
)  # fmt: skip
def test_security_settings_that_cannot_connect_are_refused_naming_the_setting(given, message) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        KafkaSecurity(**given)


def test_a_misspelt_setting_variable_is_named_with_the_likely_intended_one() -> None:
    environ = {"FRAUDSTREAM_SECURITY_PROTOCOL": "SSL", "FRAUDSTREAM_BOOTSTRAP_SERVER": "x:1",
               "FRAUDSTREAM_SECURITY__SASL_PASSWORD_FILE": "/f", "FRAUDSTREAM_TEST_KAFKA_PORT": "1",
               "FRAUDSTREAM_TOPICS__DECISIONS": "d", "OTHER": "x"}  # fmt: skip
    assert unknown_variables(environ) == [
        "FRAUDSTREAM_BOOTSTRAP_SERVER (did you mean FRAUDSTREAM_BOOTSTRAP_SERVERS?)",
        "FRAUDSTREAM_SECURITY_PROTOCOL (did you mean FRAUDSTREAM_SECURITY__PROTOCOL?)",
    ]


def test_the_cli_refuses_to_start_with_a_misspelt_setting(monkeypatch, capsys) -> None:
    from cli.main import main

    monkeypatch.setenv("FRAUDSTREAM_SECURITY_PROTOCOL", "SASL_SSL")
    assert main(["topics"]) == 2
    assert "FRAUDSTREAM_SECURITY__PROTOCOL" in capsys.readouterr().err


def test_faust_gets_the_same_security_as_the_librdkafka_clients(tmp_path) -> None:
    import ssl

    import faust

    from consumers.scoring.app import broker_credentials

    assert broker_credentials(KafkaSecurity()) is None
    sasl = broker_credentials(KafkaSecurity(protocol="SASL_SSL", sasl_username="app", sasl_password="pw",
                                            check_hostname=False))  # fmt: skip
    assert isinstance(sasl, faust.SASLCredentials)
    assert (sasl.username, sasl.password, sasl.mechanism.value, sasl.protocol.value) == (
        "app", "pw", "SCRAM-SHA-512", "SASL_SSL")  # fmt: skip
    assert isinstance(sasl.ssl_context, ssl.SSLContext)
    assert not sasl.ssl_context.check_hostname
    plain = broker_credentials(KafkaSecurity(protocol="SASL_PLAINTEXT", sasl_username="a", sasl_password="b",
                                             sasl_mechanism="PLAIN"))  # fmt: skip
    assert plain.protocol.value == "SASL_PLAINTEXT"
    assert plain.ssl_context is None
    assert isinstance(broker_credentials(KafkaSecurity(protocol="SSL")), faust.SSLCredentials)
