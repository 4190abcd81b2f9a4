"""Service mode on a SCRAM broker: `fink-transfer users add` makes Kafka identities, a job's topic is
readable by its owner only, sharing is an explicit READ ACL; checked with our consumer and with
the official fink-client library (its AlertConsumer, unmodified, authenticating as the user)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from engine.errors import UserError
from kafka_io.sasl_proxy import SaslProxy
from tests.helpers import ROOT, finkctl_transfer_as

SPEC = {"survey": "ztf", "start": "2021-11-22", "stop": "2021-11-23", "content": "lightcurve"}


def _cli(*args, stdin=None, env=None):
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=ROOT, env=env or dict(os.environ),
                          input=stdin, capture_output=True, text=True, timeout=180)


def _as_user(tmp_path, user, password, group, servers):
    """A user's own environment: HOME with the 7.x credentials file fink_client_register writes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINK_TRANSFER_KAFKA__SASL")
           and k != "FINK_TRANSFER_KAFKA__SECURITY_PROTOCOL"}
    env["HOME"] = str(tmp_path / f"home-{user}")
    r = subprocess.run([sys.executable, "-m", "cli.register", "-username", user, "-password", password,
                        "-group_id", group, "-servers", servers], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return env


def _download(topic, outdir, env):
    return _cli("download", "-topic", topic, "-outdir", str(outdir), "-nconsumers", "2", "-maxtimeout", "5",
                env=env)


def _official_poll(topic, user, password, group, servers, schema_path):
    """One poll with the official client's AlertConsumer (SASL SCRAM-SHA-512 from username+password)."""
    from fink_client.consumer import AlertConsumer

    conf = {"username": user, "password": password, "group.id": group, "bootstrap.servers": servers}
    with AlertConsumer([topic], conf, survey="ztf", schema_path=str(schema_path)) as consumer:
        for _ in range(20):
            got = consumer.poll(2)
            if got[0] is not None:
                return got
    return None, None, None


def test_users_acls_share_with_our_consumer_and_the_official_client(service_mode_env, scram_broker, tmp_path):
    from fink_client.consumer import AlertError

    from engine import accounts, audit
    from engine.content import output_avro_schema
    from engine.job.launcher import submit_job, wait_job
    from engine.users import get_user
    from kafka_io import acl

    servers = scram_broker.bootstrap_servers
    for name in ("alice", "bob"):
        r = _cli("users", "add", name, "--password-stdin", stdin=f"{name}-password\n")
        assert r.returncode == 0, r.stderr
        assert "Kafka SCRAM credentials" in r.stdout and f"{name}.transfer" in r.stdout
    listing = _cli("users", "list").stdout
    assert "alice" in listing and "bob" in listing
    assert "alice-password" not in service_mode_env.users_file.read_text()
    alice, bob = get_user(service_mode_env, "alice"), get_user(service_mode_env, "bob")

    _plan, rec = submit_job(service_mode_env, SPEC, test=True, user=alice)
    rec = wait_job(service_mode_env, rec.job_id, timeout=180)
    assert rec.state == "done" and rec.published == 10, rec.error
    topic = rec.topic
    assert acl.readers(scram_broker.client_config(), topic) == {"alice"}

    alice_env = _as_user(tmp_path, "alice", "alice-password", alice.group_id, servers)
    bob_env = _as_user(tmp_path, "bob", "bob-password", bob.group_id, servers)
    schema = tmp_path / "schema.avsc"
    schema.write_text(json.dumps(output_avro_schema("ztf", "lightcurve")))

    # the owner reads it, with our consumer and with the official one
    r = _download(topic, tmp_path / "alice", alice_env)
    assert r.returncode == 0, r.stderr
    assert len(pd.read_parquet(tmp_path / "alice", columns=["candid"])) == 10
    got_topic, alert, _key = _official_poll(topic, "alice", "alice-password", alice.group_id + "_o", servers, schema)
    assert got_topic == topic and alert["objectId"]

    # bob is refused by the broker: one line from ours, an authorization error from the official client
    r = _download(topic, tmp_path / "bob", bob_env)
    assert r.returncode == 2 and "not authorized" in r.stderr and topic in r.stderr, r.stderr
    assert not list((tmp_path / "bob").rglob("*.parquet"))
    with pytest.raises(AlertError, match="(?i)authoriz"):
        _official_poll(topic, "bob", "bob-password", bob.group_id, servers, schema)
    # fink-client 12.3's `finkctl transfer` sends no credentials (it builds its consumer from servers
    # and groupid only, docs/service.md): with bob's file, password included, the SCRAM listener
    # closes the connection and nothing is written
    r = finkctl_transfer_as(topic, "bob", "bob-password", bob.group_id, servers, tmp_path / "finkctl-bob")
    assert r.returncode != 0 and "transport failure" in r.stderr.lower(), r.stderr[-500:]
    assert not list((tmp_path / "finkctl-bob").rglob("*.parquet"))
    # through bob's own SCRAM proxy it authenticates as bob, and the broker refuses him the topic
    proxy = SaslProxy(servers, "bob", "bob-password")
    try:
        proxy.check()
        r = finkctl_transfer_as(topic, "bob", "bob-password", bob.group_id, proxy.bootstrap_servers,
                              tmp_path / "finkctl-bob-proxy")
        assert r.returncode != 0 and "TOPIC_AUTHORIZATION_FAILED" in r.stderr, r.stderr[-800:]
        assert not list((tmp_path / "finkctl-bob-proxy").rglob("*.parquet"))
    finally:
        proxy.stop()
    with pytest.raises(UserError, match="refused the credentials"):
        SaslProxy(servers, "bob", "not-his-password").check()
    # ... and by the library checks: he cannot cancel, share or delete it, nor even see it
    with pytest.raises(UserError, match="unknown job"):
        accounts.cancel(service_mode_env, bob, rec.job_id)
    with pytest.raises(UserError, match="not yours"):
        accounts.delete_topic(service_mode_env, bob, topic)
    assert accounts.list_jobs_for(service_mode_env, bob) == []

    # alice shares: an explicit READ ACL; bob reads it with both clients, but still cannot manage it
    accounts.share(service_mode_env, alice, rec.job_id, "bob")
    assert acl.readers(scram_broker.client_config(), topic) == {"alice", "bob"}
    r = _download(topic, tmp_path / "bob", bob_env)
    assert r.returncode == 0, r.stderr
    assert len(pd.read_parquet(tmp_path / "bob", columns=["candid"])) == 10
    got_topic, alert, _key = _official_poll(topic, "bob", "bob-password", bob.group_id + "_o", servers, schema)
    assert got_topic == topic and alert["objectId"]
    # and the unmodified finkctl transfer too, through bob's own SCRAM proxy (fink-transfer kafka-proxy)
    proxy = SaslProxy(servers, "bob", "bob-password")
    try:
        proxy.check()
        rows = 0
        for attempt in range(2):  # finkctl exits at once when its first offset read sees no lag
            out = tmp_path / f"finkctl-bob-shared-{attempt}"
            r = finkctl_transfer_as(topic, "bob", "bob-password", bob.group_id + f"_f{attempt}",
                                  proxy.bootstrap_servers, out)
            assert r.returncode == 0, r.stderr[-800:]
            rows = len(pd.read_parquet(out)) if out.exists() else 0
            if rows:
                break
        assert rows == 10
    finally:
        proxy.stop()
    assert [j.job_id for j in accounts.list_jobs_for(service_mode_env, bob)] == [rec.job_id]
    with pytest.raises(UserError, match="only its owner or an admin"):
        accounts.cancel(service_mode_env, bob, rec.job_id)

    # a wrong password, and a removed user, are refused by the broker
    _cli("users", "passwd", "bob", "--password-stdin", stdin="bob-new-password\n")
    r = _download(topic, tmp_path / "bob-old", bob_env)
    assert r.returncode == 2 and "refused the credentials" in r.stderr, r.stderr
    assert _cli("users", "remove", "bob").returncode == 0
    assert acl.readers(scram_broker.client_config(), topic) == {"alice"}

    actions = [(e["user"], e["action"]) for e in audit.read_audit(service_mode_env)]
    for expected in [("alice", "submit"), ("alice", "start"), ("alice", "share"), ("local", "user-add"),
                     ("local", "user-remove")]:
        assert expected in actions
