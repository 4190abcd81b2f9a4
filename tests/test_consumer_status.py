"""Credentials files (official formats), fink_client_register, and the app's status-file API."""

from __future__ import annotations

import subprocess
import sys
import time

import pandas as pd
import yaml
from confluent_kafka import Consumer, TopicPartition

from kafka_io.client_config import base_config
from kafka_io.consumer.options import DownloadOptions
from kafka_io.consumer.status import cancel_download, read_download_status, start_download
from tests.helpers import ROOT, make_values, publish


def _register(*args, env=None):
    return subprocess.run([sys.executable, "-m", "cli.register", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env=env)


def test_register_writes_both_official_formats_and_download_uses_them(settings_env, topic_name, tmp_path,
                                                                     monkeypatch, broker):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    r = _register("-username", "alice", "-group_id", "alice_g7", "-mytopics", "t1", "t2", "-servers",
                  broker.bootstrap_servers, "-maxtimeout", "10")
    assert r.returncode == 0, r.stderr
    legacy = yaml.safe_load((home / ".finkclient" / "credentials.yml").read_text())
    assert legacy == {"username": "alice", "password": None, "group_id": "alice_g7", "mytopics": ["t1", "t2"],
                      "servers": broker.bootstrap_servers, "maxtimeout": 10}
    r = _register("-username", "alice", "-group_id", "alice_g12", "-servers", broker.bootstrap_servers,
                  "-survey", "ztf")
    assert r.returncode == 0, r.stderr
    v12 = yaml.safe_load((home / ".finkclient" / "ztf_credentials.yml").read_text())
    assert v12 == {"survey": "ztf", "username": "alice", "groupid": "alice_g12",
                   "servers": broker.bootstrap_servers, "maxtimeout": 10}

    schema, values, candids = make_values(300)
    totals = publish(settings_env, topic_name, values, schema)
    out = tmp_path / "out"
    d = subprocess.run([sys.executable, "-m", "cli", "download", "-topic", topic_name, "-outdir", str(out),
                        "-survey", "ztf", "--verbose"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert d.returncode == 0, d.stderr
    assert "ztf_credentials.yml" in d.stderr and "alice_g12" in d.stderr
    assert sorted(pd.read_parquet(out)["candid"]) == sorted(candids)
    # Offsets were committed for the credentials' group, after the files were written.
    c = Consumer({**base_config(settings_env), "group.id": "alice_g12"})
    committed = c.committed([TopicPartition(topic_name, p) for p in totals], timeout=10)
    c.close()
    assert {tp.partition: tp.offset for tp in committed} == {p: t["last_offset"] + 1 for p, t in totals.items()}


def _wait(status_dir, states, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = read_download_status(status_dir)
        if s["state"] in states:
            return s
        time.sleep(0.2)
    raise AssertionError(f"status stayed {s}")


def test_status_api_done_and_cancel(settings_env, topic_name, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    schema, values, candids = make_values(400)
    publish(settings_env, topic_name, values, schema)
    handle = start_download(DownloadOptions(topic=topic_name, outdir=str(tmp_path / "out1"), nconsumers=2),
                            tmp_path / "dl1")
    status = _wait(tmp_path / "dl1", ("done", "failed", "cancelled"))
    assert status["state"] == "done", (status, handle.log_file.read_text())
    assert status["completeness"]["complete"] and status["alerts_written"] == 400
    assert set(status["partitions"]) == {str(p) for p in range(10)}

    running = topic_name + "r"
    publish(settings_env, running, values, schema, manifest="running")
    handle = start_download(DownloadOptions(topic=running, outdir=str(tmp_path / "out2")), tmp_path / "dl2")
    status = _wait(tmp_path / "dl2", ("running",))
    deadline = time.monotonic() + 60
    while read_download_status(tmp_path / "dl2").get("alerts_written", 0) < 400 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert read_download_status(tmp_path / "dl2")["waiting_for_job"] is True
    assert cancel_download(tmp_path / "dl2")
    status = _wait(tmp_path / "dl2", ("done", "failed", "cancelled"))
    assert status["state"] == "cancelled" and status["completeness"]["alerts_written"] == 400
    handle.wait(30)
    assert not cancel_download(tmp_path / "dl2")
