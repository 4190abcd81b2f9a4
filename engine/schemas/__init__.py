"""The one place for archive schemas: the real alert .avsc files and the Fink lake columns per era.

Why per era: the real Fink science lake changed its added-value columns over time (2019-2021
``mulens`` is a struct, 2022 adds Gaia/GCVS/VSX and ``mulens`` becomes a double, 2023 adds
blazar/host/anomaly/feature columns). The real transfer service read periods with different
schemas in one ``spark.read.parquet`` and broke; we read every era and conform it to ONE
superset schema (:func:`unified_arrow_schema`). The output Avro schema per content lives in
``engine.content`` (built from the unified Arrow schema).

The ZTF part (candidate, prv_candidates, cutouts) is identical in Arrow terms for ZTF 3.3 and
4.02 (only union order and one default differ, and Fink's lake drops ``fp_hists``).
"""

from __future__ import annotations

import datetime as dt
import json
from functools import lru_cache
from pathlib import Path

import pyarrow as pa

SCHEMA_DIR = Path(__file__).resolve().parent
SURVEYS = ("ztf", "elasticc")

ZTF_ERAS = ("2019-2021", "2022", "2023+")

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


# --------------------------------------------------------------------------- Fink added values

MULENS_STRUCT = pa.struct([("class_1", pa.string()), ("ml_score_1", pa.float64()),
                           ("class_2", pa.string()), ("ml_score_2", pa.float64())])

LC_FEATURE_NAMES = (
    "mean", "weighted_mean", "standard_deviation", "median", "amplitude", "beyond_1_std", "cusum",
    "inter_percentile_range_10", "kurtosis", "linear_trend", "linear_trend_sigma",
    "linear_trend_noise", "linear_fit_slope", "linear_fit_slope_sigma", "linear_fit_reduced_chi2",
    "magnitude_percentage_ratio_40_5", "magnitude_percentage_ratio_20_10", "maximum_slope",
    "median_absolute_deviation", "median_buffer_range_percentage_10", "percent_amplitude",
    "mean_variance", "anderson_darling_normal", "chi2", "skew", "stetson_K",
)
LC_FEATURES = pa.struct([(n, pa.float64()) for n in LC_FEATURE_NAMES])
MANGROVE = pa.map_(pa.string(), pa.string())
T2 = pa.map_(pa.string(), pa.float32())

CUTOUT_COLUMNS = ("cutoutScience", "cutoutTemplate", "cutoutDifference")

# Column order as in the real lake files of each era (data.md section 2).
_FINK_OLD = [
    ("timestamp", pa.timestamp("us")), ("cdsxmatch", pa.string()), ("rf_snia_vs_nonia", pa.float64()),
    ("snn_snia_vs_nonia", pa.float64()), ("snn_sn_vs_all", pa.float64()), ("mulens", MULENS_STRUCT),
    ("roid", pa.int32()), ("nalerthist", pa.int32()), ("rf_kn_vs_nonkn", pa.float64()),
    ("fink_broker_version", pa.string()), ("fink_science_version", pa.string()), ("tracklet", pa.string()),
]
_GAIA = [("DR3Name", pa.string()), ("Plx", pa.float32()), ("e_Plx", pa.float32()),
         ("gcvs", pa.string()), ("vsx", pa.string())]
_BLAZAR_HOST = [("x3hsp", pa.string()), ("x4lac", pa.string()), ("mangrove", MANGROVE)]
_SCORES = [("roid", pa.int32()), ("rf_snia_vs_nonia", pa.float64()), ("snn_snia_vs_nonia", pa.float64()),
           ("snn_sn_vs_all", pa.float64()), ("mulens", pa.float64()), ("nalerthist", pa.int32()),
           ("rf_kn_vs_nonkn", pa.float64())]
_TAIL = [("fink_broker_version", pa.string()), ("fink_science_version", pa.string()), ("tracklet", pa.string())]


def _ztf_alert_fields(version: str) -> list[pa.Field]:
    return [f for f in alert_arrow_schema("ztf", version) if f.name != "fp_hists"]


def fink_columns(era: str) -> list[tuple[str, pa.DataType]]:
    """Fink added-value columns (and timestamp) of one ZTF era, in lake order."""
    if era == "2019-2021":
        return list(_FINK_OLD)
    head = [("timestamp", pa.timestamp("us")), ("cdsxmatch", pa.string())]
    if era == "2022":
        return head + _GAIA + _SCORES + _TAIL
    if era == "2023+":
        return (head + _GAIA + _BLAZAR_HOST + _SCORES
                + [("anomaly_score", pa.float64()), ("lc_features_g", LC_FEATURES), ("lc_features_r", LC_FEATURES)]
                + _TAIL)
    raise ValueError(f"unknown ZTF era {era!r}")


@lru_cache(maxsize=None)
def era_arrow_schema(survey: str, era: str) -> pa.Schema:
    """Schema of the Parquet rows the generator writes for one era (what the real lake had)."""
    if survey == "ztf":
        alert = _ztf_alert_fields("v3.3")
        if era == "2019-2021":  # candid first, as in the fink 1.3 lake files
            alert = [alert[3]] + alert[:3] + alert[4:]
        return pa.schema(alert + [pa.field(n, t) for n, t in fink_columns(era)])
    if survey == "elasticc":
        return pa.schema(list(alert_arrow_schema("elasticc", "v0_9")) + ELASTICC_BROKER_COLUMNS)
    raise ValueError(f"unknown survey {survey!r}")


ELASTICC_BROKER_COLUMNS = [pa.field("brokerIngestTimestamp", pa.timestamp("us")),
                           pa.field("timestamp", pa.timestamp("us")), pa.field("classId", pa.int32())]

PARTITION_FIELDS = [pa.field("year", pa.int32()), pa.field("month", pa.int32()), pa.field("day", pa.int32())]


@lru_cache(maxsize=None)
def unified_arrow_schema(survey: str) -> pa.Schema:
    """The superset schema every era is conformed to at read time (without year/month/day).

    ZTF: the ZTF alert fields, then every Fink column any era had (plus ``t2``, present in real
    2023 lake files), ``mulens`` as double. ELASTICC: the v0_9 alert + broker columns.
    """
    if survey == "elasticc":
        return era_arrow_schema("elasticc", "v0_9")
    if survey != "ztf":
        raise ValueError(f"unknown survey {survey!r}")
    fields = _ztf_alert_fields("v3.3")
    fink = fink_columns("2023+")
    at = [n for n, _ in fink].index("anomaly_score")
    fink = fink[:at] + [("t2", T2)] + fink[at:]
    return pa.schema(fields + [pa.field(n, t) for n, t in fink])


def unified_with_partitions(survey: str) -> pa.Schema:
    """The unified schema plus the int32 partition columns year, month, day (what readers return)."""
    return pa.schema(list(unified_arrow_schema(survey)) + PARTITION_FIELDS)


def check_survey(survey: str) -> str:
    from engine.errors import UserError

    if survey not in SURVEYS:
        raise UserError(f"unknown survey {survey!r}: choose one of {', '.join(SURVEYS)}")
    return survey


# ZTF 4.02 is announced by live alerts from mid-October 2023 (data.md section 1.1).
ZTF_402_FROM = dt.date(2023, 10, 16)


def ztf_schemavsn(night: dt.date) -> str:
    return "4.02" if night >= ZTF_402_FROM else "3.3"


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
