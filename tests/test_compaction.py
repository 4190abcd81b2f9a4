"""Final compaction of ``-partitionby`` downloads: one file per folder, exactly-once kept through a
SIGKILL at every durable step of the compaction, resume still finds every batch."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from tests.helpers import CLASSES, ROOT, make_values, publish
from kafka_io.consumer import compaction, offsets
from kafka_io.consumer.decode import Decoder
from kafka_io.consumer.writer import BatchWriter

BATCH = 60


def _write_batches(outdir: Path, n: int = 600,
                   classes: list[str] = CLASSES) -> tuple[list[int], dict[int, list[tuple[int, int]]]]:
    """Small-file state of a finkclass download: batches of BATCH alerts over two Kafka partitions,
    one piece per batch in each class folder."""
    schema, values, candids = make_values(n, classes=classes)
    writer = BatchWriter(str(outdir), "parquet", "finkclass", json.dumps(schema), Decoder(schema))
    ranges: dict[int, list[tuple[int, int]]] = {}
    for i, start in enumerate(range(0, n, BATCH)):
        p, first = i % 2, (i // 2) * BATCH
        writer.write(p, first, first + BATCH - 1, values[start:start + BATCH])
        ranges.setdefault(p, []).append((first, first + BATCH - 1))
    return candids, ranges


def _candids(outdir: Path) -> list[int]:
    files = [p for p in outdir.rglob("*.parquet") if not p.name.startswith(".")]
    return sorted(c for f in files for c in pq.read_table(f, columns=["candid"])["candid"].to_pylist())


def _files_per_folder(outdir: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for f in outdir.rglob("*.parquet"):
        out[f.parent.name] = out.get(f.parent.name, 0) + 1
    return out


def test_compaction_leaves_one_file_per_folder_and_the_same_batches(tmp_path):
    out = tmp_path / "out"
    candids, ranges = _write_batches(out)
    before = _files_per_folder(out)
    assert max(before.values()) == 10  # one piece per batch per class folder
    stats = compaction.compact_outdir(out, batchsize=BATCH)
    assert stats["folders"] == len(before) and stats["files_after"] == len(before)
    assert set(_files_per_folder(out).values()) == {1}
    assert all(compaction.COMPACT_RE.match(f.name) for f in out.rglob("*.parquet"))
    assert _candids(out) == sorted(candids)
    state = offsets.scan(out, clean=True)
    assert state.ranges == ranges and not state.removed
    # The partition column stays in the folder name, the other columns are intact.
    df = pd.read_parquet(out)
    assert len(df) == len(candids) and set(df["finkclass"].astype(str)) >= {"SN candidate", "Unknown"}
    # Compacting again (a resumed download that added batches) merges the old compacted file too.
    schema, values, more = make_values(BATCH, first_candid=99_000_000, seed=1)
    BatchWriter(str(out), "parquet", "finkclass", json.dumps(schema), Decoder(schema)).write(
        0, 300, 300 + BATCH - 1, values)
    compaction.compact_outdir(out, batchsize=BATCH)
    assert set(_files_per_folder(out).values()) == {1}
    assert _candids(out) == sorted(candids + more)
    assert offsets.scan(out).ranges[0][-1] == (300, 300 + BATCH - 1)


def _compact_and_die_at(outdir: str, step: int, counter) -> None:
    """Child process: compaction that SIGKILLs itself at its ``step``-th durable operation."""
    calls = [0]

    def hook(real):
        def wrapped(*a, **kw):
            calls[0] += 1
            counter.value = calls[0]
            if calls[0] == step:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*a, **kw)
        return wrapped

    compaction.os.replace = hook(os.replace)
    compaction.os.fsync = hook(os.fsync)
    compaction.fsync_path = hook(compaction.fsync_path)
    Path.unlink = hook(Path.unlink)
    compaction.compact_outdir(outdir, batchsize=BATCH)


def test_sigkill_at_every_step_of_compaction_then_resume_is_exact(tmp_path):
    pristine = tmp_path / "pristine"
    # 4 batches (2 per partition) in 2 class folders: 4 pieces each, 22 durable steps. Every kind of
    # step (fsync, rename, each unlink, the folder fsyncs) is killed in the first folder (the other
    # still to do) and in the last one (the other done); more folders repeat the same steps.
    candids, ranges = _write_batches(pristine, n=4 * BATCH, classes=CLASSES[:2])
    ctx = mp.get_context("fork")
    counter = ctx.Value("i", 0)
    # Count the durable steps of one full compaction (fsync, rename, unlink).
    probe = tmp_path / "probe"
    shutil.copytree(pristine, probe)
    child = ctx.Process(target=_compact_and_die_at, args=(str(probe), 10**9, counter))
    child.start()
    child.join()
    steps = counter.value
    assert child.exitcode == 0 and steps > 20
    for step in range(1, steps + 1):
        out = tmp_path / f"kill{step}"
        shutil.copytree(pristine, out)
        child = ctx.Process(target=_compact_and_die_at, args=(str(out), step, counter))
        child.start()
        child.join()
        assert child.exitcode == -signal.SIGKILL, step
        state = offsets.scan(out, clean=True)  # what a resumed download does first
        assert state.ranges == ranges, f"killed at step {step}: batches lost or invented"
        assert _candids(out) == sorted(candids), f"killed at step {step}: alerts lost or duplicated"
        assert not list(out.rglob(".part-*")), step
        compaction.compact_outdir(out, batchsize=BATCH)  # the next complete run compacts again
        assert _candids(out) == sorted(candids) and set(_files_per_folder(out).values()) == {1}
        assert offsets.scan(out).ranges == ranges
        shutil.rmtree(out)


def test_partitioned_download_is_compacted_and_resumes_as_complete(no_finkclient_env, topic_name, tmp_path):
    schema, values, candids = make_values(1500)
    publish(no_finkclient_env, topic_name, values, schema)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "cli", "download", "-topic", topic_name, "-outdir", str(out),
           "-partitionby", "finkclass", "-nconsumers", "2", "-batchsize", "100"]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    comp = json.loads((out / f"_manifest_{topic_name}.json").read_text())
    assert comp["complete"] and comp["alerts_written"] == 1500
    assert comp["compaction"]["files_after"] == 5 < comp["compaction"]["files_before"]
    assert set(_files_per_folder(out).values()) == {1}
    assert _candids(out) == sorted(candids)
    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert again.returncode == 0 and "COMPLETE" in again.stdout
    assert _candids(out) == sorted(candids) and set(_files_per_folder(out).values()) == {1}
