"""Where a download stands: self-describing file names on disk, then committed offsets.

Every output file is named ``part-p{partition}-o{first}-{last}-{k}of{n}.{ext}``: the Kafka
partition, the offset range of the batch it holds, and its index among the ``n`` files that batch
was split into (one per Hive folder). A batch counts as written only when all ``n`` files exist:
files are renamed into place before the offset is committed, so after a crash the names on disk
are the truth whenever a commit was lost. Temporary files (``.part-*.tmp``) are orphans of a
crash and are removed; so are incomplete batches (they will be downloaded again). A compacted
file (``compaction.py``) counts as the part files its footer lists.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

FILE_RE = re.compile(r"^part-p(?P<p>\d+)-o(?P<first>\d+)-(?P<last>\d+)-(?P<k>\d+)of(?P<n>\d+)\.(?P<ext>parquet|avro)$")
TMP_PREFIX = ".part-"
TMP_SUFFIX = ".tmp"


def file_name(partition: int, first: int, last: int, k: int, n: int, ext: str) -> str:
    return f"part-p{partition}-o{first}-{last}-{k}of{n}.{ext}"


@dataclass
class DiskState:
    """Complete batches per partition: ``{partition: [(first, last), ...]}`` sorted by first."""
    ranges: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)

    def next_offset(self, partition: int) -> int | None:
        r = self.ranges.get(partition)
        return r[-1][1] + 1 if r else None

    def alerts(self, partition: int) -> int:
        return sum(last - first + 1 for first, last in self.ranges.get(partition, []))


def _walk(outdir: Path):
    for root, dirs, files in os.walk(outdir):
        dirs[:] = [d for d in dirs if not d.startswith((".", "_"))]
        for name in files:
            yield Path(root) / name, name


def scan(outdir: str | os.PathLike, clean: bool = True) -> DiskState:
    """Read the batches written in ``outdir``; with ``clean``, delete temp files and partial batches."""
    outdir = Path(outdir)
    state = DiskState()
    if not outdir.is_dir():
        return state
    from kafka_io.consumer.compaction import COMPACT_RE, pieces_of

    batches: dict[tuple[int, int, int, int], list[Path]] = {}
    held: dict[tuple[int, int, int, int], set[int]] = {}  # pieces inside compacted files
    compacted: list[tuple[Path, set[str]]] = []
    for path, name in _walk(outdir):
        if name.startswith(TMP_PREFIX) and name.endswith(TMP_SUFFIX):
            if clean:
                path.unlink(missing_ok=True)
                state.removed.append(str(path))
            continue
        m = FILE_RE.match(name)
        if m:
            key = (int(m["p"]), int(m["first"]), int(m["last"]), int(m["n"]))
            batches.setdefault(key, []).append(path)
        elif COMPACT_RE.match(name):
            pieces = pieces_of(path)
            if pieces is not None:
                compacted.append((path, set(pieces)))
    # A compaction killed after its rename: finish it (drop pieces and older compacted files it holds).
    for path, pieces in list(compacted):
        if any(other is not path and pieces <= more and (pieces != more or str(other) < str(path))
               for other, more in compacted):
            if clean:
                path.unlink(missing_ok=True)
                state.removed.append(str(path))
            compacted.remove((path, pieces))
    covered: dict[Path, set[str]] = {}
    for path, pieces in compacted:
        covered.setdefault(path.parent, set()).update(pieces)
        for piece in pieces:
            m = FILE_RE.match(piece)
            if m:
                held.setdefault((int(m["p"]), int(m["first"]), int(m["last"]), int(m["n"])), set()).add(int(m["k"]))
    for key in list(batches):
        paths = batches[key]
        dup = [x for x in paths if x.name in covered.get(x.parent, ())]
        if dup and clean:
            for x in dup:
                x.unlink(missing_ok=True)
                state.removed.append(str(x))
        batches[key] = [x for x in paths if x not in dup]
    for key in held:
        batches.setdefault(key, [])
    for (p, first, last, n), paths in batches.items():
        ks = {int(FILE_RE.match(x.name)["k"]) for x in paths} | held.get((p, first, last, n), set())
        if ks == set(range(1, n + 1)):
            state.ranges.setdefault(p, []).append((first, last))
        elif clean:
            for x in paths:
                x.unlink(missing_ok=True)
                state.removed.append(str(x))
    for p in state.ranges:
        state.ranges[p].sort()
    return state


def remove_outputs(outdir: str | os.PathLike) -> int:
    """Delete our part files (for --restart_from_beginning); returns how many."""
    n = 0
    outdir = Path(outdir)
    if not outdir.is_dir():
        return 0
    from kafka_io.consumer.compaction import COMPACT_RE

    for path, name in _walk(outdir):
        if FILE_RE.match(name) or COMPACT_RE.match(name) or (name.startswith(TMP_PREFIX) and name.endswith(TMP_SUFFIX)):
            path.unlink(missing_ok=True)
            n += 1
    return n


def committed_offsets(consumer, topic: str, partitions: list[int], timeout: float) -> dict[int, int]:
    """Offsets committed by the consumer group (next offset to read), absent when none."""
    from confluent_kafka import KafkaException, TopicPartition

    from engine.errors import BrokerUnavailable

    from kafka_io.retry import call_retrying

    try:
        tps = call_retrying(lambda left: consumer.committed([TopicPartition(topic, p) for p in partitions],
                                                            timeout=left), timeout)
    except KafkaException as exc:
        raise BrokerUnavailable(f"cannot read committed offsets of {topic}: {exc.args[0].str()}") from exc
    return {tp.partition: tp.offset for tp in tps if tp.offset >= 0}


def start_offsets(partitions: list[int], committed: dict[int, int], disk: DiskState,
                  low: dict[int, int]) -> dict[int, int]:
    """Resume point per partition: the furthest of the commit and the files, never below the low watermark."""
    out = {}
    for p in partitions:
        candidates = [low.get(p, 0), committed.get(p, 0)]
        on_disk = disk.next_offset(p)
        if on_disk is not None:
            candidates.append(on_disk)
        out[p] = max(candidates)
    return out
