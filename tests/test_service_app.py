"""AppTest in service mode: login first; Monitor lists only the user's jobs, with the queue
position of a waiting one, which can be cancelled; an admin sees every job and the audit log."""

from __future__ import annotations

from tests.helpers import SERVICE_SPEC as SPEC, monitor_as, new_app



def test_login_comes_first(service_settings):
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
    assert [e["action"] for e in read_audit(service_settings)] == ["login-failed", "login"]


def test_monitor_shows_own_jobs_queue_position_and_cancels_while_queued(service_settings, busy_slot):
    from engine.job.store import create_job, load_job

    first = create_job(service_settings, SPEC, owner="alice")
    second = create_job(service_settings, SPEC, owner="alice")
    at = monitor_as("alice")
    table = at.dataframe[0].value
    assert set(table["job"]) == {first.job_id, second.job_id}  # bob's running job is not listed
    states = dict(zip(table["job"], table["state"]))
    assert states == {first.job_id: "queued (#1)", second.job_id: "queued (#2)"}
    at.selectbox(key="monitor_job").select(second.job_id).run()
    assert any("position 2 in the queue" in i.value for i in at.info)
    at.button(key="cancel_job").click().run()
    rec = load_job(service_settings, second.job_id)
    assert rec.state == "cancelled" and rec.error == "cancelled while queued" and rec.pid is None
    assert load_job(service_settings, first.job_id).waiting  # the slot is still bob's
    assert not at.get("subheader") or all(s.value != "Audit log" for s in at.subheader)


def test_admin_sees_every_job_and_the_audit_log(service_settings, busy_slot):
    from engine.job.store import create_job

    mine = create_job(service_settings, SPEC, owner="alice")
    at = monitor_as("root")
    assert set(at.dataframe[0].value["job"]) == {mine.job_id, busy_slot.job_id}
    assert any(s.value == "Audit log" for s in at.subheader)
