"""The slow, obviously-right encoder: Arrow rows -> Python dicts -> ``fastavro.schemaless_writer``.

Why it exists: it is the oracle the vectorised encoder is tested against byte for byte, and the
baseline of ``bench/encode.py``. Arrow's ``to_pylist`` differs from what fastavro wants in two
places, fixed here: maps come as lists of (key, value) pairs (fastavro wants dicts), and a
null struct in a non-union record position must be a record of nulls (Fink's ``struct(col.*)``).
"""

from __future__ import annotations

import io

import pyarrow as pa


def fastavro_rows(batch: pa.RecordBatch, avro_schema: dict) -> list[dict]:
    """Rows of ``batch`` as Python values shaped for ``avro_schema``."""
    rows = batch.to_pylist()
    fields = avro_schema["fields"]
    return [{f["name"]: _shape(r.get(f["name"]), f["type"]) for f in fields} for r in rows]


def _shape(value, t):
    if isinstance(t, list):
        if value is None:
            return None
        inner = next(b for b in t if b != "null")
        return _shape(value, inner)
    if isinstance(t, dict):
        kind = t["type"]
        if kind == "record":
            value = value or {}
            return {f["name"]: _shape(value.get(f["name"]), f["type"]) for f in t["fields"]}
        if kind == "array":
            return [_shape(v, t["items"]) for v in value]
        if kind == "map":
            pairs = value.items() if isinstance(value, dict) else value
            return {k: _shape(v, t["values"]) for k, v in pairs}
    return value


def fastavro_encode(batch: pa.RecordBatch, avro_schema: dict) -> list[bytes]:
    """One schemaless Avro message per row, with fastavro (slow; the reference)."""
    import fastavro

    parsed = fastavro.parse_schema(avro_schema)
    out = []
    for row in fastavro_rows(batch, avro_schema):
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, parsed, row)
        out.append(buf.getvalue())
    return out
