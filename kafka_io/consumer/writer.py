"""Atomic output files: write a temp name, fsync, rename, fsync the folder.

One batch (consecutive offsets of one Kafka partition) becomes ``n`` files, one per Hive folder
(``<class column>=<value>/``, ``year=2026/month=03/day=22/``, ...), named
``part-p{partition}-o{first}-{last}-{k}of{n}`` (see offsets.py). Names never collide across
processes or runs, so nothing is ever overwritten (the 7.0 bug and fink-client #245). A failed
write (disk full, ...) removes its temp files, so no truncated Parquet is left behind.
"""

from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path
from urllib.parse import quote

import pyarrow as pa

from engine.errors import UserError
from engine.fileio import fsync_path
from engine.surveys import time_columns
from kafka_io.consumer.offsets import TMP_PREFIX, TMP_SUFFIX, file_name

NULL_FOLDER = "__HIVE_DEFAULT_PARTITION__"
JD_UNIX_EPOCH = 2440587.5
MJD_UNIX_EPOCH = 40587.0
EPOCHS = {"jd": JD_UNIX_EPOCH, "mjd": MJD_UNIX_EPOCH}  # of the units in engine.surveys.time_columns()


def _time_missing() -> str:
    named = [f"{struct}.{name} ({label})" for struct, name, _, label in time_columns() if struct]
    return (f"cannot partition by time: the alerts have no {', '.join(named[:-1])} or {named[-1]} field; "
            "choose another -partitionby")


def _segment(value) -> str:
    if value is None:
        return NULL_FOLDER
    return quote(str(value), safe=" ()+,;:!'*&$@[]~")


def _zigzag(n: int) -> bytes:
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def avro_container(schema_json: str, values: list[bytes]) -> bytes:
    """An Avro object container file holding ``values`` as ONE block: schemaless values are
    exactly a block's datum encoding, so no decoding is needed."""
    sync = secrets.token_bytes(16)
    meta = ((b"avro.schema", schema_json.encode()), (b"avro.codec", b"null"))
    header = b"Obj\x01" + _zigzag(len(meta)) + b"".join(
        _zigzag(len(k)) + k + _zigzag(len(v)) + v for k, v in meta) + _zigzag(0) + sync
    body = b"".join(values)
    return header + _zigzag(len(values)) + _zigzag(len(body)) + body + sync


def _time_columns(table: pa.Table) -> pa.Table:
    """year/month/day (zero-padded strings, like fink-client 9+) from the observation time."""
    import numpy as np
    import pyarrow.compute as pc

    for struct, name, unit, _ in time_columns():
        if struct is None:
            if name not in table.column_names:
                continue
            col = table[name]
        else:
            if struct not in table.column_names or table.schema.field(struct).type.get_field_index(name) < 0:
                continue
            col = pc.struct_field(table[struct], name)
        values = col.to_numpy(zero_copy_only=False).astype("float64")
        epoch = EPOCHS[unit]
        seconds = (values - epoch) * 86400.0
        valid = np.isfinite(seconds)
        days = np.where(valid, seconds, 0).astype("datetime64[s]").astype("datetime64[D]")
        text = np.datetime_as_string(days, unit="D")
        mask = ~valid
        table = table.drop_columns([c for c in ("year", "month", "day") if c in table.column_names])
        for label, sl in (("year", slice(0, 4)), ("month", slice(5, 7)), ("day", slice(8, 10))):
            parts = [None if bad else t[sl] for t, bad in zip(text, mask)]
            table = table.append_column(label, pa.array(parts, type=pa.string()))
        return table
    raise UserError(_time_missing())


def dictionary_columns(schema: pa.Schema) -> list[str]:
    """Column paths worth dictionary-encoding in Parquet: strings (classes, cross-matches repeat).

    Trying a dictionary on every column (pyarrow's default) made ``write_table`` 2.1x slower on
    lightcurve batches (numbers are nearly all distinct, so it falls back to plain after paying
    for the attempt) and the files 17 % larger (docs/benchmarks.md, "Consumer").
    """
    out = []

    def walk(prefix: str, t: pa.DataType):
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            out.append(prefix)
        elif pa.types.is_struct(t):
            for f in t:
                walk(f"{prefix}.{f.name}", f.type)
    for f in schema:
        walk(f.name, f.type)
    return out


def _has_time(schema: pa.Schema) -> bool:
    for struct, name, _, _ in time_columns():
        if struct is None and name in schema.names:
            return True
        if struct in schema.names and pa.types.is_struct(schema.field(struct).type) \
                and schema.field(struct).type.get_field_index(name) >= 0:
            return True
    return False


class BatchWriter:
    """Writes decoded batches of one topic into ``outdir``."""

    def __init__(self, outdir: str, outformat: str, partitionby: str | None, schema_json: str,
                 decoder=None):
        self.outdir = Path(outdir)
        self.outformat = outformat
        self.partitionby = partitionby if outformat == "parquet" else None
        self.schema_json = schema_json
        self.decoder = decoder
        if self.partitionby not in (None, "time") and decoder is not None \
                and self.partitionby not in decoder.schema.names:
            raise UserError(f"cannot partition by {self.partitionby}: the topic has no such column")
        if self.partitionby == "time" and decoder is not None and not _has_time(decoder.schema):
            raise UserError(_time_missing())

    def _groups(self, table: pa.Table) -> list[tuple[str, pa.Table]]:
        """(relative folder, rows) per Hive folder; partition columns move from the rows to the folder."""
        if self.partitionby is None:
            return [("", table)]
        cols = ["year", "month", "day"] if self.partitionby == "time" else [self.partitionby]
        if self.partitionby == "time":
            table = _time_columns(table)
        keys = table.select(cols)
        key_rows = keys.to_pylist()
        folders: dict[tuple, list[int]] = {}
        for i, row in enumerate(key_rows):
            folders.setdefault(tuple(row[c] for c in cols), []).append(i)
        data = table.drop_columns(cols)
        out = []
        for key, idx in folders.items():
            folder = "/".join(f"{c}={_segment(v)}" for c, v in zip(cols, key))
            rows = data if len(folders) == 1 else data.take(pa.array(idx, type=pa.int64()))
            out.append((folder, rows))
        return out

    def write(self, partition: int, first: int, last: int, values: list[bytes]) -> int:
        """Write one batch; returns bytes written. Raises UserError (disk full, ...) with nothing left behind."""
        import pyarrow.parquet as pq

        if self.outformat == "avro":
            pieces = [("", avro_container(self.schema_json, values))]
        else:
            pieces = self._groups(self.decoder.table(values))
        n = len(pieces)
        ext = self.outformat
        temps: list[tuple[Path, Path]] = []
        renamed: list[Path] = []
        size = 0
        try:
            for k, (folder, content) in enumerate(pieces, start=1):
                directory = self.outdir / folder if folder else self.outdir
                directory.mkdir(parents=True, exist_ok=True)
                final = directory / file_name(partition, first, last, k, n, ext)
                tmp = directory / f"{TMP_PREFIX}{final.name[len('part-'):]}{TMP_SUFFIX}"
                temps.append((tmp, final))
                if isinstance(content, bytes):
                    with open(tmp, "wb") as fh:
                        fh.write(content)
                        fh.flush()
                        os.fsync(fh.fileno())
                else:
                    pq.write_table(content, tmp, use_dictionary=dictionary_columns(content.schema))
                    fsync_path(tmp)
                size += tmp.stat().st_size
            for tmp, final in temps:
                os.replace(tmp, final)
                renamed.append(final)
            for directory in {final.parent for _, final in temps}:
                fsync_path(directory)
        except OSError as exc:
            for tmp, _ in temps:
                tmp.unlink(missing_ok=True)
            for final in renamed:
                final.unlink(missing_ok=True)
            if exc.errno == errno.ENOSPC or "No space left" in str(exc):
                raise UserError(f"disk full: no space left on device while writing to {self.outdir}") from exc
            raise UserError(f"cannot write to {self.outdir}: {exc.strerror or exc}") from exc
        return size


def parquet_folders(root: str | os.PathLike) -> list[Path]:
    """Top folders under ``root`` that hold Parquet output (one per download), newest first."""
    root = Path(root)
    found: dict[Path, float] = {}
    if root.is_dir():
        for path in root.rglob("*.parquet"):
            top = path.parent
            while top.parent != root and root in top.parents:
                top = top.parent
            found[top] = max(found.get(top, 0.0), path.stat().st_mtime)
    return sorted(found, key=found.get, reverse=True)


def folder_mtime(folder: str | os.PathLike) -> float:
    """Newest mtime below ``folder``: changes when a download adds files (a cache key)."""
    newest = 0.0
    for base, _dirs, files in os.walk(folder):
        for name in files:
            try:
                newest = max(newest, os.stat(os.path.join(base, name)).st_mtime)
            except OSError:
                pass
    return newest
