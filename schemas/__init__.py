"""Topic contracts: Avro schemas (``schemas/avro``), the pydantic models that mirror them, the codec.

Every producer and consumer encodes and decodes through :class:`AvroCodec`; every reader validates
with the models. Exceptions: :class:`DecodeError` (bytes that are not a known record) and pydantic's
``ValidationError`` (a record whose values are not acceptable).
"""

from schemas.codec import AvroCodec, DecodeError, SchemaStore, schema_fingerprint
from schemas.models import Decision, DriftReport, FeatureDrift, Label, Reason, ShadowResult, Transaction

__all__ = [
    "AvroCodec",
    "Decision",
    "DecodeError",
    "DriftReport",
    "FeatureDrift",
    "Label",
    "Reason",
    "SchemaStore",
    "ShadowResult",
    "Transaction",
    "schema_fingerprint",
]
