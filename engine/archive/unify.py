"""Conform Arrow data of any era to the unified superset schema (the fix of the real mixed-era bug).

Rule: columns are matched by name (order does not matter), missing columns and missing struct
fields become nulls, extra ones are dropped, ``mulens`` struct -> double (see
``engine.classification.mulens_as_double``), other types are cast (e.g. timestamp[ns] -> [us]).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from engine.classification import mulens_as_double


def conform_array(arr: pa.Array, target: pa.DataType) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type == target:
        return arr
    if pa.types.is_struct(target):
        if not pa.types.is_struct(arr.type):
            return pa.nulls(len(arr), target)
        names = {arr.type.field(i).name for i in range(arr.type.num_fields)}
        children = [conform_array(arr.field(f.name), f.type) if f.name in names else pa.nulls(len(arr), f.type)
                    for f in target]
        mask = pc.invert(arr.is_valid()) if arr.null_count else None
        flat = [c for c in children]
        # StructArray.field() already accounts for the parent offset; rebuild with the parent mask.
        return pa.StructArray.from_arrays(flat, fields=list(target), mask=mask)
    if pa.types.is_list(target) and (pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type)):
        if arr.offset or arr.null_count:
            values = arr.flatten()
            offsets = arr.offsets
            # offsets of a sliced list array start at offsets[0]; rebase them
            base = offsets[0].as_py()
            offsets = pc.subtract(offsets, base)
            vals = conform_array(values, target.value_type)
            mask = pc.invert(arr.is_valid()) if arr.null_count else None
            return pa.ListArray.from_arrays(offsets, vals, type=target, mask=mask)
        vals = conform_array(arr.values, target.value_type)
        return pa.ListArray.from_arrays(arr.offsets, vals, type=target)
    if pa.types.is_floating(target) and pa.types.is_struct(arr.type):  # mulens struct -> double
        return pc.cast(mulens_as_double(arr), target)
    try:
        return pc.cast(arr, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.nulls(len(arr), target)


def conform_batch(batch, schema: pa.Schema, extra: dict | None = None) -> pa.RecordBatch:
    """A record batch with exactly ``schema`` (+ ``extra`` name -> array columns appended)."""
    if isinstance(batch, pa.Table):
        batch = pa.RecordBatch.from_arrays([c.combine_chunks() for c in batch.columns], schema=batch.schema) \
            if batch.num_rows else pa.RecordBatch.from_pylist([], schema=batch.schema)
    n = batch.num_rows
    names = set(batch.schema.names)
    arrays = [conform_array(batch.column(batch.schema.get_field_index(f.name)), f.type) if f.name in names
              else pa.nulls(n, f.type) for f in schema]
    fields = list(schema)
    for name, arr in (extra or {}).items():
        arrays.append(arr)
        fields.append(pa.field(name, arr.type))
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))
