"""The one configuration (defaults + YAML + ``FINK_TRANSFER_*`` environment): a value of the wrong
type or out of range is one line naming the key when the settings are loaded, not a traceback
later in librdkafka, Spark or a job."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.config import load_settings
from engine.errors import UserError

ROOT = Path(__file__).resolve().parents[1]


def _env(tmp_path, **values):
    return {"FINK_TRANSFER_DATA_DIR": str(tmp_path), **{f"FINK_TRANSFER_{k}": v for k, v in values.items()}}


def test_environment_values_get_the_declared_types(tmp_path):
    s = load_settings(env=_env(tmp_path, KAFKA__PARTITIONS="4", KAFKA__TIMEOUT_S="2", BROKER__HEAP="512m",
                               SERVICE__ENABLED="true", KAFKA__RETENTION_DAYS="1"))
    assert (s.kafka.partitions, s.kafka.timeout_s, s.broker.heap, s.service.enabled) == (4, 2.0, "512m", True)
    assert isinstance(s.kafka.timeout_s, float) and isinstance(s.kafka.partitions, int)


@pytest.mark.parametrize("key,value,message", [
    ("KAFKA__TIMEOUT_S", "0.5", "kafka.timeout_s must be at least 1"),
    ("KAFKA__PARTITIONS", "ten", "kafka.partitions must be a whole number"),
    ("KAFKA__PARTITIONS", "0", "kafka.partitions must be at least 1"),
    ("KAFKA__RETENTION_DAYS", "-1", "kafka.retention_days must be more than 0"),
    ("JOBS__LOCAL_PROCESSES", "1.5", "jobs.local_processes must be a whole number"),
    ("SERVICE__ENABLED", "maybe", "service.enabled must be true or false"),
    ("BROKER__PORT", "70000", "broker.port must be at most 65535"),
    # choices: a misspelt protocol used to reach librdkafka and come back as 'broker not reachable'
    ("KAFKA__SECURITY_PROTOCOL", "SASL-SSL", "kafka.security_protocol must be one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"),
    ("KAFKA__SASL_MECHANISM", "SCRAM", "kafka.sasl_mechanism must be one of"),
    ("BROKER__SECURITY", "sasl", "broker.security must be one of none, scram"),
])
def test_a_bad_value_is_one_line_naming_the_key(tmp_path, key, value, message):
    with pytest.raises(UserError, match=message.replace(".", r"\.")):
        load_settings(env=_env(tmp_path, **{key: value}))


def test_the_cli_says_it_in_one_line(tmp_path):
    env = dict(os.environ, **_env(tmp_path, KAFKA__TIMEOUT_S="0.2"))
    r = subprocess.run([sys.executable, "-m", "cli", "topics", "list"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "kafka.timeout_s" in r.stderr, r.stderr


def test_choices_are_read_in_any_case_and_kept_in_the_spelling_librdkafka_documents(tmp_path):
    s = load_settings(env=_env(tmp_path, KAFKA__SECURITY_PROTOCOL="sasl_ssl", KAFKA__SASL_MECHANISM="scram-sha-512",
                               BROKER__SECURITY="SCRAM"))
    assert (s.kafka.security_protocol, s.kafka.sasl_mechanism, s.broker.security) == \
        ("SASL_SSL", "SCRAM-SHA-512", "scram")
    assert load_settings(env=_env(tmp_path)).kafka.sasl_mechanism == ""


@pytest.mark.parametrize("command", [["topics", "list"], ["topics", "delete", "ftransfer_ztf_2026-12-01_1"]])
def test_a_broker_that_is_down_is_one_line_without_librdkafka_logs(tmp_path, command):
    """The embedded broker configured but not running: librdkafka printed ~190 'Connection
    refused' lines on stderr before our own message."""
    from kafka_io.broker import free_port

    env = dict(os.environ, **_env(tmp_path, BROKER__PORT=str(free_port()), KAFKA__TIMEOUT_S="1"))
    r = subprocess.run([sys.executable, "-m", "cli", *command], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not reachable" in r.stderr, r.stderr
