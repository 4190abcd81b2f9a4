"""Vectorised Arrow -> schemaless Avro encoder (one message per row), byte-identical to fastavro.

Why: with Spark-style schemas (every leaf a ``[T, "null"]`` union) fastavro encodes about 1.3 k
nested alerts/s per core (spark.md 3.2) - too slow to publish a night. This encoder works column
by column on the Arrow buffers with numpy and never builds a Python object per row.

How: every Arrow column is turned into a *segment* ``(off, data)``: ``off`` is int64 of length
``n + 1`` starting at 0 and ``data`` a uint8 array, row ``i`` being ``data[off[i]:off[i+1]]``.

* union ``[T, "null"]``: one branch byte (``0x00``/``0x02``) then the body for present values;
* int/long: zig-zag LEB128 varints; float/double: little-endian IEEE;
* string/bytes: varint length + payload; boolean: one byte;
* record: the row-wise concatenation of its fields' segments (a null struct in a non-union
  position is written as a record of nulls, as Fink's ``struct(col.*)`` does);
* array/map: ``varint(count)`` (when count > 0), the items (map: key string + value), ``0x00``.

Public API:
* ``encode_batch(batch, avro_schema) -> list[bytes]``
* ``encode_to_arrow(batch, avro_schema) -> pa.LargeBinaryArray`` (zero-copy over the output
  buffer; handy for ``mapInArrow`` or for handing a batch of values to a producer).

The schema is a dict as given by ``engine.avro.schema.avro_schema_from_arrow``; fields are
matched to Arrow columns by name and written in the Avro schema's field order.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

U8 = np.uint8
I64 = np.int64

# Average segment length above which per-row slice copies beat numpy fancy indexing.
_MEMCPY_MIN_AVG = 192
# Average record size below which _concat assembles rows with one Arrow take.
_TAKE_MAX_ROW = 4096


# ----------------------------------------------------------------------------- public API

def encode_batch(batch: pa.RecordBatch, avro_schema: dict) -> list[bytes]:
    """One schemaless Avro message per row of ``batch`` (a RecordBatch or a Table)."""
    off, data = _encode_top(batch, avro_schema)
    buf = data.tobytes()
    bounds = off.tolist()
    return [buf[bounds[i]:bounds[i + 1]] for i in range(len(bounds) - 1)]


def encode_to_arrow(batch: pa.RecordBatch, avro_schema: dict) -> pa.LargeBinaryArray:
    """Same as :func:`encode_batch`, as one Arrow large_binary array (no per-row copies)."""
    off, data = _encode_top(batch, avro_schema)
    return pa.Array.from_buffers(
        pa.large_binary(), len(off) - 1, [None, pa.py_buffer(off), pa.py_buffer(data)])


# ----------------------------------------------------------------------------- top level

def _encode_top(batch, avro_schema: dict):
    if isinstance(batch, pa.Table):
        batch = batch.combine_chunks().to_batches()[0] if batch.num_rows else \
            pa.RecordBatch.from_pylist([], schema=batch.schema)
    if not (isinstance(avro_schema, dict) and avro_schema.get("type") == "record"):
        raise TypeError("the top-level Avro schema must be a record")
    n = batch.num_rows
    named: dict = {}
    _register(avro_schema, named, "")
    names = batch.schema.names
    parts = []
    for field in avro_schema["fields"]:
        if field["name"] not in names:
            raise KeyError(f"column {field['name']!r} of the Avro schema is not in the batch")
        parts.append(_encode(batch.column(field["name"]), field["type"], named, field["name"]))
    return _concat(n, parts)


def _register(node, named: dict, ns: str):
    """Collect named types (so a schema may reference a record by name)."""
    if isinstance(node, list):
        for x in node:
            _register(x, named, ns)
    elif isinstance(node, dict):
        kind = node.get("type")
        if kind in ("record", "enum", "fixed"):
            name = node["name"]
            space = node.get("namespace", ns)
            full = name if "." in name else (f"{space}.{name}" if space else name)
            named[full] = node
            named.setdefault(name, node)
            if kind == "record":
                for f in node["fields"]:
                    _register(f["type"], named, full.rpartition(".")[0])
        elif kind == "array":
            _register(node["items"], named, ns)
        elif kind == "map":
            _register(node["values"], named, ns)


def _resolve(t, named: dict):
    if isinstance(t, str) and t in named:
        return named[t]
    if isinstance(t, dict) and t.get("type") in named and t.get("type") not in _PRIMS:
        return named[t["type"]]
    if isinstance(t, dict) and t.get("type") in _PRIMS and len(t) == 1:
        return t["type"]
    return t


_PRIMS = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


# ----------------------------------------------------------------------------- dispatcher

def _encode(arr, avro_type, named, path: str):
    """Segment of ``arr`` (an Arrow Array or ChunkedArray) written as ``avro_type``."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    avro_type = _resolve(avro_type, named)
    if isinstance(avro_type, list):
        return _encode_union(arr, avro_type, named, path)
    if arr.null_count and not _is_record(avro_type):
        raise ValueError(f"{path}: null value for the non-nullable Avro type {_kind(avro_type)}")
    return _encode_body(arr, avro_type, named, path)


def _is_record(t) -> bool:
    return isinstance(t, dict) and t.get("type") == "record"


def _kind(t) -> str:
    return t if isinstance(t, str) else t.get("type", "?")


def _encode_union(arr, branches, named, path):
    branches = [_resolve(b, named) for b in branches]
    kinds = [_kind(b) for b in branches]
    if len(branches) != 2 or kinds.count("null") != 1:
        raise TypeError(f"{path}: only [T, 'null'] unions are supported, got {kinds}")
    null_index = kinds.index("null")
    value_type = branches[1 - null_index]
    tag_value, tag_null = (0, 2) if null_index == 1 else (2, 0)
    n = len(arr)
    if pa.types.is_null(arr.type):
        return _fixed_width(n, 1, np.full(n, tag_null, dtype=U8))
    valid = _validity(arr)
    kind = _kind(value_type)
    if kind in ("float", "double"):
        width = 4 if kind == "float" else 8
        values = _numeric(arr, np.float32 if width == 4 else np.float64)
        return _tagged_fixed(valid, values.view(U8), width, tag_value, tag_null)
    if kind in ("int", "long"):
        return _tagged_varint(valid, _zigzag(_numeric(arr, np.int64)), tag_value, tag_null)
    if kind == "boolean":
        values = _numeric(arr, U8)
        return _tagged_fixed(valid, values, 1, tag_value, tag_null)
    body = _encode_body(arr, value_type, named, path)
    return _tagged(valid, body, tag_value, tag_null)


def _encode_body(arr, t, named, path):
    n = len(arr)
    kind = _kind(t)
    if kind in ("float", "double"):
        width = 4 if kind == "float" else 8
        v = _numeric(arr, np.float32 if width == 4 else np.float64)
        return _fixed_width(n, width, v.view(U8))
    if kind in ("int", "long"):
        return _varints(_zigzag(_numeric(arr, np.int64)))
    if kind == "boolean":
        return _fixed_width(n, 1, _numeric(arr, U8))
    if kind in ("string", "bytes"):
        return _encode_bytes(arr, path)
    if kind == "record":
        if not pa.types.is_struct(arr.type):
            raise TypeError(f"{path}: Avro record needs an Arrow struct, got {arr.type}")
        # flatten() applies the slice offset and ANDs the struct's validity into each child,
        # so a null struct becomes a record of nulls.
        children = dict(zip([f.name for f in arr.type], arr.flatten()))
        parts = []
        for f in t["fields"]:
            if f["name"] not in children:
                raise KeyError(f"{path}: field {f['name']!r} missing in the Arrow struct")
            parts.append(_encode(children[f["name"]], f["type"], named, f"{path}.{f['name']}"))
        return _concat(n, parts)
    if kind == "array":
        return _encode_list(arr, t["items"], named, path)
    if kind == "map":
        return _encode_map(arr, t["values"], named, path)
    if kind == "null":
        return _fixed_width(n, 0, np.empty(0, dtype=U8))
    raise TypeError(f"{path}: unsupported Avro type {kind!r}")


# ----------------------------------------------------------------------------- leaves

def _validity(arr) -> np.ndarray:
    if arr.null_count == 0:
        return np.ones(len(arr), dtype=bool)
    return arr.is_valid().to_numpy(zero_copy_only=False)


def _numeric(arr, dtype) -> np.ndarray:
    """Values as a numpy array of ``dtype`` (nulls replaced by 0; their bytes are dropped)."""
    t = arr.type
    if pa.types.is_timestamp(t) or pa.types.is_date(t) or pa.types.is_float16(t):
        raise TypeError(f"cast {t} before encoding (timestamps are written as strings)")
    if arr.null_count:
        arr = arr.fill_null(False if pa.types.is_boolean(t) else 0)
    v = arr.to_numpy(zero_copy_only=False)
    return np.ascontiguousarray(v.astype(dtype, copy=False))


def _zigzag(v: np.ndarray) -> np.ndarray:
    v = v.astype(I64, copy=False)
    return ((v << 1) ^ (v >> 63)).view(np.uint64)


def _varint_sizes(z: np.ndarray) -> np.ndarray:
    nb = np.ones(len(z), dtype=I64)
    t = z >> np.uint64(7)
    while t.any():
        nb += t > 0
        t = t >> np.uint64(7)
    return nb


def _write_varints(out: np.ndarray, start: np.ndarray, z: np.ndarray, nb: np.ndarray):
    """Write LEB128 varints ``z`` (sizes ``nb``) at positions ``start`` of ``out``."""
    if len(z) == 0:
        return
    out[start] = (z & np.uint64(0x7F)).astype(U8) | np.where(nb > 1, 0x80, 0).astype(U8)
    for k in range(1, int(nb.max())):
        m = nb > k
        byte = ((z[m] >> np.uint64(7 * k)) & np.uint64(0x7F)).astype(U8)
        byte |= np.where(nb[m] - 1 > k, 0x80, 0).astype(U8)
        out[start[m] + k] = byte


def _varints(z: np.ndarray):
    nb = _varint_sizes(z)
    off = _offsets(nb)
    data = np.empty(int(off[-1]), dtype=U8)
    _write_varints(data, off[:-1], z, nb)
    return off, data


def _tagged_varint(valid, z, tag_value, tag_null):
    nb = _varint_sizes(z)
    off = _offsets(np.where(valid, 1 + nb, 1))
    data = np.empty(int(off[-1]), dtype=U8)
    start = off[:-1]
    data[start] = np.where(valid, tag_value, tag_null).astype(U8)
    if valid.all():
        _write_varints(data, start + 1, z, nb)
    elif valid.any():
        _write_varints(data, start[valid] + 1, z[valid], nb[valid])
    return off, data


def _fixed_width(n, width, values):
    return np.arange(n + 1, dtype=I64) * width, values


def _tagged_fixed(valid, vbytes, width, tag_value, tag_null):
    n = len(valid)
    if valid.all():
        rows = np.empty((n, width + 1), dtype=U8)
        rows[:, 0] = tag_value
        rows[:, 1:] = vbytes.reshape(n, width)
        return np.arange(n + 1, dtype=I64) * (width + 1), rows.reshape(-1)
    off = _offsets(np.where(valid, 1 + width, 1))
    # Every row as tag + value bytes, then one boolean compress drops the value bytes of nulls.
    rows = np.empty((n, width + 1), dtype=U8)
    rows[:, 0] = np.where(valid, tag_value, tag_null)
    if width:
        rows[:, 1:] = vbytes.reshape(n, width)
    keep = np.empty((n, width + 1), dtype=bool)
    keep[:, 0] = True
    keep[:, 1:] = valid[:, None]
    return off, rows.reshape(-1)[keep.reshape(-1)]


def _encode_bytes(arr, path):
    t = arr.type
    if pa.types.is_string_view(t) or pa.types.is_fixed_size_binary(t) or pa.types.is_binary_view(t):
        arr = arr.cast(pa.large_binary())
        t = arr.type
    if pa.types.is_large_string(t) or pa.types.is_large_binary(t):
        odt = np.int64
    elif pa.types.is_string(t) or pa.types.is_binary(t):
        odt = np.int32
    else:
        raise TypeError(f"{path}: Avro string/bytes needs an Arrow string or binary, got {t}")
    n = len(arr)
    bufs = arr.buffers()
    o = np.frombuffer(bufs[1], dtype=odt)[arr.offset: arr.offset + n + 1].astype(I64)
    d = np.frombuffer(bufs[2], dtype=U8) if bufs[2] is not None else np.empty(0, U8)
    lengths = np.diff(o)
    if arr.null_count:  # a null slot may still point at bytes: write it as empty
        lengths = np.where(_validity(arr), lengths, 0)
    z = lengths.astype(np.uint64) << np.uint64(1)  # zig-zag of a non-negative length
    nb = _varint_sizes(z)
    off = _offsets(nb + lengths)
    data = np.empty(int(off[-1]), dtype=U8)
    start = off[:-1]
    _write_varints(data, start, z, nb)
    _scatter(data, start + nb, o[:-1], lengths, d)
    return off, data


# ----------------------------------------------------------------------------- containers

def _encode_list(arr, items_type, named, path):
    if pa.types.is_fixed_size_list(arr.type):
        arr = arr.cast(pa.list_(arr.type.value_field))
    n = len(arr)
    lo = arr.offsets.to_numpy().astype(I64)  # n + 1, relative to arr.values
    child = arr.values.slice(int(lo[0]), int(lo[-1] - lo[0]))
    elements = _encode(child, items_type, named, f"{path}[]")
    return _blocks(n, lo, elements)


def _encode_map(arr, values_type, named, path):
    n = len(arr)
    lo = arr.offsets.to_numpy().astype(I64)
    entries = arr.values.slice(int(lo[0]), int(lo[-1] - lo[0]))
    keys, items = entries.flatten()
    if keys.null_count:
        raise ValueError(f"{path}: null map key")
    elements = _concat(len(entries), [
        _encode_bytes(keys, f"{path}.key"),
        _encode(items, values_type, named, f"{path}.value"),
    ])
    return _blocks(n, lo, elements)


def _blocks(n, lo, elements):
    """Avro array/map body per row: [varint(count)] + the row's elements + 0x00."""
    e_off, e_data = elements
    counts = np.diff(lo)
    z = counts.astype(np.uint64) << np.uint64(1)
    nb = np.where(counts > 0, _varint_sizes(z), 0)
    seg_start = e_off[lo[:-1] - lo[0]]
    seg_len = e_off[lo[1:] - lo[0]] - seg_start
    off = _offsets(nb + seg_len + 1)
    data = np.empty(int(off[-1]), dtype=U8)
    start = off[:-1]
    has = counts > 0
    _write_varints(data, start[has], z[has], nb[has])
    _scatter(data, start + nb, seg_start, seg_len, e_data)
    data[off[1:] - 1] = 0
    return off, data


# ----------------------------------------------------------------------------- assembly

def _offsets(lengths: np.ndarray) -> np.ndarray:
    off = np.zeros(len(lengths) + 1, dtype=I64)
    np.cumsum(lengths, out=off[1:])
    return off


def _tagged(valid, body, tag_value, tag_null):
    """Union wrapper around a body segment; the body bytes of null rows are dropped."""
    b_off, b_data = body
    lengths = np.diff(b_off)
    if not valid.all():
        lengths = np.where(valid, lengths, 0)
    off = _offsets(lengths + 1)
    data = np.empty(int(off[-1]), dtype=U8)
    start = off[:-1]
    data[start] = np.where(valid, tag_value, tag_null).astype(U8)
    _scatter(data, start + 1, b_off[:-1], lengths, b_data)
    return off, data


def _concat(n, parts):
    """Row-wise concatenation of segments (a record's fields).

    The parts laid end to end are one Arrow large_binary array of ``k * n`` values (part-major);
    taking them row-major is the output, one C++ memcpy per value: 2.4x faster than numpy byte
    gathers on lightcurve batches (bench/publish.py, docs/benchmarks.md)."""
    k = len(parts)
    if k == 1:
        return parts[0]
    if n == 0 or k == 0:
        return np.zeros(n + 1, dtype=I64), np.empty(0, dtype=U8)
    sizes = np.array([len(data) for _, data in parts], dtype=I64)
    # Large rows (cutouts): the row-by-row memcpy below is faster than copying everything twice.
    if int(sizes.sum()) < _TAKE_MAX_ROW * n and all(int(off[0]) == 0 and int(off[-1]) == len(data)
                                                    for off, data in parts):
        bases = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        big_off = np.empty(k * n + 1, dtype=I64)
        for j, (off, _) in enumerate(parts):
            big_off[j * n:(j + 1) * n] = off[:-1] + bases[j]
        big_off[-1] = int(sizes.sum())
        big = pa.Array.from_buffers(pa.large_binary(), k * n, [
            None, pa.py_buffer(big_off), pa.py_buffer(np.concatenate([d for _, d in parts]))])
        order = (np.arange(n, dtype=I64)[:, None] + np.arange(k, dtype=I64)[None, :] * n).reshape(-1)
        rows = big.take(pa.array(order))
        bufs = rows.buffers()
        value_off = np.frombuffer(bufs[1], dtype=I64)[: k * n + 1]
        out_off = value_off[::k].copy()
        out_off -= out_off[0]
        data = np.frombuffer(bufs[2], dtype=U8)[int(value_off[0]): int(value_off[-1])] if bufs[2] is not None \
            else np.empty(0, dtype=U8)
        return out_off, data
    lengths = [np.diff(off) for off, _ in parts]
    total = np.zeros(n, dtype=I64)
    for ln in lengths:
        total += ln
    out_off = _offsets(total)
    out = np.empty(int(out_off[-1]), dtype=U8)
    pos = out_off[:-1].copy()
    for (off, data), ln in zip(parts, lengths):
        _scatter(out, pos, off[:-1], ln, data)
        pos += ln
    return out_off, out


def _scatter(out, dst_start, src_start, lengths, src):
    """out[dst_start[i] : +lengths[i]] = src[src_start[i] : +lengths[i]] for every row i."""
    n = len(lengths)
    if n == 0:
        return
    total = int(lengths.sum())
    if total == 0:
        return
    if total >= _MEMCPY_MIN_AVG * n:
        # big segments (cutouts, long histories): slice copies are memcpy speed
        for i in np.flatnonzero(lengths).tolist():
            a, s, ln = int(dst_start[i]), int(src_start[i]), int(lengths[i])
            out[a:a + ln] = src[s:s + ln]
        return
    w = int(lengths[0])
    if w and lengths.min() == w and lengths.max() == w:
        cols = np.arange(w)
        out[dst_start[:, None] + cols] = src[src_start[:, None] + cols]
        return
    excl = np.cumsum(lengths) - lengths
    ramp = np.arange(total, dtype=I64)
    dst = ramp + np.repeat(dst_start - excl, lengths)
    srci = ramp + np.repeat(src_start - excl, lengths)
    out[dst] = src[srci]
