"""``fink-transfer submit`` refuses bad jobs before launching: one line, exit 2, nothing published."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from kafka_io.broker import free_port
from tests.helpers import cli


def _topics(settings):
    from confluent_kafka.admin import AdminClient

    from kafka_io.client_config import base_config
    return set(AdminClient(base_config(settings)).list_topics(timeout=10).topics)


def _assert_refused(result, settings, fragment):
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not (settings.jobs_dir.exists() and any(settings.jobs_dir.iterdir())), "a job was created"


BASE = ["submit", "--survey", "ztf", "--start", "2021-11-22", "--stop", "2021-11-23", "--engine", "local"]


def test_bad_condition_is_one_line_and_publishes_nothing(archive_env):
    before = _topics(archive_env)
    result = cli(*BASE, "--condition", "candidate.magpsff > 19.5")
    _assert_refused(result, archive_env, "magpsff")
    danger = cli(*BASE, "--condition", "reflect('java.lang.System','exit',3) IS NULL")
    _assert_refused(danger, archive_env, "reflect")
    assert _topics(archive_env) == before


def test_unknown_night_range_is_one_line(archive_env):
    before = _topics(archive_env)
    result = cli("submit", "--survey", "ztf", "--start", "2030-01-01", "--stop", "2030-01-02")
    _assert_refused(result, archive_env, "unknown night range")
    assert _topics(archive_env) == before


def test_unknown_class_is_one_line(archive_env):
    result = cli(*BASE, "--class", "Not a class")
    _assert_refused(result, archive_env, "unknown class")


def test_broker_down_is_one_line(archive_env):
    env = dict(os.environ, FINK_TRANSFER_KAFKA__BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}",
               FINK_TRANSFER_KAFKA__TIMEOUT_S="2")
    result = cli(*BASE, env=env)
    _assert_refused(result, archive_env, "not reachable")


def test_the_app_submits_through_the_same_checks(archive_env):
    """The app's submit is the CLI's: a range with no archive night is refused, no job is recorded."""
    from components import services
    from engine.errors import UserError
    from engine.query import JobSpec

    spec = JobSpec(survey="ztf", start=dt.date(2030, 1, 1), stop=dt.date(2030, 1, 2), classes=["allclasses"],
                   conditions="", content="lightcurve")
    with pytest.raises(UserError, match="unknown night range"):
        services.submit(archive_env, spec, test=True)
    assert not (archive_env.jobs_dir.exists() and any(archive_env.jobs_dir.iterdir())), "a job was created"
