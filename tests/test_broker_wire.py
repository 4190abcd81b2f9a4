"""The embedded broker and the fink wire protocol pieces, against the real Apache Kafka broker."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import fastavro
import pytest
from confluent_kafka import Consumer, TopicPartition

from engine.errors import BrokerUnavailable
from kafka_io.broker import check_bootstrap, free_port
from kafka_io.client_config import base_config, producer_config
from kafka_io.manifest import Manifest, publish_manifest, read_manifest
from kafka_io.producer import PartitionWriter, create_transfer_topics, merge_reports, publish_schema
from kafka_io.topics import new_topic_name, parse_topic_name, schema_topic

SCHEMA = {"type": "record", "name": "topLevelRecord", "fields": [
    {"name": "candid", "type": ["long", "null"]}, {"name": "objectId", "type": ["string", "null"]}]}


def _encode(i: int) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(SCHEMA), {"candid": i, "objectId": f"ZTF{i}"})
    return buf.getvalue()


def test_topic_names_follow_fink_convention():
    name = new_topic_name("ztf")
    parsed = parse_topic_name(name)
    assert name.startswith("ftransfer_ztf_") and parsed["survey"] == "ztf"
    assert parse_topic_name("something_else") is None


def test_publish_two_workers_exact_watermarks_and_manifest(settings_env, topic_name):
    admin = base_config(settings_env)
    pconf = producer_config(settings_env)
    create_transfer_topics(admin, topic_name, partitions=10)
    publish_schema(pconf, topic_name, json.dumps(SCHEMA), copies=3)
    reports = []
    for worker in range(2):
        w = PartitionWriter(pconf, topic_name, seed=worker)
        w.send(_encode(i) for i in range(worker * 1000, worker * 1000 + 1000))
        reports.append(w.close())
    totals = merge_reports(reports)
    assert sum(t["count"] for t in totals.values()) == 2000
    publish_manifest(pconf, Manifest(topic=topic_name, status="done", partitions=totals, total=2000))

    consumer = Consumer({**admin, "group.id": "t-" + topic_name, "auto.offset.reset": "earliest"})
    seen = set()
    for p, t in totals.items():
        low, high = consumer.get_watermark_offsets(TopicPartition(topic_name, p), timeout=10, cached=False)
        assert high == t["last_offset"] + 1 == t["count"]  # real watermarks: the official client stops on them
        consumer.assign([TopicPartition(topic_name, p, 0)])
        got = []
        while len(got) < t["count"]:  # ask for exactly what is left: consume() returns when it has it
            batch = consumer.consume(t["count"] - len(got), 5.0)
            assert batch, f"partition {p}: only {len(got)} of {t['count']} messages"
            got.extend(batch)
        for m in got:
            assert m.key() == topic_name.encode()
            seen.add(fastavro.schemaless_reader(io.BytesIO(m.value()), fastavro.parse_schema(SCHEMA))["candid"])
    consumer.close()
    assert seen == set(range(2000))

    manifest = read_manifest(admin, topic_name)
    assert manifest.complete and manifest.total == 2000 and manifest.partitions == totals

    schema_consumer = Consumer({**admin, "group.id": "s-" + topic_name})
    schema_consumer.assign([TopicPartition(schema_topic(topic_name), 0, 0)])
    msg = schema_consumer.poll(10)
    schema_consumer.close()
    assert json.loads(msg.key()) == SCHEMA


def test_empty_job_still_creates_data_topic(settings_env, topic_name):
    admin = base_config(settings_env)
    create_transfer_topics(admin, topic_name)
    totals = merge_reports([])
    assert totals == {}
    from confluent_kafka.admin import AdminClient
    md = AdminClient(admin).list_topics(timeout=10)
    assert len(md.topics[topic_name].partitions) == 10
    assert read_manifest(admin, topic_name) is None


def test_broker_down_is_a_clear_error():
    with pytest.raises(BrokerUnavailable, match="not reachable"):
        check_bootstrap(f"127.0.0.1:{free_port()}", timeout=1)  # librdkafka: 1 s at least


def test_broker_cli_start_status_stop(tmp_path, kafka_jars):
    env = {"FINK_TRANSFER_DATA_DIR": str(tmp_path), "FINK_TRANSFER_BROKER__PORT": str(free_port()),
           "FINK_TRANSFER_BROKER__CONTROLLER_PORT": str(free_port()), "FINK_TRANSFER_BROKER__HEAP": "512m",
           "PATH": __import__("os").environ["PATH"], "HOME": __import__("os").environ.get("HOME", "/root")}
    run = lambda *a: subprocess.run([sys.executable, "-m", "cli", "broker", *a], env=env,
                                    capture_output=True, text=True, timeout=60)
    started = run("start")
    assert started.returncode == 0, started.stderr
    assert "running" in started.stdout
    assert run("status").returncode == 0
    assert "stopped" in run("stop").stdout
    status = run("status")
    assert status.returncode == 1 and "stopped" in status.stdout


def test_cluster_ids_never_read_as_a_command_line_flag():
    """kafka-storage takes ``-t <id>``: an id starting with '-' made the first start fail (1 in 64)."""
    from kafka_io.broker import _random_cluster_id

    ids = {_random_cluster_id() for _ in range(3000)}
    assert len(ids) == 3000 and not any(i.startswith("-") for i in ids)
    assert all(len(i) == 22 for i in ids)
