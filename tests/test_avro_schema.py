"""Our Arrow -> Avro schema must have the real Fink Data Transfer layout (fink.md 2.4)."""

from __future__ import annotations

import json

import fastavro
import pyarrow as pa

from engine.avro.schema import avro_schema_from_arrow, record_full_names
from tests.helpers import REFERENCE, arrow_type_of_avro

REAL = REFERENCE / "schemas" / "fink_datatransfer" / "avro_schema_ftransfer_ztf_2026-03-23_11487.json"


def _shape(node):
    """The schema without record names: what decides the binary layout."""
    if isinstance(node, list):
        return [_shape(x) for x in node]
    if isinstance(node, dict):
        kind = node["type"]
        if kind == "record":
            return {"record": [(f["name"], _shape(f["type"])) for f in node["fields"]]}
        if kind == "array":
            return {"array": _shape(node["items"])}
        if kind == "map":
            return {"map": _shape(node["values"])}
        return _shape(kind)
    return node


def test_same_layout_and_nested_names_as_the_real_dumped_schema():
    real = json.loads(REAL.read_text())
    arrow = pa.schema([pa.field(f["name"], arrow_type_of_avro(f["type"], {})) for f in real["fields"]])
    ours = avro_schema_from_arrow(arrow)
    assert _shape(ours) == _shape(real)
    fastavro.parse_schema(ours)
    # nested records: same full names as the real service (its top record is
    # 'topLevelRecord.value' since the 2026 converter; Spark's and 2023's is 'topLevelRecord')
    assert ours["name"] == "topLevelRecord"
    assert record_full_names(ours)[1:] == record_full_names(real)[1:]
    names = record_full_names(ours)
    assert len(names) == len(set(names))
    assert "topLevelRecord.candidate" in names and "topLevelRecord.prv_candidates" in names


def test_type_mapping_and_unions():
    arrow = pa.schema([
        ("i", pa.int32()), ("l", pa.int64()), ("f", pa.float32()), ("d", pa.float64()),
        ("b", pa.binary()), ("ok", pa.bool_()), ("s", pa.string()),
        pa.field("notnull", pa.int32(), nullable=False),
        ("st", pa.struct([("x", pa.struct([("y", pa.int16())]))])),
        ("arr", pa.list_(pa.struct([("z", pa.float64())]))),
        ("m", pa.map_(pa.string(), pa.float32())),
        ("prim_list", pa.list_(pa.int64())),
    ])
    s = avro_schema_from_arrow(arrow)
    types = {f["name"]: f["type"] for f in s["fields"]}
    assert types["i"] == ["int", "null"] and types["l"] == ["long", "null"]
    assert types["f"] == ["float", "null"] and types["d"] == ["double", "null"]
    assert types["b"] == ["bytes", "null"] and types["ok"] == ["boolean", "null"]
    assert types["s"] == ["string", "null"] and types["notnull"] == ["int", "null"]
    assert types["st"] == {"type": "record", "name": "st", "namespace": "topLevelRecord", "fields": [
        {"name": "x", "type": {"type": "record", "name": "x", "namespace": "topLevelRecord.st",
                               "fields": [{"name": "y", "type": ["int", "null"]}]}}]}
    assert types["arr"] == [{"type": "array", "items": [
        {"type": "record", "name": "arr", "namespace": "topLevelRecord",
         "fields": [{"name": "z", "type": ["double", "null"]}]}, "null"]}, "null"]
    assert types["m"] == [{"type": "map", "values": ["float", "null"]}, "null"]
    assert types["prim_list"] == [{"type": "array", "items": ["long", "null"]}, "null"]
