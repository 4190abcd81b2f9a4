"""The embedded broker with a SASL_PLAINTEXT SCRAM-SHA-512 listener and deny-by-default ACLs.

The service publishes as the broker's admin; users consume with their own credentials, from the
one configuration or from the file ``fink_client_register`` writes; a wrong password or a topic
without a READ ACL is one line on stderr and exit 2.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

from kafka_io import acl
from tests.helpers import ROOT, make_values, publish


def _user_env(tmp_path, **kafka) -> dict:
    env = dict(os.environ, HOME=str(tmp_path / "home"))
    for key in ("SECURITY_PROTOCOL", "SASL_MECHANISM", "SASL_USERNAME", "SASL_PASSWORD"):
        env.pop(f"FINK_TRANSFER_KAFKA__{key}", None)
    env.update({f"FINK_TRANSFER_KAFKA__{k.upper()}": v for k, v in kafka.items()})
    return env


def _download(topic, outdir, env):
    return subprocess.run([sys.executable, "-m", "cli", "download", "-topic", topic, "-outdir", str(outdir),
                           "-nconsumers", "2", "-maxtimeout", "5"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=180)


def _register(env, user, password, group, servers):
    return subprocess.run([sys.executable, "-m", "cli.register", "-username", user, "-password", password,
                           "-group_id", group, "-servers", servers], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def _one_line(proc) -> str:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


def test_without_credentials_nothing_is_served(scram_broker):
    from engine.errors import BrokerUnavailable
    from kafka_io.broker import check_bootstrap

    with pytest.raises(BrokerUnavailable):
        check_bootstrap(scram_broker.bootstrap_servers, timeout=3)


def test_scram_users_acls_and_the_credentials_file(scram_admin_env, scram_broker, topic_name, tmp_path):
    schema, values, candids = make_values(600)
    totals = publish(scram_admin_env, topic_name, values, schema)  # the service publishes as admin
    assert sum(t["count"] for t in totals.values()) == 600
    admin = scram_broker.client_config()
    acl.upsert_user(admin, "alice", "alice-secret")
    acl.upsert_user(admin, "bob", "bob-secret")
    acl.grant_read(admin, "alice", topic_name, group="alice-group")
    assert acl.readers(admin, topic_name) == {"alice"}

    # alice, from the one configuration (no credentials file)
    env = _user_env(tmp_path, security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-512",
                    sasl_username="alice", sasl_password="alice-secret")
    out = tmp_path / "alice-config"
    # the default group id is derived from the folder: give alice that one too
    from kafka_io.consumer.credentials import default_group_id
    acl.grant_read(admin, "alice", topic_name, group=default_group_id(str(out)))
    r = _download(topic_name, out, env)
    assert r.returncode == 0, r.stderr
    assert sorted(pd.read_parquet(out, columns=["candid"])["candid"]) == sorted(candids)

    # alice, from the file fink_client_register writes (as the official client reads it)
    env = _user_env(tmp_path)
    assert _register(env, "alice", "alice-secret", "alice-group", scram_broker.bootstrap_servers).returncode == 0
    out = tmp_path / "alice-file"
    r = _download(topic_name, out, env)
    assert r.returncode == 0, r.stderr
    assert sorted(pd.read_parquet(out, columns=["candid"])["candid"]) == sorted(candids)

    # a wrong password: one line, exit 2
    assert _register(env, "alice", "wrong", "alice-group", scram_broker.bootstrap_servers).returncode == 0
    line = _one_line(_download(topic_name, tmp_path / "wrong", env))
    assert "refused the credentials" in line

    # bob has no READ ACL on the topic: one line, exit 2, no file written
    assert _register(env, "bob", "bob-secret", "bob-group", scram_broker.bootstrap_servers).returncode == 0
    line = _one_line(_download(topic_name, tmp_path / "bob", env))
    assert "not authorized" in line and topic_name in line
    assert not list((tmp_path / "bob").rglob("part-*"))

    # once shared, bob can read it
    acl.grant_read(admin, "bob", topic_name, group="bob-group")
    r = _download(topic_name, tmp_path / "bob", env)
    assert r.returncode == 0, r.stderr
    assert len(pd.read_parquet(tmp_path / "bob", columns=["candid"])) == 600
