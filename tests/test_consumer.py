"""The downloader against the real Apache Kafka broker: exactly-once, types, completion, limit, errors."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import fastavro
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kafka_io.client_config import base_config, producer_config
from kafka_io.manifest import Manifest, publish_manifest
from kafka_io.producer import PartitionWriter, create_transfer_topics
from tests.helpers import ROOT, candids_on_disk, make_values, publish, start_download


def download(*args, timeout=180, **kw):
    return subprocess.run([sys.executable, "-m", "cli", "download", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, **kw)


def parts(outdir: Path) -> list[Path]:
    return sorted(p for p in outdir.rglob("part-*") if p.is_file())


def test_finkclass_partitions_types_and_completeness(no_finkclient_env, topic_name, tmp_path):
    schema, values, candids = make_values(1500)
    totals = publish(no_finkclient_env, topic_name, values, schema)
    out = tmp_path / "out"
    r = download("-topic", topic_name, "-outdir", str(out), "-partitionby", "finkclass", "-nconsumers", "2",
                 "-batchsize", "400")
    assert r.returncode == 0, r.stderr
    assert "COMPLETE" in r.stdout
    assert (out / "finkclass=SN candidate").is_dir()
    assert all(FILE.name.endswith(".parquet") for FILE in parts(out))
    df = pd.read_parquet(out)
    assert sorted(df["candid"]) == sorted(candids)
    assert set(df["finkclass"].astype(str)) == {"SN candidate", "Early SN Ia candidate", "Solar System MPC",
                                                "Unknown", "Kilonova candidate"}
    table = pq.read_table(out)
    types = {f.name: f.type for f in table.schema}
    assert types["candid"] == pa.int64() and types["gaiaVarFlag"] == pa.int32()
    assert types["Plx"] == pa.float32() and table["Plx"].null_count == table.num_rows  # all-null, typed
    assert pa.types.is_struct(types["candidate"]) and types["candidate"].field("jd").type == pa.float64()
    assert pa.types.is_list(types["prv_candidates"]) and pa.types.is_map(types["mangrove"])
    assert isinstance(df["candidate"].iloc[0], dict) and df["candidate"].iloc[0]["jd"] > 2.46e6
    comp = json.loads((out / f"_manifest_{topic_name}.json").read_text())
    assert comp["complete"] and comp["alerts_written"] == 1500 and comp["source"] == "manifest"
    for p, t in totals.items():
        row = comp["partitions"][str(p)]
        assert row["first_offset"] == 0 and row["last_offset"] == t["last_offset"] == row["target_last_offset"]
        assert row["alerts_written"] == t["count"]
    # A second run has nothing left to do and writes nothing new.
    again = download("-topic", topic_name, "-outdir", str(out), "-partitionby", "finkclass")
    assert again.returncode == 0 and "COMPLETE" in again.stdout
    assert sorted(candids_on_disk(out)) == sorted(candids)


def test_sigkill_three_times_then_exact(no_finkclient_env, topic_name, tmp_path):
    schema, values, candids = make_values(6000)
    publish(no_finkclient_env, topic_name, values, schema)
    out = tmp_path / "out"
    args = ("-topic", topic_name, "-outdir", str(out), "-nconsumers", "2", "-batchsize", "150",
            "-partitionby", "time")
    rng = random.Random()
    kills = 0
    for attempt in range(3):
        before = len(parts(out))
        proc = start_download(*args)
        deadline = time.monotonic() + 60
        while len(parts(out)) <= before and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.4))
        if proc.poll() is None:
            # Parent only (workers must die with it), then the whole group.
            if attempt % 2 == 0:
                os.kill(proc.pid, signal.SIGKILL)
            else:
                os.killpg(proc.pid, signal.SIGKILL)
            kills += 1
        proc.communicate(timeout=30)
        time.sleep(0.3)
    assert kills >= 2, "the download finished before it could be killed: make the topic bigger"
    written_after_kills = len(set(candids_on_disk(out))) if parts(out) else 0
    assert written_after_kills < len(candids)
    final = download(*args)
    assert final.returncode == 0, final.stderr
    got = candids_on_disk(out)
    assert len(got) == len(candids) and sorted(got) == sorted(candids)  # no duplicate, none missing
    assert not list(out.rglob("*.tmp"))
    assert {p.name for p in out.iterdir() if p.is_dir()} == {"year=2026"}
    assert sorted(pd.read_parquet(out, columns=["day"])["day"].unique()) == [22, 23, 24]


def test_topic_without_manifest_finishes_by_end_offsets_avro(no_finkclient_env, topic_name, tmp_path):
    schema, values, candids = make_values(800)
    publish(no_finkclient_env, topic_name, values, schema, manifest=None)
    out = tmp_path / "out"
    r = download("-topic", topic_name, "-outdir", str(out), "-outformat", "avro", "-maxtimeout", "5")
    assert r.returncode == 0, r.stderr
    comp = json.loads((out / f"_manifest_{topic_name}.json").read_text())
    assert comp["complete"] and comp["source"] == "broker end offsets"
    got = []
    for f in parts(out):
        assert f.suffix == ".avro"
        with open(f, "rb") as fh:
            got += [rec["candid"] for rec in fastavro.reader(fh)]
    assert sorted(got) == sorted(candids)


def _merge(a: dict, b: dict) -> dict:
    out = {}
    for p in set(a) | set(b):
        ta, tb = a.get(p, {"count": 0, "last_offset": -1}), b.get(p, {"count": 0, "last_offset": -1})
        out[p] = {"count": ta["count"] + tb["count"], "last_offset": max(ta["last_offset"], tb["last_offset"])}
    return out


def test_running_manifest_waits_for_the_job(no_finkclient_env, topic_name, tmp_path):
    schema, values, candids = make_values(1000)
    first = publish(no_finkclient_env, topic_name, values[:400], schema, manifest="running")
    out = tmp_path / "out"
    proc = start_download("-topic", topic_name, "-outdir", str(out), "-nconsumers", "2", "-batchsize", "1000")
    try:
        deadline = time.monotonic() + 60
        while (not parts(out) or len(candids_on_disk(out)) < 400) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2.5)  # everything published so far is written; the job is still running
        assert proc.poll() is None, proc.communicate()
        assert len(candids_on_disk(out)) == 400
        second = publish(no_finkclient_env, topic_name, values[400:], None, manifest=None, create=False)
        totals = _merge(first, second)
        publish_manifest(producer_config(no_finkclient_env), Manifest(topic=topic_name, status="done", partitions=totals,
                                                        total=1000))
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, stderr
    assert sorted(candids_on_disk(out)) == sorted(candids)
    assert "COMPLETE" in stdout


def test_limit_then_resume(no_finkclient_env, topic_name, tmp_path):
    schema, values, candids = make_values(1200)
    publish(no_finkclient_env, topic_name, values, schema)
    out = tmp_path / "out"
    r = download("-topic", topic_name, "-outdir", str(out), "-limit", "700", "-batchsize", "100")
    assert r.returncode == 0, r.stderr
    assert len(set(candids_on_disk(out))) == len(candids_on_disk(out)) == 700
    comp = json.loads((out / f"_manifest_{topic_name}.json").read_text())
    assert not comp["complete"] and comp["stopped_by"] == "limit" and comp["alerts_written"] == 700
    r = download("-topic", topic_name, "-outdir", str(out))
    assert r.returncode == 0, r.stderr
    assert sorted(candids_on_disk(out)) == sorted(candids)


def test_sigterm_stops_cleanly_and_resumes(no_finkclient_env, topic_name, tmp_path):
    schema, values, candids = make_values(600)
    publish(no_finkclient_env, topic_name, values, schema, manifest="running")  # never finishes by itself
    out = tmp_path / "out"
    proc = start_download("-topic", topic_name, "-outdir", str(out), "-batchsize", "50000")
    deadline = time.monotonic() + 60
    while not parts(out) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.5)
    os.kill(proc.pid, signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    comp = json.loads((out / f"_manifest_{topic_name}.json").read_text())
    assert comp["state"] == "cancelled" and not comp["complete"] and comp["alerts_written"] == 600
    assert sorted(candids_on_disk(out)) == sorted(candids)


def _one_line_error(r):
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, r.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    return lines[0]


def test_errors_are_one_line_exit_2(no_finkclient_env, topic_name, tmp_path, monkeypatch):
    out = str(tmp_path / "out")
    assert "does not exist" in _one_line_error(download("-topic", topic_name, "-outdir", out))
    # A data topic without schema.
    admin, pconf = base_config(no_finkclient_env), producer_config(no_finkclient_env)
    create_transfer_topics(admin, topic_name)
    w = PartitionWriter(pconf, topic_name, seed=1)
    w.send(make_values(20)[1])
    w.close()
    assert "no schema found" in _one_line_error(download("-topic", topic_name, "-outdir", out,
                                                         "-maxtimeout", "2"))
    # Broker down.
    from kafka_io.broker import free_port
    down = dict(os.environ, FINK_TRANSFER_KAFKA__BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}")
    t0 = time.monotonic()
    assert "not reachable" in _one_line_error(download("-topic", topic_name, "-outdir", out,
                                                       "-maxtimeout", "3", env=down))
    assert time.monotonic() - t0 < 30
    # Bad flag values.
    assert "unknown partitioning" in _one_line_error(download("-topic", topic_name, "-partitionby", "night"))


def test_disk_full_leaves_no_corrupt_parquet(no_finkclient_env, topic_name, tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tiny tmpfs here ({mounted.stderr.strip()}): disk-full path not tested")
    try:
        schema, values, _ = make_values(2000)
        publish(no_finkclient_env, topic_name, values, schema)
        out = small / "out"
        line = _one_line_error(download("-topic", topic_name, "-outdir", str(out), "-batchsize", "100",
                                        "-nconsumers", "2"))
        assert "disk full" in line
        assert not list(out.rglob("*.tmp"))
        for f in parts(out):  # every file left behind is a complete, readable Parquet file
            assert pq.read_table(f).num_rows > 0
    finally:
        subprocess.run(["umount", str(small)], capture_output=True)


def test_progress_is_a_bar_on_a_terminal_and_quiet_lines_in_a_log():
    import io

    from kafka_io.consumer.progress import Progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    term, log = Terminal(), io.StringIO()
    for stream, verbose in ((term, False), (log, True)):
        progress = Progress(200, verbose=verbose, every=0.0, stream=stream)
        progress.update(50, 10**6)
        progress.update(200, 4 * 10**6)
        progress.close()
    assert "Downloading: 100%" in term.getvalue() and "200/200" in term.getvalue()
    assert log.getvalue().splitlines()[-1].startswith("downloaded 200/200 alerts")


@pytest.mark.parametrize("survey", ["ztf", "elasticc", "lsst"])
def test_time_partitioning_reads_each_survey_time_column_from_the_registry(survey, tmp_path):
    """The struct field and its flat (Light packet) copy both give the night's folder."""
    from engine import surveys
    from kafka_io.consumer import writer

    s = surveys.get(survey)
    struct, name = s.time_path
    value = {"jd": 2461105.75, "mjd": 61105.25}[s.time_unit]   # 2026-03-06 18:00 / 06:00 UTC
    for table in (pa.table({struct: pa.array([{name: value}]), "x": [1]}), pa.table({name: [value], "x": [1]})):
        w = writer.BatchWriter(str(tmp_path), "parquet", "time", "{}")
        assert [folder for folder, _ in w._groups(table)] == ["year=2026/month=03/day=06"]


def test_consumer_partitionings_and_time_message_come_from_the_registry(tmp_path):
    from engine import surveys
    from engine.errors import UserError
    from kafka_io.consumer import options, writer

    offered = {p for n in surveys.NAMES for p in surveys.get(n).partitionings} - {"none"}
    assert set(options.client_partitionings()) == offered
    with pytest.raises(UserError) as info:
        writer.BatchWriter(str(tmp_path), "parquet", "time", "{}")._groups(pa.table({"x": [1]}))
    for n in surveys.NAMES:
        assert ".".join(surveys.get(n).time_path) in str(info.value)
    source = (ROOT / "kafka_io/consumer/writer.py").read_text() + (ROOT / "kafka_io/consumer/options.py").read_text()
    for word in ("candidate", "diaSource", "midpointMjdTai", "finkclass", "classId", "ZTF", "LSST"):
        assert word not in source
