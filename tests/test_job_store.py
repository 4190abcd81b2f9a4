"""Job records on disk: atomic status, log, listing, and a dead process reported as failed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from engine.errors import UserError
from engine.job.store import (append_log, create_job, list_jobs, load_job, read_log, read_progress,
                              add_progress, read_spec, update_status)

SPEC = {"survey": "ztf", "start": "2021-11-22", "stop": "2021-11-23", "classes": ["allclasses"],
        "conditions": ["candidate.magpsf > 19"], "content": "lightcurve", "limit": None}


def test_create_update_list_and_log(local_settings):
    rec = create_job(local_settings, SPEC, test=True, engine="local")
    assert rec.state == "queued" and rec.test and rec.topic.startswith("ftransfer_ztf_")
    spec = read_spec(local_settings, rec.job_id)
    assert spec["topic"] == rec.topic and spec["conditions"] == SPEC["conditions"]
    update_status(local_settings, rec.job_id, state="done", published=12, error="line one\nline two")
    again = load_job(local_settings, rec.job_id)
    assert again.state == "done" and again.published == 12 and again.error == "line one line two"
    status = json.loads((local_settings.jobs_dir / rec.job_id / "status.json").read_text())
    assert status["job_id"] == rec.job_id and "directory" not in status
    append_log(local_settings, rec.job_id, "Generating data paths...")
    append_log(local_settings, rec.job_id, "End.")
    lines = read_log(local_settings, rec.job_id).splitlines()
    assert lines[-1].endswith(" End.") and len(lines[-1].split(" ", 2)[1]) == 8  # "YYYY-mm-dd HH:MM:SS msg"
    assert read_log(local_settings, rec.job_id, tail=1).strip().endswith("End.")
    second = create_job(local_settings, SPEC)
    assert [r.job_id for r in list_jobs(local_settings)][0] == second.job_id
    with pytest.raises(UserError, match="unknown job"):
        load_job(local_settings, "job-nope")
    with pytest.raises(ValueError):
        update_status(local_settings, rec.job_id, state="exploded")


def test_progress_lines_add_up(local_settings):
    rec = create_job(local_settings, SPEC)
    for n in (2000, 2000, 17):
        add_progress(local_settings.jobs_dir / rec.job_id, n)
    update_status(local_settings, rec.job_id, state="running")
    assert read_progress(local_settings, rec.job_id) == 4017
    assert load_job(local_settings, rec.job_id).published == 4017


def test_killed_process_is_reported_failed(local_settings):
    rec = create_job(local_settings, SPEC)
    # A stand-in job process whose command line names the job, as 'python -m cli jobs run <id>' does.
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", rec.job_id])
    update_status(local_settings, rec.job_id, state="running", pid=proc.pid)
    assert load_job(local_settings, rec.job_id).state == "running"
    proc.kill()
    proc.wait()
    dead = load_job(local_settings, rec.job_id)
    assert dead.state == "failed" and "process died" in dead.error
    assert json.loads((local_settings.jobs_dir / rec.job_id / "status.json").read_text())["state"] == "failed"
    assert "is gone" in read_log(local_settings, rec.job_id)


def test_reused_pid_of_another_program_is_not_the_job(local_settings):
    rec = create_job(local_settings, SPEC)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        update_status(local_settings, rec.job_id, state="running", pid=other.pid)
        assert load_job(local_settings, rec.job_id).state == "failed"
    finally:
        other.kill()
        other.wait()
