"""The job process with the single-machine (DuckDB) engine, against the real broker.

Covers: launch -> done with a 'done' manifest whose totals match what is on the topic and what
pandas selects; an empty result still creates the data topic (done, 0 alerts); cancel (status and
manifest 'cancelled'); a job killed -9 reported failed.
"""

from __future__ import annotations

import io
import os
import signal
import time

import fastavro

from engine.job.launcher import cancel_job, launch_job, wait_job
from engine.job.store import load_job, read_log
from kafka_io.client_config import base_config
from kafka_io.manifest import read_manifest
from tests.helpers import cli, consume_all, expected_rows

NIGHTS = ["2021-11-22", "2021-11-23"]  # the nights of the small_archive fixture (conftest)


def _spec(**kw):
    spec = {"survey": "ztf", "start": NIGHTS[0], "stop": NIGHTS[-1], "classes": ["allclasses"],
            "conditions": [], "content": "lightcurve", "limit": None}
    spec.update(kw)
    return spec


def _decode(settings, topic, values):
    import json

    from confluent_kafka import Consumer, TopicPartition

    from kafka_io.topics import schema_topic
    c = Consumer({**base_config(settings), "group.id": "s-" + topic})
    c.assign([TopicPartition(schema_topic(topic), 0, 0)])
    msg = c.poll(10)
    c.close()
    schema = fastavro.parse_schema(json.loads(msg.key()))
    return [fastavro.schemaless_reader(io.BytesIO(v), schema) for v in values]


def test_local_job_publishes_what_pandas_selects(job_env, small_archive):
    spec = _spec(classes=["allclasses"], conditions=["candidate.magpsf > 18.5"])
    rec = launch_job(job_env, spec, engine="local")
    rec = wait_job(job_env, rec.job_id, timeout=120)
    assert rec.state == "done", (rec.error, read_log(job_env, rec.job_id))
    expected = expected_rows(small_archive, NIGHTS, predicate=lambda r: r["candidate"]["magpsf"] > 18.5)
    assert rec.published == len(expected) > 0
    manifest = read_manifest(base_config(job_env), rec.topic)
    assert manifest.status == "done" and manifest.total == len(expected)
    rows = _decode(job_env, rec.topic, consume_all(job_env, rec.topic))
    assert sorted(r["candid"] for r in rows) == sorted(expected.index)
    for row in rows:
        want = expected.loc[row["candid"]]
        assert row["objectId"] == want["objectId"] and row["finkclass"] == want["finkclass"]
    log = read_log(job_env, rec.job_id)
    for line in ("Generating data paths...", "Schema OK", f"Starting to send data to topic {rec.topic}", "End."):
        assert line in log


def test_empty_result_creates_topic_with_done_manifest(job_env):
    from confluent_kafka.admin import AdminClient

    rec = launch_job(job_env, _spec(conditions=["candidate.magpsf > 99"]), engine="local")
    rec = wait_job(job_env, rec.job_id, timeout=120)
    assert rec.state == "done" and rec.published == 0, rec.error
    md = AdminClient(base_config(job_env)).list_topics(timeout=10)
    assert len(md.topics[rec.topic].partitions) == 10
    manifest = read_manifest(base_config(job_env), rec.topic)
    assert manifest.status == "done" and manifest.total == 0


def _wait_publishing(settings, rec, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "Starting to send data" in read_log(settings, rec.job_id):
            return
        assert load_job(settings, rec.job_id).state in ("queued", "running"), read_log(settings, rec.job_id)
        time.sleep(0.2)
    raise AssertionError("job never started publishing")


def test_cancel_publishes_cancelled_manifest(job_env, monkeypatch):
    monkeypatch.setenv("FINK_TRANSFER_JOBS__THROTTLE_S", "30")  # each batch waits: time to cancel
    rec = launch_job(job_env, _spec(), engine="local")
    _wait_publishing(job_env, rec)
    t0 = time.monotonic()
    rec = cancel_job(job_env, rec.job_id, grace=20)
    assert rec.state == "cancelled" and time.monotonic() - t0 < 20, rec.error
    manifest = read_manifest(base_config(job_env), rec.topic)
    assert manifest.status == "cancelled"
    assert "Job cancelled" in read_log(job_env, rec.job_id)


def test_job_killed_minus_9_is_reported_failed(job_env, monkeypatch):
    monkeypatch.setenv("FINK_TRANSFER_JOBS__THROTTLE_S", "30")
    rec = launch_job(job_env, _spec(), engine="local")
    _wait_publishing(job_env, rec)
    os.killpg(load_job(job_env, rec.job_id).pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while load_job(job_env, rec.job_id).state == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    rec = load_job(job_env, rec.job_id)
    assert rec.state == "failed" and "process died" in rec.error


def test_auto_engine_uses_threshold(job_env, monkeypatch):
    from engine.config import load_settings
    from engine.job.plan import plan_job
    from engine.job.runner import choose_engine

    plan = plan_job(job_env, _spec(conditions=["candidate.magpsf > 18.5"]))
    monkeypatch.setenv("FINK_TRANSFER_JOBS__SMALL_JOB_THRESHOLD", "0")
    assert choose_engine(load_settings(), plan, "auto") == "spark"  # threshold 0 = always Spark
    monkeypatch.setenv("FINK_TRANSFER_JOBS__SMALL_JOB_THRESHOLD", "100000")
    assert choose_engine(load_settings(), plan, "auto") == "local"
    monkeypatch.setenv("FINK_TRANSFER_JOBS__SMALL_JOB_THRESHOLD", "10")
    assert choose_engine(load_settings(), plan, "auto") == "spark"  # ~250 candidates > 10
    assert choose_engine(load_settings(), plan, "auto", estimated=5) == "local"
    assert choose_engine(load_settings(), plan, "spark", estimated=5) == "spark"


def test_cli_test_job_publishes_ten_alerts(job_env):

    result = cli("submit", "--survey", "ztf", "--start", NIGHTS[0], "--stop", NIGHTS[-1], "--test",
                 "--engine", "local", "--wait")
    assert result.returncode == 0, result.stdout + result.stderr
    topic = next(ln.split(": ", 1)[1] for ln in result.stdout.splitlines() if ln.startswith("topic: "))
    assert f"fink_datatransfer -topic {topic} -outdir {topic} -partitionby finkclass" in result.stdout
    assert "state: done, published: 10" in result.stdout
    assert "publishing: 100%" in result.stderr and "10/10" in result.stderr  # the --wait bar on stderr
    assert read_manifest(base_config(job_env), topic).total == 10
    listed = cli("jobs", "list")
    assert listed.returncode == 0 and topic in listed.stdout and "done" in listed.stdout
    topics = cli("topics", "list")
    assert topics.returncode == 0, topics.stderr
    line = next(ln for ln in topics.stdout.splitlines() if ln.startswith(topic))
    assert "done" in line and line.split()[-1] == "10"
    deleted = cli("topics", "delete", topic)
    assert deleted.returncode == 0 and f"deleted {topic}_manifest" in deleted.stdout
    assert topic not in cli("topics", "list").stdout


def test_cancel_right_after_launch_is_cancelled(job_env):
    rec = launch_job(job_env, _spec(), engine="local")
    rec = cancel_job(job_env, rec.job_id, grace=20)
    assert rec.state == "cancelled", (rec.error, read_log(job_env, rec.job_id))
    assert load_job(job_env, rec.job_id).state == "cancelled"


def test_elasticc_job_then_download_partitioned_by_classid(settings_env, tmp_path, monkeypatch):
    """ELASTICC end to end: a class + condition job, then our consumer with the suggested command's
    partitioning (classId), and every published alert is on disk in its classId folder."""
    import datetime as dt

    import pandas as pd

    from engine.archive.generator import build_archive
    from engine.config import load_settings

    archive = tmp_path / "elasticc"
    build_archive("elasticc", dt.date(2023, 11, 27), 2, 200, archive, seed=5, progress=False)
    monkeypatch.setenv("FINK_TRANSFER_ARCHIVES__ELASTICC", str(archive))
    submitted = cli("submit", "--survey", "elasticc", "--start", "2023-11-27", "--stop", "2023-11-28",
                    "--content", "full", "--class", "111: SN Ia", "--class", "212: RR Lyrae",
                    "--condition", "diaSource.psFlux > 0", "--engine", "local", "--wait")
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    topic = next(ln.split(": ", 1)[1] for ln in submitted.stdout.splitlines() if ln.startswith("topic: "))
    assert "-partitionby classId" in submitted.stdout
    total = read_manifest(base_config(load_settings()), topic).total
    assert total > 0
    out = tmp_path / "download"
    downloaded = cli("download", "-topic", topic, "-outdir", str(out), "-partitionby", "classId", "-nconsumers", "2")
    assert downloaded.returncode == 0, downloaded.stderr
    df = pd.read_parquet(out)
    assert len(df) == total and df["alertId"].is_unique
    assert {p.name for p in out.iterdir() if p.is_dir()} <= {"classId=111", "classId=212"}
    assert (df["diaSource"].map(lambda s: s["psFlux"]) > 0).all()


def test_an_engine_that_fails_its_analysis_leaves_no_topic(job_env, monkeypatch):
    """The topics and the schema go out while the engine prepares (engine/job/runner.py); when its
    analysis fails, the job deletes them again: no data, no topic, a failed status."""
    from confluent_kafka.admin import AdminClient

    from engine.job import runner
    from engine.job.store import create_job
    from kafka_io.topics import manifest_topic, schema_topic

    class FailsItsAnalysis:
        def __init__(self, settings, plan, ctx, log=print, **_):
            self.closed = False

        def prepare(self):
            time.sleep(0.5)  # the announcement is under way meanwhile
            raise runner.UserError("no such field: candidate.magpsff")

        def close(self):
            self.closed = True

    made = []
    monkeypatch.setattr(runner, "make_engine", lambda *a, **k: made.append(FailsItsAnalysis(*a[:3])) or made[-1])
    rec = create_job(job_env, {"survey": "ztf", "start": "2021-11-22", "stop": "2021-11-22"}, engine="local")
    assert runner.run_job(job_env, rec.job_id) == 1
    after = load_job(job_env, rec.job_id)
    assert after.state == "failed" and "magpsff" in after.error and "nothing was published" in after.error
    assert made and made[0].closed
    topics = AdminClient(base_config(job_env)).list_topics(timeout=10).topics
    assert not {rec.topic, schema_topic(rec.topic), manifest_topic(rec.topic)} & set(topics)
    assert "Sending the schema to Kafka" in read_log(job_env, rec.job_id)
