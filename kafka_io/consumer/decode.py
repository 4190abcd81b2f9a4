"""Schemaless Avro batches -> Arrow tables with types taken from the Avro schema.

Measured on this machine (2 cores, 5000 lightcurve-like alerts of 0.8 KB; see
docs/benchmarks.md "Consumer"): fastavro ``schemaless_reader`` per message ~15.6k alerts/s,
fastavro ``reader`` over an in-memory container file built from the batch ~15.0k/s (the values
are exactly a block's datum encoding), ``pyarrow.Table.from_pylist`` with an explicit schema
~112k/s, the official client's Python ``avro_to_arrow`` ~7.2k/s end to end. ``polars.read_avro``
cannot be used: it panics on Avro maps ("not yet implemented"), and Fink's lightcurve and full
packets have maps (``mangrove``, ``blazar_stats``). So: one parsed schema per download,
``schemaless_reader`` per message, then ``from_pylist`` with the schema-derived Arrow schema, which
also types all-null columns from the schema (fink-client #234) and keeps int32/float32.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pyarrow as pa

_PRIMITIVES = {
    "null": pa.null(), "boolean": pa.bool_(), "int": pa.int32(), "long": pa.int64(),
    "float": pa.float32(), "double": pa.float64(), "bytes": pa.binary(), "string": pa.string(),
}


def arrow_type(avro_type: Any, named: dict) -> pa.DataType:
    """Arrow type of an Avro type (as fink-client 11+: unions -> first non-null branch, nullable)."""
    if isinstance(avro_type, list):
        branches = [t for t in avro_type if t != "null"]
        return arrow_type(branches[0], named) if branches else pa.null()
    if isinstance(avro_type, str):
        if avro_type in _PRIMITIVES:
            return _PRIMITIVES[avro_type]
        if avro_type in named:
            return named[avro_type]
        raise ValueError(f"unknown Avro type {avro_type}")
    kind = avro_type.get("type")
    if isinstance(kind, (dict, list)) or kind in _PRIMITIVES and len(avro_type) <= 2:
        if avro_type.get("logicalType") is None:
            return arrow_type(kind, named)
    if kind == "record":
        t = pa.struct([pa.field(f["name"], arrow_type(f["type"], named)) for f in avro_type["fields"]])
        named[avro_type["name"]] = t
        if avro_type.get("namespace"):
            named[f"{avro_type['namespace']}.{avro_type['name']}"] = t
        return t
    if kind == "array":
        return pa.list_(arrow_type(avro_type["items"], named))
    if kind == "map":
        return pa.map_(pa.string(), arrow_type(avro_type["values"], named))
    if kind == "enum":
        return pa.string()
    if kind == "fixed":
        return pa.binary(avro_type["size"])
    if kind in _PRIMITIVES:  # primitive with a logical type: keep the physical type
        return _PRIMITIVES[kind]
    raise ValueError(f"unknown Avro type {kind}")


def arrow_schema(avro_schema: dict) -> pa.Schema:
    if avro_schema.get("type") != "record":
        raise ValueError("the alert schema must be a record")
    named: dict = {}
    return pa.schema([pa.field(f["name"], arrow_type(f["type"], named)) for f in avro_schema["fields"]])


class Decoder:
    """Decodes batches of one topic's messages; build once per worker (schema parsing is not free).

    Tables come from the vectorised ``arrow_decoder`` (same types, checked value for value against
    this module's fastavro path in tests/test_arrow_decoder.py); the fastavro path stays for schemas
    it does not handle and for a batch it finds corrupt (fastavro then raises its own error).
    """

    def __init__(self, schema_json: str | dict, vectorised: bool = True):
        import fastavro

        from kafka_io.consumer.arrow_decoder import ArrowDecoder, Unsupported

        self.avro_schema = json.loads(schema_json) if isinstance(schema_json, str) else schema_json
        self.parsed = fastavro.parse_schema(self.avro_schema)
        self.schema = arrow_schema(self.avro_schema)
        self._read = fastavro.schemaless_reader
        self.vectorised = None
        if vectorised:
            try:
                self.vectorised = ArrowDecoder(self.avro_schema)
            except Unsupported:
                pass

    def records(self, values: list[bytes]) -> list[dict]:
        read, parsed, BytesIO = self._read, self.parsed, io.BytesIO
        return [read(BytesIO(v), parsed, None) for v in values]

    def table(self, values: list[bytes]) -> pa.Table:
        if self.vectorised is not None:
            from kafka_io.consumer.arrow_decoder import Corrupt, Unsupported
            try:
                return self.vectorised.table(values)
            except (Corrupt, Unsupported, IndexError):
                pass
        return pa.Table.from_pylist(self.records(values), schema=self.schema)
