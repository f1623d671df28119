"""The local broker's cluster id must be one the Kafka storage tool accepts as an argument value."""

from __future__ import annotations

import uuid

from cli import broker


def test_a_cluster_id_never_starts_with_a_dash_the_storage_tool_would_read_as_an_option(
    monkeypatch,
) -> None:
    # 0xF8 as the first byte encodes to "-" in URL-safe base64: one random id in 64 does this.
    drawn = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(bytes=b"\x10" + bytes(15))])
    monkeypatch.setattr(broker.uuid, "uuid4", lambda: next(drawn))

    cluster_id = broker._kafka_uuid()

    assert cluster_id == "EAAAAAAAAAAAAAAAAAAAAA"
    assert len(cluster_id) == 22


def test_cluster_ids_are_distinct_22_character_url_safe_strings() -> None:
    ids = {broker._kafka_uuid() for _ in range(2000)}

    assert len(ids) == 2000
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)
    assert all(set(i) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") for i in ids)
