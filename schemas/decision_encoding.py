"""Avro encoding of a batch of Decisions for the scoring worker's hot path.

:class:`AvroCodec` (fastavro) spends most of a Decision on the feature map: one dict, and every
feature's key and double walked per record. Here the map of a whole batch is one NumPy structured
array whose constant parts (the block count, every key with its length prefix, the end-of-map
byte) are filled from a template and whose doubles are one column copy per feature; each record
then takes its row's bytes. The other fields are written directly from the Avro rules (zig-zag varint longs,
length-prefixed UTF-8 strings, little-endian doubles, unions by branch index). The output is the
same single-object bytes that :meth:`AvroCodec.encode` writes, byte for byte; the tests compare
the two over varied records, so a change to ``decision.avsc`` that this module does not follow
fails there, and any reader decodes these bytes with :class:`AvroCodec` as before.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from schemas.codec import SINGLE_OBJECT_MARKER, load_schema_json, schema_fingerprint

_DOUBLE = struct.Struct("<d")
_TWO_DOUBLES = struct.Struct("<dd")
_NULL_BRANCH = b"\x00"
_RECORD_BRANCH = b"\x02"
_END = b"\x00"  # an empty array or map, or the end of a non-empty one


def avro_long(n: int) -> bytes:
    """Zig-zag varint, as Avro writes ``int`` and ``long``."""
    n = (n << 1) ^ (n >> 63)
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def avro_string(text: str) -> bytes:
    data = text.encode()
    size = len(data)
    return (bytes((size << 1,)) if size < 64 else avro_long(size)) + data


@dataclass(frozen=True)
class DecisionReason:
    feature: str
    value: float
    contribution: float


@dataclass(frozen=True)
class ShadowVerdict:
    model: str
    score: float
    decision: str


class DecisionBatchEncoder:
    """Single-object Avro bytes of Decisions, a batch at a time, for one feature-name order.

    >>> import numpy as np
    >>> from schemas.codec import AvroCodec
    >>> encoder = DecisionBatchEncoder(["amount", "card_count_1h"])
    >>> (data,) = encoder.encode_batch(
    ...     transaction_ids=["tx1"], card_ids=["card_1"], terminal_ids=["term_9"], event_times_ms=[1_763_791_262_000],
    ...     decision_time_ms=1_763_791_262_050, scores=[0.02], decisions=["APPROVE"], review_threshold=0.5,
    ...     decline_threshold=0.9, model_version="v1", reasons=[[]], features=np.array([[12.5, 3.0]]), shadows=None)
    >>> record = AvroCodec.for_record("Decision").decode(data)
    >>> record["features"], record["decision"]
    ({'amount': 12.5, 'card_count_1h': 3.0}, 'APPROVE')
    """

    def __init__(self, feature_names: Sequence[str], header: bytes | None = None) -> None:
        if not feature_names:
            raise ValueError("a Decision carries at least one feature; got an empty feature list")
        self.feature_names = list(feature_names)
        #: what every record starts with: the single-object marker and fingerprint, or another
        #: framing's header for the same body (``ConfluentCodec.header``)
        self.header = header or SINGLE_OBJECT_MARKER + schema_fingerprint(load_schema_json("Decision"))
        keys = [avro_string(name) for name in self.feature_names]
        count = avro_long(len(keys))
        fields: list[tuple[str, str]] = [("count", f"S{len(count)}")]
        for i, key in enumerate(keys):
            fields += [(f"k{i}", f"S{len(key)}"), (f"v{i}", "<f8")]
        fields.append(("end", "S1"))
        self.map_dtype = np.dtype(fields)  # packed: no alignment padding between fields
        template = np.zeros(1, dtype=self.map_dtype)
        template["count"] = count
        for i, key in enumerate(keys):
            template[f"k{i}"] = key
        template["end"] = _END
        self.map_template = template
        self._strings: dict[str, bytes] = {}  # decisions, model versions, feature and shadow names

    def _constant(self, text: str) -> bytes:
        encoded = self._strings.get(text)
        if encoded is None:
            encoded = self._strings[text] = avro_string(text)
        return encoded

    def feature_maps(self, features: np.ndarray) -> list[bytes]:
        """The Avro ``map<double>`` of each row of ``features`` (columns in ``feature_names`` order)."""
        rows, columns = features.shape
        if columns != len(self.feature_names):
            raise ValueError(f"features have {columns} columns; this encoder writes {len(self.feature_names)}")
        block = np.repeat(self.map_template, rows)
        for i in range(columns):
            block[f"v{i}"] = features[:, i]
        data = block.tobytes()
        size = self.map_dtype.itemsize
        return [data[start : start + size] for start in range(0, rows * size, size)]

    def encode_batch(
        self,
        *,
        transaction_ids: Sequence[str],
        card_ids: Sequence[str],
        terminal_ids: Sequence[str],
        event_times_ms: Sequence[int],
        decision_time_ms: int,
        scores: Sequence[float],
        decisions: Sequence[str],
        review_threshold: float,
        decline_threshold: float,
        model_version: str,
        reasons: Sequence[Sequence[DecisionReason]],
        features: np.ndarray,
        shadows: Sequence[ShadowVerdict] | None,
    ) -> list[bytes]:
        """One encoded Decision per row; every sequence is in row order, ``features`` is (rows, features)."""
        maps = self.feature_maps(np.asarray(features, dtype=np.float64))
        decided_at = avro_long(decision_time_ms)
        model_part = _TWO_DOUBLES.pack(review_threshold, decline_threshold) + self._constant(model_version)
        header, constant, pack_double = self.header, self._constant, _DOUBLE.pack
        out: list[bytes] = []
        for row, feature_map in enumerate(maps):
            why = reasons[row]
            if why:
                parts: list[bytes] = [avro_long(len(why))]
                for reason in why:
                    parts += [constant(reason.feature), _TWO_DOUBLES.pack(reason.value, reason.contribution)]
                parts.append(_END)
                reasons_part = b"".join(parts)
            else:
                reasons_part = _END
            if shadows is None:
                shadow_part = _NULL_BRANCH
            else:
                shadow = shadows[row]
                shadow_part = (
                    _RECORD_BRANCH + constant(shadow.model) + pack_double(shadow.score) + constant(shadow.decision)
                )
            out.append(
                b"".join(
                    (
                        header,
                        avro_string(transaction_ids[row]),
                        avro_string(card_ids[row]),
                        avro_string(terminal_ids[row]),
                        avro_long(event_times_ms[row]),
                        decided_at,
                        pack_double(scores[row]),
                        constant(decisions[row]),
                        model_part,
                        reasons_part,
                        feature_map,
                        shadow_part,
                    )
                )
            )
        return out
