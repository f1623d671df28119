"""The local broker's secured listener: a throwaway CA, the broker's certificate, and its users.

``fraudstream kafka start --secure-port PORT`` (and the tests' secured broker) add a ``SASL_SSL``
listener on 127.0.0.1:PORT beside the plaintext one: TLS with a certificate signed by a CA made
here for this broker only, and logins by SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN. Everything lives in
``<broker home>/security`` (files readable by their owner only) and is made once, on the first
secured start; a later start reuses it.

- ``ca.pem``: the CA certificate clients verify the broker with (``FRAUDSTREAM_SECURITY__CA_FILE``);
  the CA's key is used once to sign and never written.
- ``broker.p12``, ``broker.p12.password``: the broker's key and certificate chain, for 127.0.0.1
  and localhost, in a PKCS#12 key store (Kafka's PEM key stores need an encrypted key, and Java 17
  reads PKCS#8 keys encrypted only with algorithms older than PBES2).
- ``<user>.password``: one file per user (``FRAUDSTREAM_SECURITY__SASL_PASSWORD_FILE``). SCRAM
  credentials are stored in the cluster's metadata once the broker runs
  (:func:`add_scram_users`); PLAIN logins are checked against the listener's JAAS configuration.

The controller and the broker talk to each other over the plaintext listener: a single local
node has nobody to hide that from, and the secured listener is the one clients are pointed at.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fraudstream.settings import KafkaSecurity

__all__ = ["USERS", "SecurityFiles", "add_scram_users", "listener_properties"]

#: the users every secured local broker has: the project's processes, and a second login for tests
#: and operators that must not share the first one's password
USERS = ("fraudstream", "operator")
SCRAM_ITERATIONS = 8192
_VALID_FOR = datetime.timedelta(days=825)


def _private(path: Path, data: bytes) -> None:
    path.write_bytes(b"")
    path.chmod(0o600)
    path.write_bytes(data)


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fraudstream local"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])  # fmt: skip


@dataclass(frozen=True)
class SecurityFiles:
    """The secured listener's files under ``folder``."""

    folder: Path

    @property
    def ca_file(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def keystore(self) -> Path:
        return self.folder / "broker.p12"

    @property
    def key_password_file(self) -> Path:
        return self.folder / "broker.p12.password"

    def password_file(self, user: str) -> Path:
        return self.folder / f"{user}.password"

    def password(self, user: str) -> str:
        return self.password_file(user).read_text().strip()

    def ensure(self) -> None:
        """Make the CA, the broker's key and certificate and the users' passwords, unless made before."""
        if self.keystore.exists() and all(self.password_file(user).exists() for user in USERS):
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o700)
        now = datetime.datetime.now(datetime.UTC)
        ca_key = _new_key()
        ca_name = _name(f"fraudstream local CA {secrets.token_hex(4)}")
        ca = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + _VALID_FOR)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(ca_key, hashes.SHA256())
        )  # fmt: skip
        key = _new_key()
        hosts = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name("127.0.0.1"))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + _VALID_FOR)
            .add_extension(x509.SubjectAlternativeName(hosts), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256())
        )  # fmt: skip
        key_password = secrets.token_urlsafe(24)
        keystore = pkcs12.serialize_key_and_certificates(
            b"broker", key, cert, [ca], serialization.BestAvailableEncryption(key_password.encode())
        )
        _private(self.key_password_file, key_password.encode())
        _private(self.keystore, keystore)
        self.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        for user in USERS:
            _private(self.password_file(user), secrets.token_urlsafe(24).encode())

    def client_security(self, user: str = USERS[0], mechanism: str = "SCRAM-SHA-512") -> KafkaSecurity:
        """The settings a client of the secured listener uses to log in as ``user``."""
        return KafkaSecurity.model_validate({
            "protocol": "SASL_SSL", "ca_file": self.ca_file, "sasl_mechanism": mechanism,
            "sasl_username": user, "sasl_password_file": self.password_file(user),
        })  # fmt: skip

    def client_environment(self, bootstrap_servers: str, user: str = USERS[0]) -> dict[str, str]:
        """The ``FRAUDSTREAM_*`` variables that point every command at the secured listener as ``user``."""
        return {
            "FRAUDSTREAM_BOOTSTRAP_SERVERS": bootstrap_servers,
            "FRAUDSTREAM_SECURITY__PROTOCOL": "SASL_SSL",
            "FRAUDSTREAM_SECURITY__SASL_MECHANISM": "SCRAM-SHA-512",
            "FRAUDSTREAM_SECURITY__SASL_USERNAME": user,
            "FRAUDSTREAM_SECURITY__SASL_PASSWORD_FILE": str(self.password_file(user)),
            "FRAUDSTREAM_SECURITY__CA_FILE": str(self.ca_file),
        }


def listener_properties(files: SecurityFiles, port: int) -> dict[str, str]:
    """The ``server.properties`` entries of the ``SASL_SSL`` listener on 127.0.0.1:``port``."""
    plain_users = " ".join(f'user_{user}="{files.password(user)}"' for user in USERS)
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    password = files.key_password_file.read_text().strip()
    return {
        "listener.name.sasl_ssl.ssl.keystore.type": "PKCS12",
        "listener.name.sasl_ssl.ssl.keystore.location": str(files.keystore),
        "listener.name.sasl_ssl.ssl.keystore.password": password,
        "listener.name.sasl_ssl.ssl.key.password": password,
        "listener.name.sasl_ssl.sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
        "listener.name.sasl_ssl.plain.sasl.jaas.config":
            f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain_users};",
        "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config": scram,
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": scram,
    }  # fmt: skip


def add_scram_users(bootstrap_servers: str, files: SecurityFiles, timeout: float = 30.0) -> None:
    """Store every user's SCRAM-SHA-256 and -512 credentials in the cluster (idempotent), over the
    plaintext listener at ``bootstrap_servers``."""
    from confluent_kafka.admin import (  # type: ignore[attr-defined]
        AdminClient,
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialUpsertion,
    )

    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    for mechanism in (ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512):  # one change per user a request
        upserts = [
            UserScramCredentialUpsertion(
                user, ScramCredentialInfo(mechanism, SCRAM_ITERATIONS), files.password(user).encode(), os.urandom(16)
            )
            for user in USERS
        ]
        changes: list[Any] = upserts
        for future in admin.alter_user_scram_credentials(changes, request_timeout=timeout).values():
            future.result(timeout=timeout)
