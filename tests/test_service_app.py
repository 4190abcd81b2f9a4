"""AppTest in service mode: login first; Monitor lists only the user's jobs, with the queue
position of a waiting one, which can be cancelled; an admin sees every job and the audit log."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from tests.helpers import assert_clean, new_app

SPEC = {"survey": "ztf", "start": "2021-11-22", "stop": "2021-11-23"}


@pytest.fixture
def service(settings_env, monkeypatch):
    monkeypatch.setenv("FINK_TRANSFER_SERVICE__ENABLED", "true")
    monkeypatch.setenv("FINK_TRANSFER_QUOTAS__CONCURRENT_JOBS", "1")
    from engine.config import load_settings
    from engine.users import add_user
    settings = load_settings()
    add_user(settings, "alice", "alice-password")
    add_user(settings, "bob", "bob-password")
    add_user(settings, "root", "root-password", role="admin")
    return settings


@pytest.fixture
def busy_slot(service):
    """bob's job holding the only slot: a live process whose command line names the job."""
    from engine.job.store import create_job, update_status

    rec = create_job(service, SPEC, owner="bob")
    proc = subprocess.Popen(["sh", "-c", f"sleep 120 # {rec.job_id}"], start_new_session=True)
    update_status(service, rec.job_id, state="running", pid=proc.pid, dispatched=1.0)
    yield rec
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(5)


def test_login_comes_first(service):
    at = new_app().run()
    assert at.text_input(key="login_name") is not None
    assert not any(t.value == "Define your query" for t in at.title)
    at.text_input(key="login_name").input("alice")
    at.text_input(key="login_password").input("wrong-password")
    at.button[0].click().run()
    assert any("wrong password" in e.value for e in at.error)
    at.text_input(key="login_password").input("alice-password")
    at.button[0].click().run()
    assert at.session_state["auth_user"] == "alice"
    assert not any("wrong password" in e.value for e in at.error)
    from engine.audit import read_audit
    assert [e["action"] for e in read_audit(service)] == ["login-failed", "login"]


def test_monitor_shows_own_jobs_queue_position_and_cancels_while_queued(service, busy_slot):
    from engine.job.store import create_job, load_job

    first = create_job(service, SPEC, owner="alice")
    second = create_job(service, SPEC, owner="alice")
    at = new_app()
    at.session_state["auth_user"] = "alice"
    at.switch_page("monitor.py")
    at.run()
    assert_clean(at)
    table = at.dataframe[0].value
    assert set(table["job"]) == {first.job_id, second.job_id}  # bob's running job is not listed
    states = dict(zip(table["job"], table["state"]))
    assert states == {first.job_id: "queued (#1)", second.job_id: "queued (#2)"}
    at.selectbox(key="monitor_job").select(second.job_id).run()
    assert any("position 2 in the queue" in i.value for i in at.info)
    at.button(key="cancel_job").click().run()
    rec = load_job(service, second.job_id)
    assert rec.state == "cancelled" and rec.error == "cancelled while queued" and rec.pid is None
    assert load_job(service, first.job_id).waiting  # the slot is still bob's
    assert not at.get("subheader") or all(s.value != "Audit log" for s in at.subheader)


def test_admin_sees_every_job_and_the_audit_log(service, busy_slot):
    from engine.job.store import create_job

    mine = create_job(service, SPEC, owner="alice")
    at = new_app()
    at.session_state["auth_user"] = "root"
    at.switch_page("monitor.py")
    at.run()
    assert_clean(at)
    assert set(at.dataframe[0].value["job"]) == {mine.job_id, busy_slot.job_id}
    assert any(s.value == "Audit log" for s in at.subheader)
