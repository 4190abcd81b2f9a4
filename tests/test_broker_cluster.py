"""A 3-broker KRaft cluster on loopback (replication 3, min.insync.replicas 2): lose a broker mid-job
and mid-download, and still get every alert exactly once.

This is the path users take when one machine is not enough: the same client configuration,
only ``kafka.bootstrap_servers`` changes.
"""

from __future__ import annotations

import time


from engine.job.launcher import launch_job, wait_job
from engine.job.store import read_log
from kafka_io.client_config import base_config, producer_config
from kafka_io.manifest import Manifest, publish_manifest, read_manifest
from tests.helpers import (candids_so_far, consume_all, expected_rows, finish, make_values, publish,
                           start_download, topic_totals, wait_for)

NIGHTS = ["2021-11-22", "2021-11-23"]


def test_losing_a_broker_mid_job_and_mid_download_loses_and_duplicates_nothing(
        cluster, cluster_env, small_archive, monkeypatch, topic_name, tmp_path):
    from confluent_kafka.admin import AdminClient

    # -- a job while broker 3 dies ------------------------------------------------------------
    monkeypatch.setenv("FINK_TRANSFER_JOB_THROTTLE_S", "2")
    spec = {"survey": "ztf", "start": NIGHTS[0], "stop": NIGHTS[-1], "classes": ["allclasses"],
            "conditions": [], "content": "lightcurve", "limit": None}
    rec = launch_job(cluster_env, spec, engine="local")
    wait_for(lambda: "Starting to send data" in read_log(cluster_env, rec.job_id), 120, "the job to publish")
    md = AdminClient(base_config(cluster_env)).list_topics(rec.topic, timeout=10)
    assert all(len(p.replicas) == 3 for p in md.topics[rec.topic].partitions.values())
    time.sleep(2.2)
    cluster.nodes[2].kill()
    end = wait_job(cluster_env, rec.job_id, timeout=300)
    assert end.state == "done", (end.state, end.error, read_log(cluster_env, rec.job_id)[-2000:])
    expected = expected_rows(small_archive, NIGHTS)
    assert read_manifest(base_config(cluster_env), rec.topic).total == len(expected) == end.published
    values = consume_all(cluster_env, rec.topic)
    assert len(values) == len(expected) and len(set(values)) == len(values)
    cluster.nodes[2].start()

    # -- a download while broker 2 dies --------------------------------------------------------
    schema, values, candids = make_values(3000)
    half = len(values) // 2
    publish(cluster_env, topic_name, values[:half], schema, manifest="running")
    out = tmp_path / "out"
    proc = start_download("-topic", topic_name, "-outdir", str(out), "-nconsumers", "2", "-batchsize", "100")
    try:
        wait_for(lambda: len(candids_so_far(out)) >= half, 120, "the first half on disk")
        cluster.nodes[1].kill()
        publish(cluster_env, topic_name, values[half:], None, manifest=None, create=False)
        publish_manifest(producer_config(cluster_env), Manifest(
            topic=topic_name, status="done", partitions=topic_totals(cluster_env, topic_name), total=len(values)))
    finally:
        _out, err = finish(proc, 240)
    assert proc.returncode == 0, err
    assert sorted(candids_so_far(out)) == sorted(candids)
