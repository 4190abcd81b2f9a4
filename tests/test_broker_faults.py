"""Faults with real processes: the broker killed or restarted while a job publishes or a download runs.

Each test owns its broker (``private_broker``) and kills it for real (SIGKILL of the JVM) or
stops it (controlled shutdown). What must hold: no alert lost, none duplicated, and a broker
that stays away is one line and exit 2 with the files on disk kept for the resume.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from engine.job.launcher import launch_job, wait_job
from engine.job.store import read_log
from kafka_io.client_config import base_config, consumer_config, producer_config
from kafka_io.consumer.credentials import default_group_id
from kafka_io.manifest import Manifest, publish_manifest, read_manifest
from kafka_io.producer import PartitionWriter, create_transfer_topics, merge_reports
from tests.helpers import (ROOT, candids_on_disk, candids_so_far, consume_all, expected_rows, make_values,
                           point_settings_at, publish, topic_totals, wait_for)


def _download_cmd(topic: str, outdir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "cli", "download", "-topic", topic, "-outdir", str(outdir), "-nconsumers", "2",
            "-batchsize", "100", *extra]


def test_producer_retries_through_a_broker_kill_without_duplicates(private_env, private_broker, topic_name):
    """Idempotent acks=all producer: every alert once, though the broker died mid-stream."""
    schema, values, candids = make_values(6000)
    admin, pconf = base_config(private_env), producer_config(private_env)
    create_transfer_topics(admin, topic_name)
    writer = PartitionWriter(pconf, topic_name, seed=3)
    sent = threading.Event()

    def slow_stream():
        for i, value in enumerate(values):
            if i == 2000:
                sent.set()
            if i % 200 == 0:
                time.sleep(0.05)
            yield value

    thread = threading.Thread(target=lambda: writer.send(slow_stream()))
    thread.start()
    assert sent.wait(60)
    private_broker.kill()
    time.sleep(1.0)
    private_broker.start()
    thread.join(120)
    totals = merge_reports([writer.close()])
    assert sum(t["count"] for t in totals.values()) == len(values)

    consumer = Consumer({**admin, "group.id": "check-" + topic_name, "enable.auto.commit": False})
    got = []
    for p, t in totals.items():
        low, high = consumer.get_watermark_offsets(TopicPartition(topic_name, p), timeout=10, cached=False)
        assert high - low == t["count"], f"partition {p}: {high - low} messages on the log, {t['count']} acknowledged"
        consumer.assign([TopicPartition(topic_name, p, low)])
        while sum(1 for m in got if m[0] == p) < t["count"]:
            batch = consumer.consume(1000, 5.0)
            assert batch, f"partition {p} stopped early"
            got.extend((m.partition(), m.value()) for m in batch if m.error() is None)
    consumer.close()
    assert sorted(v for _, v in got) == sorted(values)  # each alert exactly once


def test_job_survives_a_broker_kill_and_its_manifest_equals_the_selection(private_env, private_broker,
                                                                          small_archive, monkeypatch):
    monkeypatch.setenv("FINK_TRANSFER_ARCHIVES__ZTF", str(small_archive))
    monkeypatch.setenv("FINK_TRANSFER_JOB_THROTTLE_S", "3")  # each batch waits: time to kill mid-job
    from engine.config import load_settings
    settings = load_settings()
    nights = ["2021-11-22", "2021-11-23"]
    spec = {"survey": "ztf", "start": nights[0], "stop": nights[-1], "classes": ["allclasses"],
            "conditions": [], "content": "lightcurve", "limit": None}
    rec = launch_job(settings, spec, engine="local")
    wait_for(lambda: "Starting to send data" in read_log(settings, rec.job_id), 120, "the job to publish")
    time.sleep(3.2)  # inside the first batch's delivery or the second batch's wait
    private_broker.kill()
    time.sleep(2.0)
    private_broker.start()
    end = wait_job(settings, rec.job_id, timeout=300)
    assert end.state == "done", (end.state, end.error, read_log(settings, rec.job_id)[-2000:])
    expected = expected_rows(small_archive, nights)
    manifest = read_manifest(base_config(settings), rec.topic)
    assert manifest.status == "done" and manifest.total == len(expected) == end.published
    values = consume_all(settings, rec.topic)
    assert len(values) == len(expected) and len(set(values)) == len(values)


def test_download_carries_on_after_a_broker_kill_and_gives_up_on_one_that_stays_down(
        private_env, private_broker, topic_name, tmp_path):
    schema, values, candids = make_values(4000)
    half = len(values) // 2
    publish(private_env, topic_name, values[:half], schema, manifest="running")
    out = tmp_path / "out"
    proc = subprocess.Popen(_download_cmd(topic_name, out, "-stall_timeout", "60"), cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        wait_for(lambda: out.is_dir() and len(candids_so_far(out)) >= half, 120, "the first half on disk")
        private_broker.kill()
        time.sleep(2.0)
        private_broker.start()
        publish(private_env, topic_name, values[half:], None, manifest=None, create=False)
        done_totals = topic_totals(private_env, topic_name)
        publish_manifest(producer_config(private_env), Manifest(
            topic=topic_name, status="done", partitions=done_totals, total=len(values)))
        out_text, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err
    assert sorted(candids_on_disk(out)) == sorted(candids)  # every alert exactly once

    # A broker that stays down: one line, exit 2, files intact, and the same command resumes.
    topic2 = topic_name + "0"
    publish(private_env, topic2, values, schema, manifest="running")
    out2 = tmp_path / "out2"
    proc = subprocess.Popen(_download_cmd(topic2, out2, "-stall_timeout", "6"), cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        wait_for(lambda: out2.is_dir() and len(candids_so_far(out2)) == len(values), 120, "every alert on disk")
        private_broker.kill()
        t0 = time.monotonic()
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    lines = err.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, err
    assert "has not answered" in lines[0] and "run the same command again" in lines[0]
    assert 6 <= time.monotonic() - t0 < 60
    on_disk = sorted(candids_on_disk(out2))
    assert on_disk == sorted(candids)
    private_broker.start()
    publish_manifest(producer_config(private_env), Manifest(
        topic=topic2, status="done", partitions=topic_totals(private_env, topic2), total=len(values)))
    again = subprocess.run(_download_cmd(topic2, out2), cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert again.returncode == 0, again.stderr
    assert "COMPLETE" in again.stdout
    assert sorted(candids_on_disk(out2)) == sorted(candids)


def test_stop_and_start_keep_topics_data_and_committed_offsets(private_env, private_broker, topic_name, tmp_path):
    schema, values, candids = make_values(3000)
    totals = publish(private_env, topic_name, values, schema)
    out = tmp_path / "out"
    first = subprocess.run(_download_cmd(topic_name, out, "-limit", "1000"), cwd=ROOT, capture_output=True,
                           text=True, timeout=180)
    assert first.returncode == 0, first.stderr
    assert len(candids_on_disk(out)) == 1000
    group = default_group_id(str(out))

    def committed() -> dict[int, int]:
        c = Consumer(consumer_config(private_env, group))
        try:
            parts = c.committed([TopicPartition(topic_name, p) for p in totals], timeout=10)
            return {tp.partition: tp.offset for tp in parts if tp.offset >= 0}
        finally:
            c.close()

    before = committed()
    assert sum(before.values()) >= 1000 - 100 * len(totals)  # committed after each file, per partition

    assert private_broker.stop()
    assert not private_broker.status().running
    private_broker.start()
    assert read_manifest(base_config(private_env), topic_name).total == len(values)
    assert topic_totals(private_env, topic_name) == {p: {"count": t["count"], "last_offset": t["last_offset"]}
                                                      for p, t in totals.items()}
    assert committed() == before

    rest = subprocess.run(_download_cmd(topic_name, out), cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert rest.returncode == 0, rest.stderr
    assert sorted(candids_on_disk(out)) == sorted(candids)


def test_retention_really_deletes_old_data(tmp_path, monkeypatch, topic_name, kafka_jars):
    """Kafka applies retention.ms to the data, schema and manifest topics alike."""
    from kafka_io.broker import EmbeddedBroker

    broker = EmbeddedBroker(tmp_path / "b", port=0, heap="512m", retention_check_ms=1000)
    broker.start()
    try:
        point_settings_at(monkeypatch, tmp_path / "var", broker.bootstrap_servers, schema_copies=3,
                          retention_days=4 / 86400)  # 4 seconds
        from engine.config import load_settings
        settings = load_settings()
        schema, values, _ = make_values(500)
        from kafka_io.topics import manifest_topic, schema_topic
        admin = base_config(settings)
        create_transfer_topics(admin, topic_name, retention_days=settings.kafka.retention_days)
        publish(settings, topic_name, values, schema, create=False)
        assert sum(t["count"] for t in topic_totals(settings, topic_name).values()) == 500

        from confluent_kafka.admin import AdminClient, ConfigResource
        res = [ConfigResource("topic", t) for t in (topic_name, schema_topic(topic_name), manifest_topic(topic_name))]
        client = AdminClient(admin)  # kept alive until the futures resolve
        for fut in client.describe_configs(res).values():
            assert fut.result(timeout=10)["retention.ms"].value == "4000"

        def retained(topic: str) -> int:
            c = Consumer({**admin, "group.id": "r"})
            try:
                n = 0
                for p in c.list_topics(topic, timeout=10).topics[topic].partitions:
                    low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)
                    n += high - low
                return n
            finally:
                c.close()

        wait_for(lambda: all(retained(t) == 0 for t in (topic_name, schema_topic(topic_name),
                                                         manifest_topic(topic_name))), 60, "retention")
    finally:
        broker.stop(timeout=10)
