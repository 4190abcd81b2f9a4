"""Final compaction of a partitioned download: the small part files of each Hive folder become one.

Why: ``-partitionby finkclass`` splits every batch over the classes, so most files hold a few alerts
(fink-broker#1170: about 2.5 per file); readers pay per file. At the end of a COMPLETE download each
folder holding several files averaging under ``batchsize`` rows is rewritten as one
``compact-<id>.parquet`` whose footer lists the part files (the "pieces") it holds, under the key
``fink_transfer.pieces``. The pieces keep the exactly-once bookkeeping of ``offsets.py``: a batch is
complete when each of its ``n`` pieces is on disk either as a part file or inside a compacted file.

Crash safety (SIGKILL at any point), each step durable before the next:
1. write ``.part-compact-<id>.tmp``, fsync (a crash leaves a temp file: removed by the next scan);
2. rename to ``compact-<id>.parquet``, fsync the folder (a crash leaves rows twice on disk, in the
   pieces and in the compacted file: the next scan sees the pieces listed in a complete compacted
   file and deletes them, which finishes the compaction);
3. delete the pieces (and an older compacted file whose pieces the new one includes), fsync.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from engine.fileio import fsync_path
from kafka_io.consumer.offsets import FILE_RE, TMP_PREFIX, TMP_SUFFIX

COMPACT_RE = re.compile(r"^compact-[0-9a-f]{16}\.parquet$")
PIECES_KEY = b"fink_transfer.pieces"


def pieces_of(path: Path) -> list[str] | None:
    """Part file names held by a compacted file (None if it is not readable: not ours)."""
    try:
        meta = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowInvalid):
        return None
    raw = meta.get(PIECES_KEY)
    return json.loads(raw) if raw else None



def _folders(outdir: Path):
    """{folder: ([part files], [compacted files])} for every folder holding our Parquet files."""
    out: dict[Path, tuple[list[Path], list[Path]]] = {}
    for root, dirs, files in os.walk(outdir):
        dirs[:] = [d for d in dirs if not d.startswith((".", "_"))]
        for name in files:
            if name.endswith(".parquet") and FILE_RE.match(name):
                out.setdefault(Path(root), ([], []))[0].append(Path(root) / name)
            elif COMPACT_RE.match(name):
                out.setdefault(Path(root), ([], []))[1].append(Path(root) / name)
    return out


def compact_folder(folder: Path, parts: list[Path], compacted: list[Path], row_group: int) -> Path:
    """Merge ``parts`` (and existing ``compacted`` files) of one folder into one compacted file."""
    sources = sorted(compacted) + sorted(parts)
    pieces: list[str] = []
    for c in compacted:
        pieces += pieces_of(c) or []
    pieces += [p.name for p in parts]
    ident = secrets.token_hex(8)
    final = folder / f"compact-{ident}.parquet"
    tmp = folder / f"{TMP_PREFIX}compact-{ident}{TMP_SUFFIX}"
    schema = pq.read_schema(sources[0]).remove_metadata()
    schema = schema.with_metadata({PIECES_KEY: json.dumps(sorted(pieces)).encode()})
    from kafka_io.consumer.writer import dictionary_columns

    try:
        with pq.ParquetWriter(tmp, schema, use_dictionary=dictionary_columns(schema)) as writer:
            held: list[pa.Table] = []
            rows = 0
            plain = schema.remove_metadata()
            for src in sources:  # batch by batch: memory stays ~ one row group, whatever the folder holds
                for batch in pq.ParquetFile(src).iter_batches(batch_size=row_group):
                    table = pa.Table.from_batches([batch]).replace_schema_metadata(None)
                    held.append(table if table.schema == plain else table.cast(plain))
                    rows += table.num_rows
                    if rows >= row_group:
                        writer.write_table(pa.concat_tables(held), row_group_size=max(rows, 1))
                        held, rows = [], 0
            if held:
                writer.write_table(pa.concat_tables(held), row_group_size=max(rows, 1))
        fsync_path(tmp)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_path(folder)
    for src in sources:
        src.unlink(missing_ok=True)
    fsync_path(folder)
    return final


def compact_outdir(outdir: str | os.PathLike, batchsize: int) -> dict:
    """Compact every folder of ``outdir`` whose files average fewer than ``batchsize`` rows, or that
    holds a compacted file and new part files (a resumed download).

    Returns ``{"folders": compacted folders, "files_before": n, "files_after": m}``."""
    t0 = time.monotonic()
    outdir = Path(outdir)
    folders = _folders(outdir)
    done, before, after = 0, 0, 0
    for folder, (parts, compacted) in sorted(folders.items()):
        files = len(parts) + len(compacted)
        before += files
        if files < 2 or not parts:
            after += files
            continue
        rows = sum(pq.read_metadata(p).num_rows for p in parts + compacted)
        if not compacted and rows / files >= batchsize:  # full batches already: leave them
            after += files
            continue
        compact_folder(folder, parts, compacted, row_group=max(batchsize, 1))
        done += 1
        after += 1
    return {"folders": done, "files_before": before, "files_after": after, "seconds": round(time.monotonic() - t0, 3)}
