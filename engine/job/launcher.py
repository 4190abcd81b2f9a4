"""Start, wait for and cancel jobs; :func:`submit_job` is the one way the CLI and the app start one.

The app calls this from inside a Streamlit server, so the job is a fresh interpreter,
``python -m cli jobs run <job_id>``, spawned by :mod:`engine.supervisor` in its own session:
cancelling the whole tree (job, Spark JVM, Python workers) is one ``killpg``.
"""

from __future__ import annotations

import signal
import time

from engine import supervisor
from engine.errors import UserError
from engine.job.store import (CANCEL_MARKER, TERMINAL, JobRecord, append_log, create_job, job_dir, load_job,
                              read_progress, update_status)
from engine.supervisor import pid_alive

ENGINES = ("spark", "local", "auto")


def submit_job(settings, spec, test: bool = False, engine: str = "auto", master: str | None = None,
               estimated: int | None = None, user=None):
    """Validate the spec (:func:`plan_job`), check quotas and the broker, start or queue the job: ``(plan, record)``.

    Bad input, a quota the estimate exceeds or a broker that is down is a UserError before
    anything is recorded or published. ``user`` (service mode) owns the job; None is local mode.
    """
    from engine import audit
    from engine.job.plan import plan_job
    from kafka_io.broker import ensure_broker

    if user is not None:
        spec = _confined_catalogue(settings, user, spec)
    plan = plan_job(settings, spec, test=test)
    nbytes = None
    if user is not None and plan.topic:
        raise UserError("in service mode topic names are drawn at random: remove 'topic' from the spec")
    if user is not None:
        from engine.quotas import check_quotas, estimate_plan
        usage = estimate_plan(settings, plan)
        check_quotas(settings, user, usage)
        estimated = usage.alerts if estimated is None else estimated
        nbytes = usage.bytes
    ensure_broker(settings)
    rec = launch_job(settings, plan.spec, test=test, engine=engine, master=master, estimated=estimated,
                     owner=user.name if user is not None else "", estimated_bytes=nbytes)
    audit.record(settings, user.name if user is not None else None, "submit", job=rec.job_id, topic=rec.topic,
                 estimated=estimated)
    return plan, rec


def _confined_catalogue(settings, user, spec):
    """A service-mode spec's catalogue path, confined to the user's folder before anything opens it."""
    xmatch = spec.get("xmatch") if isinstance(spec, dict) else None
    if not xmatch or not xmatch.get("path"):
        return spec
    from engine.access import confine
    return {**spec, "xmatch": {**xmatch, "path": str(confine(settings, user, xmatch["path"], must_exist=True))}}


def launch_job(settings, spec, test: bool = False, engine: str = "spark", master: str | None = None,
               estimated: int | None = None, owner: str = "", estimated_bytes: int | None = None) -> JobRecord:
    """Record the job and start its process, or leave it waiting when the queue is full
    (:mod:`engine.job.queue`); returns at once with the queued record."""
    from engine.job import queue

    if engine not in ENGINES:
        raise UserError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}")
    rec = create_job(settings, spec, test=test, engine=engine, master=master or "", estimated=estimated,
                     owner=owner, estimated_bytes=estimated_bytes)
    from engine.xmatch import store_with_job
    store_with_job(settings, rec.job_id)  # the catalogue travels with the job (deleted at topic expiry)
    if not queue.queue_limited(settings):
        return queue.start_process(settings, rec)
    append_log(settings, rec.job_id, "Job queued (waiting for a free slot)")
    queue.dispatch(settings)
    return load_job(settings, rec.job_id)


def wait_job(settings, job_id: str, timeout: float | None = None, poll: float = 0.5) -> JobRecord:
    """Block until the job ends (or ``timeout`` seconds pass); returns the last record."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        rec = load_job(settings, job_id)
        if rec.state in TERMINAL or (deadline is not None and time.monotonic() > deadline):
            return rec
        time.sleep(poll)


def cancel_job(settings, job_id: str, grace: float = 20.0) -> JobRecord:
    """SIGTERM the job's process group; it publishes a 'cancelled' manifest and exits.

    If it is still alive after ``grace`` seconds, SIGKILL the group and record the cancellation
    (and the manifest, best effort) here on its behalf.
    """
    from engine.job.queue import cancel_waiting

    rec = load_job(settings, job_id)
    if rec.state in TERMINAL:
        return rec
    if rec.waiting:
        waiting = cancel_waiting(settings, job_id)
        if waiting is not None:
            return waiting
        rec = load_job(settings, job_id)
    if not rec.pid or not pid_alive(rec.pid, job_id):
        rec = load_job(settings, job_id)
        if rec.state in TERMINAL:
            return rec
        return update_status(settings, job_id, state="cancelled", finished=time.time(),
                             error="cancelled before it started")
    append_log(settings, job_id, "Cancellation requested")
    (job_dir(settings, job_id) / CANCEL_MARKER).touch()
    supervisor.send_signal(rec.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        rec = load_job(settings, job_id)
        if rec.state in TERMINAL and not pid_alive(rec.pid, job_id):
            return rec
        if not pid_alive(rec.pid, job_id):
            break
        time.sleep(0.2)
    supervisor.send_signal(rec.pid, signal.SIGKILL)
    time.sleep(0.2)
    rec = load_job(settings, job_id)
    if rec.state in ("done", "cancelled"):
        return rec
    published = read_progress(settings, job_id)
    rec = update_status(settings, job_id, state="cancelled", finished=time.time(), published=published,
                        error=f"cancelled (killed after {grace:.0f} s); {published} alerts were published")
    append_log(settings, job_id, f"Job killed after {grace:.0f} s without stopping; marked cancelled")
    _publish_cancelled_manifest(settings, rec)
    return rec


def _publish_cancelled_manifest(settings, rec: JobRecord) -> None:
    try:
        from engine.job.store import read_spec
        from kafka_io.client_config import producer_config
        from kafka_io.manifest import Manifest, publish_manifest

        publish_manifest(producer_config(settings), Manifest(
            topic=rec.topic, status="cancelled", total=rec.published, spec=read_spec(settings, rec.job_id),
            message=rec.error, finished_at=time.time()), timeout=5)
    except Exception:  # broker gone: the status file still says cancelled
        pass
