"""The one place for archive schemas: the real alert .avsc files, parsed and converted to Arrow.

The .avsc files live in ``engine/schemas/<survey>/<version>/``. What each survey's lake adds to
them, and its eras (the real Fink lake changed its added-value columns over time; every era is
conformed to ONE superset schema, :func:`unified_arrow_schema`), is declared by the survey's
module in ``engine.surveys``. The output Avro schema per content lives in ``engine.content``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import pyarrow as pa

SCHEMA_DIR = Path(__file__).resolve().parent

# --------------------------------------------------------------------------- Avro files


def _avsc_files(survey: str, version: str) -> list[Path]:
    folder = SCHEMA_DIR / survey / version
    return sorted(folder.glob("*.avsc"))


@lru_cache(maxsize=None)
def load_avro_schemas(survey: str, version: str) -> dict[str, dict]:
    """Parsed .avsc documents of one schema version, keyed by full record name."""
    docs = {}
    for path in _avsc_files(survey, version):
        doc = json.loads(path.read_text())
        ns = doc.get("namespace", "")
        docs[f"{ns}.{doc['name']}" if ns else doc["name"]] = doc
    if not docs:
        raise ValueError(f"no .avsc files for {survey} {version}")
    return docs


def parse_alert_schema(survey: str, version: str):
    """The alert schema parsed by fastavro (sub-records parsed first, as the files reference them)."""
    import fastavro

    docs = load_avro_schemas(survey, version)
    named: dict = {}
    alert_name = next(n for n in docs if n.endswith(".alert"))
    for name, doc in docs.items():
        if name != alert_name:
            try:
                fastavro.parse_schema(doc, named_schemas=named)
            except Exception:  # unrelated schemas of the folder (e.g. ssObject) may not parse
                pass
    return fastavro.parse_schema(docs[alert_name], named_schemas=named)


_AVRO_PRIMITIVES = {
    "string": pa.string(), "bytes": pa.binary(), "int": pa.int32(), "long": pa.int64(),
    "float": pa.float32(), "double": pa.float64(), "boolean": pa.bool_(),
}


def avro_to_arrow(avro_type, docs: dict, namespace: str = "") -> pa.DataType:
    """Arrow type of an Avro type (unions with null become nullable; named types resolved in docs)."""
    if isinstance(avro_type, list):
        branches = [b for b in avro_type if b != "null"]
        if len(branches) != 1:
            raise ValueError(f"unsupported union {avro_type}")
        return avro_to_arrow(branches[0], docs, namespace)
    if isinstance(avro_type, str):
        if avro_type in _AVRO_PRIMITIVES:
            return _AVRO_PRIMITIVES[avro_type]
        full = avro_type if "." in avro_type else f"{namespace}.{avro_type}"
        return avro_to_arrow(docs[full], docs, namespace)
    kind = avro_type["type"]
    if kind == "record":
        ns = avro_type.get("namespace", namespace)
        return pa.struct([pa.field(f["name"], avro_to_arrow(f["type"], docs, ns)) for f in avro_type["fields"]])
    if kind == "array":
        return pa.list_(avro_to_arrow(avro_type["items"], docs, namespace))
    if kind == "map":
        return pa.map_(pa.string(), avro_to_arrow(avro_type["values"], docs, namespace))
    return avro_to_arrow(kind, docs, namespace)


@lru_cache(maxsize=None)
def alert_arrow_schema(survey: str, version: str) -> pa.Schema:
    """Arrow schema of the raw alert (all fields nullable, as Spark writes the lake)."""
    docs = load_avro_schemas(survey, version)
    alert = docs[next(n for n in docs if n.endswith(".alert"))]
    ns = alert.get("namespace", "")
    return pa.schema([pa.field(f["name"], avro_to_arrow(f["type"], docs, ns)) for f in alert["fields"]])


# --------------------------------------------------------------------------- per survey (registry)

# What each survey's lake adds to its alert schema, and its eras: engine.surveys.<survey>.


def _survey(name: str):
    from engine import surveys

    return surveys.get(name)


@lru_cache(maxsize=None)
def era_arrow_schema(survey: str, era: str) -> pa.Schema:
    """Schema of the Parquet rows the generator writes for one era (what the real lake had)."""
    return _survey(survey).era_arrow_schema(era)


PARTITION_FIELDS = [pa.field("year", pa.int32()), pa.field("month", pa.int32()), pa.field("day", pa.int32())]


@lru_cache(maxsize=None)
def unified_arrow_schema(survey: str) -> pa.Schema:
    """The superset schema every era of a survey is conformed to at read time (no year/month/day)."""
    return _survey(survey).unified_arrow_schema()


def unified_with_partitions(survey: str) -> pa.Schema:
    """The unified schema plus the int32 partition columns year, month, day (what readers return)."""
    return pa.schema(list(unified_arrow_schema(survey)) + PARTITION_FIELDS)


def check_survey(survey: str) -> str:
    return _survey(survey).name


def leaf_fields(schema) -> list[tuple[str, str]]:
    """``(dotted name, type)`` of every leaf field, structs walked: what a condition can name."""
    rows: list[tuple[str, str]] = []

    def walk(prefix: str, field: pa.Field) -> None:
        name = f"{prefix}{field.name}"
        if pa.types.is_struct(field.type):
            for child in field.type:
                walk(name + ".", child)
        else:
            rows.append((name, str(field.type)))

    for f in schema:
        walk("", f)
    return rows
