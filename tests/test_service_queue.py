"""Service mode with the session broker: quotas refuse before anything runs, and the fair queue
serves three users round-robin under a global limit of two running jobs."""

from __future__ import annotations

import time

import pytest

from engine import audit
from engine.errors import UserError
from engine.users import User

SPEC = {"survey": "ztf", "start": "2021-11-22", "stop": "2021-11-23", "content": "lightcurve"}


def _broker_topics(settings) -> set[str]:
    from confluent_kafka.admin import AdminClient

    from kafka_io.client_config import base_config
    return set(AdminClient(base_config(settings)).list_topics(timeout=10).topics)


def test_a_job_over_quota_is_refused_before_anything_exists(service_jobs):
    from engine.job.launcher import submit_job
    from engine.job.store import list_jobs

    before = _broker_topics(service_jobs)
    with pytest.raises(UserError) as err:
        submit_job(service_jobs, SPEC, user=User("alice"))  # ~600 alerts, quota 100
    from engine.estimate import load_index
    in_index = int(load_index(service_jobs.archive_dir("ztf"))["n_alerts"].sum())
    assert in_index > 100
    assert f"the estimate is {in_index} alerts" in str(err.value) and "100 alerts per job" in str(err.value)
    assert "alerts_per_job" in str(err.value)
    assert list_jobs(service_jobs) == []
    time.sleep(1)
    assert {t for t in _broker_topics(service_jobs) - before if t.startswith("ftransfer_")} == set()
    # a test job (10 alerts) of the same selection passes; local mode (no user) has no quota
    from engine.quotas import check_quotas, estimate_plan
    from engine.job.plan import plan_job
    check_quotas(service_jobs, User("alice"), estimate_plan(service_jobs, plan_job(service_jobs, SPEC, test=True)))
    check_quotas(service_jobs, None, estimate_plan(service_jobs, plan_job(service_jobs, SPEC)))


def test_bytes_quotas_name_the_limit_and_the_estimate(service_jobs, monkeypatch):
    from engine.config import load_settings
    from engine.job.launcher import submit_job

    monkeypatch.setenv("FINK_TRANSFER_QUOTAS__ALERTS_PER_JOB", "0")
    monkeypatch.setenv("FINK_TRANSFER_QUOTAS__BYTES_PER_JOB", "1000")
    with pytest.raises(UserError, match=r"over the quota of 1\.0 kB per job \(quotas.bytes_per_job\)"):
        submit_job(load_settings(), SPEC, user=User("alice"))
    monkeypatch.setenv("FINK_TRANSFER_QUOTAS__BYTES_PER_JOB", "0")
    monkeypatch.setenv("FINK_TRANSFER_QUOTAS__BYTES_PER_DAY", "1000")
    with pytest.raises(UserError, match=r"0 B were submitted today, over the quota of 1\.0 kB per day"):
        submit_job(load_settings(), SPEC, user=User("alice"))


def test_three_users_four_jobs_limit_two_round_robin(service_jobs):
    from engine.job.launcher import cancel_job, submit_job, wait_job
    from engine.job.queue import position
    from engine.job.store import list_jobs, load_job

    submitted = []  # (owner, job_id), A's four first, then B's, then C's
    for owner in ("alice", "bob", "carol"):
        for _ in range(4):
            _plan, rec = submit_job(service_jobs, SPEC, test=True, user=User(owner))
            submitted.append((owner, rec.job_id))
    snapshot = list_jobs(service_jobs)
    running = [r for r in snapshot if r.state == "running" or r.pid]
    assert len(running) <= 2
    waiting = [r for r in snapshot if r.waiting]
    assert waiting and all(r.state == "queued" for r in waiting)
    places = sorted(position(service_jobs, r.job_id, snapshot) for r in waiting)
    assert places == list(range(1, len(waiting) + 1))

    # carol's last job is cancelled while it waits: it never starts
    last_carol = submitted[-1][1]
    assert load_job(service_jobs, last_carol).waiting
    rec = cancel_job(service_jobs, last_carol)
    assert rec.state == "cancelled" and rec.error == "cancelled while queued" and rec.pid is None

    deadline = time.monotonic() + 400
    for _owner, job_id in submitted:
        rec = wait_job(service_jobs, job_id, timeout=max(1, deadline - time.monotonic()))
        assert rec.state in ("done", "cancelled"), (job_id, rec.state, rec.error)
    starts = [e for e in audit.read_audit(service_jobs) if e["action"] == "start"]
    assert [e["user"] for e in starts] == ["alice", "alice", "bob", "carol", "alice", "bob", "carol",
                                           "alice", "bob", "carol", "bob"]
    assert last_carol not in {e["job"] for e in starts}
    # never more than two at once: each start after the second follows the end of an earlier job
    jobs = {r.job_id: r for r in list_jobs(service_jobs)}
    started = sorted((jobs[e["job"]].dispatched, jobs[e["job"]].finished) for e in starts)
    for i, (t_start, _end) in enumerate(started):
        still_running = [end for s, end in started[:i] if end > t_start]
        assert len(still_running) <= 1, f"3 jobs running at {t_start}"
    submits = [e for e in audit.read_audit(service_jobs) if e["action"] == "submit"]
    assert [e["user"] for e in submits] == ["alice"] * 4 + ["bob"] * 4 + ["carol"] * 4


def test_running_per_user_limit_makes_a_users_second_job_wait(service_jobs, monkeypatch):
    from engine.config import load_settings
    from engine.job.launcher import submit_job, wait_job
    from engine.job.store import load_job

    monkeypatch.setenv("FINK_TRANSFER_QUOTAS__CONCURRENT_JOBS", "0")
    monkeypatch.setenv("FINK_TRANSFER_QUOTAS__RUNNING_PER_USER", "1")
    settings = load_settings()
    _p, first = submit_job(settings, SPEC, test=True, user=User("alice"))
    _p, second = submit_job(settings, SPEC, test=True, user=User("alice"))
    _p, other = submit_job(settings, SPEC, test=True, user=User("bob"))
    assert first.pid and other.pid  # bob is not held up by alice's limit
    assert load_job(settings, second.job_id).waiting
    for job_id in (first.job_id, second.job_id, other.job_id):
        assert wait_job(settings, job_id, timeout=300).state == "done"
    first, second = load_job(settings, first.job_id), load_job(settings, second.job_id)
    assert second.dispatched >= first.finished  # alice's second job started only once her first ended
