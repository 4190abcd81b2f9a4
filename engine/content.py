"""Content presets (what each alert carries) and the ONE projection every engine applies.

Why one place: the Spark path, the single-machine path, the statistics index and the published
``<topic>_schema`` must agree on the columns of an alert, or the consumer cannot decode it.
The output schema derives from the unified archive schema only, so it is the same whatever
nights (eras) a job reads. Each survey declares its presets as a list of
:class:`engine.surveys.OutputColumn` (an output field and the archive path it comes from, so
``candidate.magpsf`` can be published flat as ``magpsf``), in ``engine.surveys.<survey>``.

Input of :func:`project`: a batch of the unified archive schema (+ ``year/month/day``) with the
survey's class columns appended by its classification. Columns absent from the batch (pruned or
missing) come out as nulls of the output type.
"""

from __future__ import annotations

import dataclasses

import pyarrow as pa
import pyarrow.compute as pc

from engine import surveys
from engine.errors import UserError
from engine.surveys import PARTITION_FIELDS, Content, OutputColumn  # noqa: F401 - re-exported

CUSTOM = "custom"             # JobSpec.content when a field list is given
FIELDS_PREFIX = "fields="     # selector of a field list: "fields=diaSource.psfFlux,xm"


def content_options(survey: str) -> list[dict]:
    """``[{"key", "label", "bytes_per_alert"}]`` for the UI, in display order."""
    return [dataclasses.asdict(c) for c in surveys.get(survey).contents.values()]


def content_info(survey: str, content: str) -> Content:
    return surveys.get(survey).content(content)


def _unified(survey: str) -> pa.Schema:
    from engine.schemas import unified_arrow_schema

    return unified_arrow_schema(survey)


def _string_if_time(field: pa.Field) -> pa.Field:
    if pa.types.is_timestamp(field.type) or pa.types.is_date(field.type):
        return pa.field(field.name, pa.string())
    return field


def selector(content: str, fields=()) -> str:
    """What engines carry as "the content": a preset key, or ``fields=a.b,c`` for a field list."""
    return FIELDS_PREFIX + ",".join(fields) if fields else content


def output_columns(survey: str, content: str) -> list:
    """The survey's OutputColumns for a preset or a field-list selector (one-line errors)."""
    s = surveys.get(survey)
    if content.startswith(FIELDS_PREFIX):
        return custom_columns(survey, [f for f in content[len(FIELDS_PREFIX):].split(",") if f])
    s.content(content)
    return s.output_columns(content, _unified(survey))


def selectable_fields(survey: str) -> dict[str, pa.Field]:
    """Every name a field list may hold: whole columns/sections and their ``section.field``s."""
    s = surveys.get(survey)
    out = {}
    for f in list(_unified(survey)) + list(s.classification_fields):
        out[f.name] = f
        if pa.types.is_struct(f.type):
            for child in f.type:
                out[f"{f.name}.{child.name}"] = child
    return out


def nearest_field(survey: str, name: str) -> str:
    import difflib

    names = list(selectable_fields(survey))
    return (difflib.get_close_matches(name, names, n=1, cutoff=0.0) or names[:1])[0]


def custom_columns(survey: str, fields) -> list[OutputColumn]:
    """A field list -> output columns: ``a.b`` published flat as ``b``, a section ``a`` whole,
    plus the survey's ``custom_required`` value (the client partitions on it) when missing."""
    s = surveys.get(survey)
    available = selectable_fields(survey)
    cols: list[OutputColumn] = []
    for name in [str(f).strip() for f in fields if str(f).strip()]:
        if name not in available:
            raise UserError(f"unknown field {name!r} for {s.label}: did you mean {nearest_field(survey, name)!r}?")
        path = tuple(name.split(".", 1))
        col = OutputColumn(pa.field(path[-1], available[name].type), path)
        clash = next((c for c in cols if c.field.name == col.field.name), None)
        if clash is not None and clash.path != path:
            raise UserError(f"fields {'.'.join(clash.path)!r} and {name!r} would both be published as "
                            f"column {col.field.name!r}: keep one")
        if clash is None:
            cols.append(col)
    need = s.custom_required
    if need and not any(c.path == need or c.path == need[:1] for c in cols):
        col = OutputColumn(pa.field(need[-1], available[".".join(need)].type), need)
        if any(c.field.name == col.field.name for c in cols):
            raise UserError(f"column {col.field.name!r} is reserved for {'.'.join(need)} (partitioning)")
        cols.append(col)
    return cols


def output_arrow_schema(survey: str, content: str) -> pa.Schema:
    """The Arrow schema of projected batches (timestamps already strings)."""
    return pa.schema([_string_if_time(c.field) for c in output_columns(survey, content)])


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
    wanted = [c.path[0] for c in output_columns(survey, content)]
    wanted += list(surveys.get(survey).classification_inputs)
    for cond in conditions:
        cols = cond.columns_used if hasattr(cond, "columns_used") else [cond]
        wanted += [str(c).split(".", 1)[0] for c in cols]
    keep = set(wanted)
    return [n for n in unified.names if n in keep]


def candidate_fields_needed(survey: str, content: str) -> tuple[str, ...] | None:
    """The ``candidate`` fields that classification + projection of ``content`` read.

    None = the whole struct. Why: an engine that must move rows across a boundary
    (Spark -> Python) can ship these ~10 fields instead of all ~100 (spark_job).
    """
    if content.startswith(FIELDS_PREFIX):
        return None
    s = surveys.get(survey)
    s.content(content)
    return s.candidate_fields_needed(content)


# ----------------------------------------------------------------------------- projection

def project(batch: pa.RecordBatch, survey: str, content: str) -> pa.RecordBatch:
    """The output columns of ``content``, in ``output_arrow_schema`` order and types."""
    cols = output_columns(survey, content)
    target = pa.schema([_string_if_time(c.field) for c in cols])
    if isinstance(batch, pa.Table):
        batch = batch.combine_chunks().to_batches()[0] if batch.num_rows else \
            pa.RecordBatch.from_pylist([], schema=batch.schema)
    n = batch.num_rows
    arrays = [_conform(_value(batch, c.path), field.type, n) for c, field in zip(cols, target)]
    return pa.RecordBatch.from_arrays(arrays, schema=target)


def _value(batch, path: tuple[str, ...]):
    """The array at ``path`` (top-level column, then struct fields), None if absent."""
    if path[0] not in batch.schema.names:
        return None
    arr = batch.column(path[0])
    for name in path[1:]:
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if not pa.types.is_struct(arr.type) or arr.type.get_field_index(name) < 0:
            return None
        arr = arr.field(name)
    return arr


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
