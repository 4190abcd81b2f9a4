"""Content types (what each alert carries) and the ONE projection every engine applies.

Why one place: the Spark path, the single-machine path, the statistics index and the published
``<topic>_schema`` must agree on the columns of an alert, or the consumer cannot decode it.
The output schema derives from the unified archive schema only, so it is the same whatever
nights (eras) a job reads. Column lists follow the real 2023 service (fink.md 6.5).

Input of :func:`project`: a batch of the unified archive schema (+ ``year/month/day``) with
``finkclass``/``tnsclass`` appended by the classification (ZTF). Columns absent from the batch
(pruned or missing) come out as nulls of the output type.
"""

from __future__ import annotations

import dataclasses

import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import UserError


@dataclasses.dataclass(frozen=True)
class Content:
    key: str
    label: str
    bytes_per_alert: int  # nominal size of one real alert (the real portal's labels)


CONTENTS = {
    "ztf": {
        "lightcurve": Content("lightcurve", "Lightcurve (~1.4 KB/alert)", 1_400),
        "cutouts": Content("cutouts", "Cutouts (~41 KB/alert)", 41_000),
        "full": Content("full", "Full packet (~55 KB/alert)", 55_000),
    },
    "elasticc": {
        "full": Content("full", "Full packet (~1.4 KB/alert)", 1_400),
    },
}

LIGHTCURVE_CANDIDATE = ("magpsf", "sigmapsf", "fid", "jd", "ra", "dec")
CUTOUT_CANDIDATE = ("magpsf", "ra", "dec", "jd")
CUTOUTS = ("cutoutScience", "cutoutTemplate", "cutoutDifference")
# COLS_FINK of the 2023 job: appended when present in the archive schema.
COLS_FINK = ("finkclass", "tnsclass", "cdsxmatch", "roid", "mulens", "DR3Name", "Plx", "e_Plx", "gcvs",
             "vsx", "snn_snia_vs_nonia", "snn_sn_vs_all", "rf_snia_vs_nonia", "rf_kn_vs_nonkn",
             "tracklet", "x4lac", "x3hsp", "mangrove", "t2", "anomaly_score", "lc_features_g",
             "lc_features_r")
CLASS_FIELDS = (pa.field("finkclass", pa.string()), pa.field("tnsclass", pa.string()))
PARTITION_FIELDS = (pa.field("year", pa.int32()), pa.field("month", pa.int32()), pa.field("day", pa.int32()))
# Inputs of engine.classification (finkclass from the Fink scores, tnsclass from candidate ra/dec).
ZTF_CLASSIFICATION_INPUTS = ("candidate", "cdsxmatch", "roid", "mulens", "snn_snia_vs_nonia",
                             "snn_sn_vs_all", "rf_snia_vs_nonia", "rf_kn_vs_nonkn", "tracklet")
# The ``candidate`` fields engine.classification reads (finkclass rules + TNS cross-match).
ZTF_CLASSIFICATION_CANDIDATE = ("ndethist", "drb", "classtar", "jd", "jdstarthist", "ra", "dec")


def content_options(survey: str) -> list[dict]:
    """``[{"key", "label", "bytes_per_alert"}]`` for the UI, in display order."""
    return [dataclasses.asdict(c) for c in _contents(survey).values()]


def content_info(survey: str, content: str) -> Content:
    contents = _contents(survey)
    if content not in contents:
        raise UserError(f"unknown content {content!r} for {survey}: choose one of {', '.join(contents)}")
    return contents[content]


def _contents(survey: str) -> dict:
    if survey not in CONTENTS:
        raise UserError(f"unknown survey {survey!r}: choose one of {', '.join(CONTENTS)}")
    return CONTENTS[survey]


def _unified(survey: str) -> pa.Schema:
    from engine.schemas import unified_arrow_schema

    return unified_arrow_schema(survey)


def _string_if_time(field: pa.Field) -> pa.Field:
    if pa.types.is_timestamp(field.type) or pa.types.is_date(field.type):
        return pa.field(field.name, pa.string())
    return field


def output_arrow_schema(survey: str, content: str) -> pa.Schema:
    """The Arrow schema of projected batches (timestamps already strings)."""
    content_info(survey, content)
    unified = _unified(survey)
    if survey == "elasticc":
        fields = [_string_if_time(f) for f in unified] + list(PARTITION_FIELDS)
        return pa.schema(fields)
    if content == "full":
        names = set(unified.names)
        fields = [_string_if_time(f) for f in unified] + list(PARTITION_FIELDS)
        fields += [f for f in CLASS_FIELDS if f.name not in names]
        return pa.schema(fields)
    cand = unified.field("candidate").type
    picks = LIGHTCURVE_CANDIDATE if content == "lightcurve" else CUTOUT_CANDIDATE
    fields = [unified.field("objectId"), unified.field("candid")]
    fields += [pa.field(name, cand.field(name).type) for name in picks]
    if content == "cutouts":
        fields += [unified.field(c) for c in CUTOUTS]
    available = {f.name: f for f in list(unified) + list(CLASS_FIELDS)}
    fields += [_string_if_time(available[c]) for c in COLS_FINK if c in available]
    return pa.schema(fields)


def output_avro_schema(survey: str, content: str) -> dict:
    """THE Avro schema of published alerts for a content type (published on ``<topic>_schema``)."""
    from engine.avro.schema import avro_schema_from_arrow

    return avro_schema_from_arrow(output_arrow_schema(survey, content))


def columns_needed(survey: str, content: str, conditions=()) -> list[str]:
    """Top-level archive columns to read: content + classification inputs + condition columns.

    ``conditions``: column names (``candidate.magpsf`` or ``candidate``) or CompiledCondition.
    Partition and classification columns are not archive columns and are left out.
    """
    unified = _unified(survey)
    out = output_arrow_schema(survey, content)
    wanted = []
    if survey == "ztf" and content != "full":
        wanted += ["objectId", "candid", "candidate"]
    wanted += [n for n in out.names if n in unified.names]
    if survey == "ztf":
        wanted += list(ZTF_CLASSIFICATION_INPUTS)
    for cond in conditions:
        cols = cond.columns_used if hasattr(cond, "columns_used") else [cond]
        wanted += [str(c).split(".", 1)[0] for c in cols]
    keep = set(wanted)
    return [n for n in unified.names if n in keep]


def candidate_fields_needed(survey: str, content: str) -> tuple[str, ...] | None:
    """The ``candidate`` fields that classification + projection of ``content`` read.

    None = the whole struct (full content, ELASTICC). Why: an engine that must move rows across
    a boundary (Spark -> Python) can ship these ~10 fields instead of all ~100 (spark_job).
    """
    content_info(survey, content)
    if survey != "ztf" or content == "full":
        return None
    picks = LIGHTCURVE_CANDIDATE if content == "lightcurve" else CUTOUT_CANDIDATE
    return tuple(dict.fromkeys(picks + ZTF_CLASSIFICATION_CANDIDATE))


# ----------------------------------------------------------------------------- projection

def project(batch: pa.RecordBatch, survey: str, content: str) -> pa.RecordBatch:
    """The output columns of ``content``, in ``output_arrow_schema`` order and types."""
    target = output_arrow_schema(survey, content)
    if isinstance(batch, pa.Table):
        batch = batch.combine_chunks().to_batches()[0] if batch.num_rows else \
            pa.RecordBatch.from_pylist([], schema=batch.schema)
    names = batch.schema.names
    n = batch.num_rows
    cand = batch.column("candidate") if "candidate" in names else None
    flat = set()
    if survey == "ztf" and content in ("lightcurve", "cutouts"):
        flat = set(LIGHTCURVE_CANDIDATE if content == "lightcurve" else CUTOUT_CANDIDATE)
    arrays = []
    for field in target:
        if field.name in flat:
            arr = cand.field(field.name) if cand is not None else None
        else:
            arr = batch.column(field.name) if field.name in names else None
        arrays.append(_conform(arr, field.type, n))
    return pa.RecordBatch.from_arrays(arrays, schema=target)


def _conform(arr, target: pa.DataType, n: int) -> pa.Array:
    if arr is None:
        return pa.nulls(n, target)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type == target:
        return arr
    if pa.types.is_string(target) and (pa.types.is_timestamp(arr.type) or pa.types.is_date(arr.type)):
        return spark_timestamp_strings(arr)
    return pc.cast(arr, target)


def spark_timestamp_strings(arr: pa.Array) -> pa.Array:
    """``CAST(ts AS STRING)`` as Spark writes it: ``2026-03-22 11:06:52.004176``, fraction trimmed."""
    if pa.types.is_date(arr.type):
        return pc.cast(arr, pa.string())
    if arr.type.tz is not None:
        arr = arr.cast(pa.timestamp(arr.type.unit))
    if arr.type.unit == "ns":  # Spark keeps microseconds
        arr = pc.cast(arr, pa.timestamp("us"), safe=False)
    text = pc.cast(arr, pa.string())
    text = pc.replace_substring_regex(text, r"(\.\d*?)0+$", r"\1")
    return pc.replace_substring_regex(text, r"\.$", "")
