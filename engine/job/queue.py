"""The fair job queue: a global limit of running jobs, served round-robin across users.

A job is recorded ``queued``; it is *waiting* until its process is started (pid set).
:func:`dispatch` starts waiting jobs while fewer than ``quotas.concurrent_jobs`` run (and the
owner has fewer than ``quotas.running_per_user``). The next job is the oldest waiting job of the
user whose last start is the oldest (a user who never started goes first), so a user with many
jobs cannot hold the machine while others wait.

There is no scheduler daemon: dispatch runs when a job is submitted, when a job process ends
(:func:`engine.job.runner.run_job`), when one is cancelled, and when Monitor refreshes; a lock
file makes concurrent calls safe. Without limits (local mode's default) every job starts at once.
"""

from __future__ import annotations

import fcntl
import math
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

from engine import supervisor
from engine.job.store import JobRecord, append_log, job_dir, list_jobs, load_job, update_status


def queue_limited(settings) -> bool:
    q = settings.quotas
    return bool(q.concurrent_jobs > 0 or q.running_per_user > 0)


@contextmanager
def queue_lock(settings):
    """An exclusive lock over dispatching (one file, flock: released if the holder dies)."""
    root = Path(settings.jobs_dir)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".queue.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _started(rec: JobRecord) -> bool:
    return rec.state == "running" or (rec.state == "queued" and bool(rec.pid))


def round_robin(jobs: list[JobRecord]) -> list[JobRecord]:
    """Waiting jobs in the order the queue will start them (ignoring per-user limits)."""
    waiting: dict[str, list[JobRecord]] = {}
    for rec in sorted((j for j in jobs if j.waiting), key=lambda r: r.created):
        waiting.setdefault(rec.owner, []).append(rec)
    last = {}
    for rec in jobs:
        if rec.dispatched:
            last[rec.owner] = max(last.get(rec.owner, 0.0), rec.dispatched)
    order, tick = [], time.time()
    while waiting:
        owner = min(waiting, key=lambda o: (last.get(o, -math.inf), waiting[o][0].created))
        order.append(waiting[owner].pop(0))
        if not waiting[owner]:
            del waiting[owner]
        tick += 1
        last[owner] = tick
    return order


def position(settings, job_id: str, jobs: list[JobRecord] | None = None) -> int | None:
    """1-based place of a waiting job in the queue, None when it is not waiting."""
    jobs = list_jobs(settings) if jobs is None else jobs
    for i, rec in enumerate(round_robin(jobs), 1):
        if rec.job_id == job_id:
            return i
    return None


def start_process(settings, rec: JobRecord) -> JobRecord:
    """Spawn ``python -m cli jobs run <id>`` for a waiting job; returns its record with the pid."""
    from engine import audit

    proc = supervisor.spawn(supervisor.cli_command("jobs", "run", rec.job_id),
                            job_dir(settings, rec.job_id) / "process.out",
                            FINK_TRANSFER_DATA_DIR=str(settings.data_dir))
    now = time.time()
    # The job writes its own pid when it starts; writing it here too closes the gap before that.
    rec = load_job(settings, rec.job_id)
    changes = {"dispatched": now}
    if rec.pid is None:
        changes["pid"] = proc.pid
    rec = update_status(settings, rec.job_id, **changes)
    append_log(settings, rec.job_id, f"Job submitted (engine {rec.engine}, process {proc.pid})")
    audit.record(settings, rec.owner or None, "start", job=rec.job_id, topic=rec.topic)
    return rec


def dispatch(settings) -> list[str]:
    """Start every waiting job the limits allow now; returns their ids, in start order."""
    q = settings.quotas
    limit = q.concurrent_jobs if q.concurrent_jobs > 0 else math.inf
    per_user = q.running_per_user if q.running_per_user > 0 else math.inf
    started = []
    with queue_lock(settings):
        jobs = list_jobs(settings)
        running = Counter(j.owner for j in jobs if _started(j))
        for rec in round_robin(jobs):
            if sum(running.values()) >= limit:
                break
            if running[rec.owner] >= per_user:
                continue
            fresh = load_job(settings, rec.job_id)
            if not fresh.waiting:  # cancelled meanwhile
                continue
            start_process(settings, fresh)
            running[rec.owner] += 1
            started.append(rec.job_id)
    return started


def cancel_waiting(settings, job_id: str) -> JobRecord | None:
    """Cancel a job still waiting in the queue (under the lock, so it cannot start meanwhile);
    None when it has a process (the caller signals it)."""
    with queue_lock(settings):
        rec = load_job(settings, job_id)
        if not rec.waiting:
            return None
        rec = update_status(settings, job_id, state="cancelled", finished=time.time(),
                            error="cancelled while queued")
        append_log(settings, job_id, "Job cancelled while queued")
        return rec
