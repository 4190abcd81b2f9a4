"""The Spark engine, end to end: the Done-when of the transfer engine.

A Spark job (local[*]) publishes a small archive's selection to the real embedded broker; the
OFFICIAL client (fink-client 12.3.0 ``finkctl transfer``) downloads it to Parquet and the rows
equal what pandas selects; the DuckDB engine publishes the same candids for the same spec; the
same job runs on a local standalone cluster (master + worker from pyspark's jars, loopback).
Few tests on purpose: each Spark start costs about 10 s on 2 shared cores.
"""

from __future__ import annotations

import io
import json
import os
import time

import fastavro
import pyarrow.dataset as ds
import pytest

from engine.job.launcher import launch_job, wait_job
from engine.job.store import read_log
from kafka_io.client_config import base_config
from kafka_io.manifest import read_manifest
from tests.helpers import cli, consume_all, expected_rows, official_transfer

NIGHTS = ["2021-11-22", "2021-11-23"]
CLASSES = ["Unknown", "RRLyr", "(SIMBAD) V*"]
CONDITIONS = ["candidate.magpsf > 17.5", "finkclass != 'RRLyr' OR candidate.magpsf > 18.5"]


def predicate(r):
    mag = r["candidate"]["magpsf"]
    return mag > 17.5 and (r["finkclass"] != "RRLyr" or mag > 18.5)


SPEC = {"survey": "ztf", "start": NIGHTS[0], "stop": NIGHTS[-1], "classes": CLASSES,
        "conditions": CONDITIONS, "content": "lightcurve", "limit": None}


def _candids(settings, topic):
    from confluent_kafka import Consumer, TopicPartition

    from kafka_io.topics import schema_topic
    c = Consumer({**base_config(settings), "group.id": "s-" + topic})
    c.assign([TopicPartition(schema_topic(topic), 0, 0)])
    schema = fastavro.parse_schema(json.loads(c.poll(10).key()))
    c.close()
    return sorted(fastavro.schemaless_reader(io.BytesIO(v), schema)["candid"] for v in consume_all(settings, topic))


def _magpsf(row):
    return row["magpsf"] if "magpsf" in row and row["magpsf"] is not None else row["candidate"]["magpsf"]


def test_spark_job_downloaded_by_official_client_equals_pandas(spark_job_env, small_archive, tmp_path):
    expected = expected_rows(small_archive, NIGHTS, predicate=predicate)
    expected = expected[expected["finkclass"].isin(["Unknown", "RRLyr", "V*"])]
    assert len(expected) > 10

    spark_rec = launch_job(spark_job_env, SPEC, engine="spark")
    local_rec = launch_job(spark_job_env, SPEC, engine="local")
    spark_rec = wait_job(spark_job_env, spark_rec.job_id, timeout=400)
    assert spark_rec.state == "done", (spark_rec.error, read_log(spark_job_env, spark_rec.job_id)[-3000:])
    assert spark_rec.engine == "spark" and spark_rec.published == len(expected)
    assert "Schema OK" in read_log(spark_job_env, spark_rec.job_id)
    manifest = read_manifest(base_config(spark_job_env), spark_rec.topic)
    assert manifest.status == "done" and manifest.total == len(expected)

    # The DuckDB engine selects exactly the same alerts for the same spec.
    local_rec = wait_job(spark_job_env, local_rec.job_id, timeout=200)
    assert local_rec.state == "done", local_rec.error
    assert _candids(spark_job_env, local_rec.topic) == _candids(spark_job_env, spark_rec.topic) == sorted(expected.index)

    # The official client, unmodified (10 consumers, maxtimeout 10 s).
    out = tmp_path / "download"
    result = official_transfer(spark_rec.topic, spark_job_env.bootstrap_servers, tmp_path / "home", out)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    table = ds.dataset(str(out), format="parquet").to_table()
    rows = table.to_pylist()
    assert sorted(r["candid"] for r in rows) == sorted(expected.index)
    for row in rows:
        want = expected.loc[row["candid"]]
        assert row["objectId"] == want["objectId"]
        assert row["finkclass"] == want["finkclass"] and row["tnsclass"] == want["tnsclass"]
        assert _magpsf(row) == pytest.approx(want["candidate"]["magpsf"])


def test_spark_job_on_local_standalone_cluster(spark_job_env, small_archive, tmp_path):
    from engine.job.cluster import LocalCluster

    expected = expected_rows(small_archive, NIGHTS, predicate=lambda r: r["candidate"]["magpsf"] > 18.5)
    env = dict(os.environ, FINK_TRANSFER_SPARK__EXECUTOR_MEMORY="512m")  # must fit the worker's 1g
    with LocalCluster(tmp_path / "cluster", cores=2, memory="1g") as cluster:
        result = cli(env=env, *("submit", "--survey", "ztf", "--start", NIGHTS[0], "--stop", NIGHTS[-1],
                     "--condition", "candidate.magpsf > 18.5", "--master", cluster.master_url, "--wait"),
                     timeout=400)
        assert result.returncode == 0, result.stdout + result.stderr
        topic = next(ln.split(": ", 1)[1] for ln in result.stdout.splitlines() if ln.startswith("topic: "))
        assert f"fink_datatransfer -topic {topic}" in result.stdout
        # The executors got the project from the job (an archive unpacked in their work dir).
        assert list((tmp_path / "cluster" / "work").glob("app-*/*/fink_transfer_py/engine/job/pipeline.py"))
    manifest = read_manifest(base_config(spark_job_env), topic)
    assert manifest.status == "done" and manifest.total == len(expected)
    assert _candids(spark_job_env, topic) == sorted(expected.index)


def test_a_job_maps_the_jvm_classes_an_earlier_job_recorded(spark_job_env, small_archive, tmp_path, monkeypatch):
    """engine/job/jvm_classes.py: the first local job records its JVM's classes into an archive,
    put in place only once the JVM has exited cleanly; the next maps it and publishes the same;
    a damaged archive is deleted and the job starts without it."""
    folder = tmp_path / "jvm-classes"
    monkeypatch.setenv("FINK_TRANSFER_SPARK__CLASS_SHARING", "true")
    monkeypatch.setenv("FINK_TRANSFER_SPARK__CLASS_ARCHIVE_DIR", str(folder))
    first = wait_job(spark_job_env, launch_job(spark_job_env, SPEC, engine="spark").job_id, timeout=400)
    assert first.state == "done", first.error
    assert "JVM classes: recording" in read_log(spark_job_env, first.job_id)
    deadline = time.monotonic() + 120  # the JVM writes the archive after the status
    while not any(folder.glob("*.jsa")) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert [p.suffix for p in folder.iterdir()] == [".jsa"], list(folder.iterdir())

    second = wait_job(spark_job_env, launch_job(spark_job_env, SPEC, engine="spark").job_id, timeout=400)
    assert second.state == "done", second.error
    assert "JVM classes: mapped" in read_log(spark_job_env, second.job_id)
    assert second.published == first.published > 10
    assert _candids(spark_job_env, second.topic) == _candids(spark_job_env, first.topic)

    # A damaged archive (a JVM mapping a truncated one dies with SIGBUS) is dropped, the job runs.
    archive = next(folder.glob("*.jsa"))
    archive.chmod(0o644)
    with open(archive, "r+b") as fh:
        fh.truncate(archive.stat().st_size // 3)
    third = wait_job(spark_job_env, launch_job(spark_job_env, SPEC, engine="spark").job_id, timeout=400)
    assert third.state == "done", (third.error, read_log(spark_job_env, third.job_id)[-2000:])
    assert "JVM classes: not shared this time" in read_log(spark_job_env, third.job_id)
    assert third.published == first.published and not archive.exists()
    assert list(folder.glob("hs_err_pid*.log")), "the crash report of the JVM that died stays beside the archives"
