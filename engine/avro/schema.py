"""Arrow schema -> Avro schema in the shape Spark's ``SchemaConverters`` + Fink's sanitising give.

Why this exact shape: the consumer decodes every message with the schema published on
``<topic>_schema``; fink-client (fastavro) only decodes our bytes if union branch order and
nullability match what the real service publishes (fink.md 2.4):

* every scalar, array and map is a union ``[T, "null"]`` (type first), whatever the Arrow
  nullability says: Spark marks every Parquet column nullable on read, so the published schema
  never depends on which nights were read;
* records are never unions, at any depth (Fink rebuilds each struct with ``struct(col.*)``);
  a null struct is encoded as a record whose fields are all null;
* array items and map values are ``[item, "null"]``; map keys are strings;
* records are named like Spark: field name as ``name``, the parent's full name as
  ``namespace`` (so ``topLevelRecord.candidate``; nested names stay unique);
* timestamps/dates become ``string`` (the job casts them to strings first).
"""

from __future__ import annotations

import pyarrow as pa

_PRIMITIVES = (
    (pa.types.is_boolean, "boolean"),
    (lambda t: pa.types.is_int8(t) or pa.types.is_int16(t) or pa.types.is_int32(t)
     or pa.types.is_uint8(t) or pa.types.is_uint16(t), "int"),
    (lambda t: pa.types.is_int64(t) or pa.types.is_uint32(t), "long"),
    (lambda t: pa.types.is_float16(t) or pa.types.is_float32(t), "float"),
    (pa.types.is_float64, "double"),
    (lambda t: pa.types.is_string(t) or pa.types.is_large_string(t)
     or pa.types.is_string_view(t), "string"),
    (lambda t: pa.types.is_binary(t) or pa.types.is_large_binary(t)
     or pa.types.is_binary_view(t) or pa.types.is_fixed_size_binary(t), "bytes"),
    (lambda t: pa.types.is_timestamp(t) or pa.types.is_date(t), "string"),
)


def avro_schema_from_arrow(schema: pa.Schema, name: str = "topLevelRecord") -> dict:
    """The Avro record schema (a JSON-able dict) for rows of ``schema``."""
    return _record(list(schema), name, "")


def _record(fields, name: str, namespace: str) -> dict:
    child_ns = f"{namespace}.{name}" if namespace else name
    out = {"type": "record", "name": name}
    if namespace:
        out["namespace"] = namespace
    out["fields"] = [{"name": f.name, "type": _field_type(f.type, f.name, child_ns)} for f in fields]
    return out


def _field_type(t: pa.DataType, name: str, namespace: str):
    """The type of a record field / array item / map value: a union unless it is a record."""
    inner = _avro_type(t, name, namespace)
    if isinstance(inner, dict) and inner["type"] == "record":
        return inner
    return [inner, "null"]


def _avro_type(t: pa.DataType, name: str, namespace: str):
    if pa.types.is_dictionary(t):
        return _avro_type(t.value_type, name, namespace)
    if pa.types.is_struct(t):
        return _record(list(t), name, namespace)
    if pa.types.is_map(t):
        if not (pa.types.is_string(t.key_type) or pa.types.is_large_string(t.key_type)):
            raise TypeError(f"column {name!r}: Avro maps need string keys, got {t.key_type}")
        return {"type": "map", "values": _item_type(t.item_type, name, namespace)}
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return {"type": "array", "items": _item_type(t.value_type, name, namespace)}
    for test, avro in _PRIMITIVES:
        if test(t):
            return avro
    raise TypeError(f"column {name!r}: no Avro mapping for Arrow type {t}")


def _item_type(t: pa.DataType, name: str, namespace: str):
    """Array items / map values are always ``[T, "null"]``, records included (Spark style)."""
    return [_avro_type(t, name, namespace), "null"]


def record_full_names(avro_schema) -> list[str]:
    """Full names of every record, per the Avro naming rules (to check they are unique)."""
    names: list[str] = []

    def walk(node, enclosing_ns: str):
        if isinstance(node, list):
            for x in node:
                walk(x, enclosing_ns)
        elif isinstance(node, dict):
            kind = node.get("type")
            if kind == "record":
                name = node["name"]
                ns = node.get("namespace", enclosing_ns)
                full = name if "." in name else (f"{ns}.{name}" if ns else name)
                names.append(full)
                for f in node["fields"]:
                    walk(f["type"], full.rpartition(".")[0])
            elif kind == "array":
                walk(node["items"], enclosing_ns)
            elif kind == "map":
                walk(node["values"], enclosing_ns)

    walk(avro_schema, "")
    return names
