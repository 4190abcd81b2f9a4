"""Shared fixtures: a real embedded Apache Kafka broker per test session, isolated settings per test.

Tests talk to the real broker, never to a mock.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

REFERENCE = ROOT.parent / "shared" / "reference"


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    """A real Apache Kafka broker (KRaft, data on disk) on free loopback ports, for the whole session."""
    from kafka_io.broker import EmbeddedBroker

    b = EmbeddedBroker(tmp_path_factory.mktemp("broker"), port=0, heap="768m")
    b.start()
    yield b
    b.stop()


@pytest.fixture
def private_broker(tmp_path):
    """A broker of the test's own (fault tests kill and restart it), stopped at the end."""
    from kafka_io.broker import EmbeddedBroker

    b = EmbeddedBroker(tmp_path / "private-broker", port=0, heap="512m")
    b.start()
    yield b
    b.stop(timeout=10)


@pytest.fixture
def private_env(tmp_path, private_broker, monkeypatch):
    """Like ``settings_env``, but on the test's own broker."""
    monkeypatch.setenv("FINK_TRANSFER_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("FINK_TRANSFER_KAFKA__BOOTSTRAP_SERVERS", private_broker.bootstrap_servers)
    monkeypatch.setenv("FINK_TRANSFER_KAFKA__SCHEMA_COPIES", "10")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.finkclient: the configuration is used
    monkeypatch.delenv("FINK_TRANSFER_CONFIG", raising=False)
    from engine.config import load_settings
    return load_settings()


@pytest.fixture
def settings_env(tmp_path, broker, monkeypatch):
    """Environment pointing the one configuration at a per-test data dir and the session broker.

    The broker is "external" from the settings' point of view (bootstrap_servers set), so code
    under test never starts or stops it. Child processes inherit these variables.
    """
    monkeypatch.setenv("FINK_TRANSFER_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("FINK_TRANSFER_KAFKA__BOOTSTRAP_SERVERS", broker.bootstrap_servers)
    monkeypatch.setenv("FINK_TRANSFER_KAFKA__SCHEMA_COPIES", "10")
    monkeypatch.delenv("FINK_TRANSFER_CONFIG", raising=False)
    from engine.config import load_settings
    return load_settings()


@pytest.fixture
def topic_name():
    """A fresh fink-style topic name."""
    return f"ftransfer_ztf_2026-11-24_{uuid.uuid4().int % 1_000_000}"


@pytest.fixture(scope="module")
def small_archive(tmp_path_factory):
    """Two synthetic ZTF nights (300 alerts each) for the job tests."""
    import datetime as dt

    from engine.archive.generator import build_archive

    out = tmp_path_factory.mktemp("archive") / "ztf"
    build_archive("ztf", dt.date(2021, 11, 22), 2, 300, out, progress=False)
    return out


@pytest.fixture
def job_env(settings_env, small_archive, monkeypatch):
    """Settings whose ZTF archive is ``small_archive`` (and the session broker)."""
    monkeypatch.setenv("FINK_TRANSFER_ARCHIVES__ZTF", str(small_archive))
    from engine.config import load_settings
    return load_settings()
