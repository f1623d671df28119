"""Records written with an older schema version decode with the current one (schemas/avro/history)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import fastavro
import pytest
from fastavro.utils import generate_many

from schemas.codec import SCHEMA_DIR, SCHEMA_FILES, SINGLE_OBJECT_MARKER, AvroCodec, SchemaStore, schema_fingerprint

HISTORY = sorted((SCHEMA_DIR / "history").glob("*.avsc"))
T0 = datetime(2026, 4, 1, 12, tzinfo=UTC)


def _written_with(schema: dict, record: dict) -> bytes:
    """Single-object bytes of ``record`` as a producer holding ``schema`` writes them."""
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(schema), record)
    return SINGLE_OBJECT_MARKER + schema_fingerprint(schema) + body.getvalue()


def _without_defaulted_fields(name: str) -> dict:
    """The current schema of ``name`` before its defaulted fields were added: what an older
    producer under the evolution rule (README here) writes."""
    schema = json.loads((SCHEMA_DIR / SCHEMA_FILES[name]).read_text())
    return {**schema, "fields": [f for f in schema["fields"] if "default" not in f]}


def test_the_history_folder_is_loaded_by_the_default_store(tmp_path: Path, monkeypatch) -> None:
    older = _without_defaulted_fields("Transaction")
    (tmp_path / "history").mkdir()
    (tmp_path / "history" / "transaction.v0.avsc").write_text(json.dumps(older))
    for current in SCHEMA_DIR.glob("*.avsc"):
        (tmp_path / current.name).write_text(current.read_text())
    monkeypatch.setattr("schemas.codec.SCHEMA_DIR", tmp_path)
    store = SchemaStore.default()
    assert store.get(schema_fingerprint(older)) is not None
    record = {"transaction_id": "t1", "card_id": "c1", "terminal_id": "x1", "event_time": T0, "amount": 12.5}
    decoded = AvroCodec.for_record("Transaction", store).decode(_written_with(older, record))
    assert decoded["amount"] == 12.5
    assert (decoded["channel"], decoded["currency"], decoded["card_country"]) == ("UNKNOWN", "EUR", "ZZ")  # defaults


@pytest.mark.parametrize("path", HISTORY, ids=[p.name for p in HISTORY])
def test_every_kept_version_is_readable_by_the_current_schema(path: Path) -> None:
    older = json.loads(path.read_text())
    (name,) = [n for n, f in SCHEMA_FILES.items() if path.name.startswith(Path(f).stem + ".v")]
    current = AvroCodec.for_record(name)  # type: ignore[arg-type]
    # resolution works for every record the old schema can hold iff it works for the schemas
    fastavro.schema.parse_schema(older)
    example = next(iter(generate_many(older, 1)))
    decoded = current.decode(_written_with(older, example))
    assert set(decoded) == {f["name"] for f in current.schema_json["fields"]}
