"""The job process: ``python -m cli jobs run <job_id>`` calls :func:`run_job`.

Sequence (log lines mimic the real Fink job's ``-Livy-`` lines):
validate the spec (a Spark job's JVM already starting beside it) -> check the broker -> prepare
the engine (Spark analyses the filters here, so a bad field fails before any data is published)
while a thread creates the topics and publishes the schema (deleted again if the analysis fails)
-> a ``running`` manifest -> publish the data -> ``done`` manifest with per-partition
totals. Any failure after publishing started ends with a ``failed`` manifest, and the status says
how many alerts went out; SIGTERM (``cancel_job``) ends with a ``cancelled`` manifest.
"""

from __future__ import annotations

import os
import signal
import time
import traceback

from engine.errors import UserError
from engine.job.store import append_log, job_dir, load_job, read_progress, read_spec, update_status


class JobCancelled(BaseException):
    """Raised in the job's main thread by SIGTERM (BaseException: no ``except Exception`` eats it)."""


_cancel_requested = False


def _on_sigterm(signum, frame):
    global _cancel_requested
    if not _cancel_requested:
        _cancel_requested = True
        raise JobCancelled()


def one_line_error(exc: BaseException) -> str:
    """The informative line of an exception: for Spark's Python worker errors, the worker's own
    last ``XxxError: ...`` line rather than "An exception was thrown from the Python worker"."""
    import re

    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    if len(lines) > 1:
        errors = [ln for ln in lines[1:] if re.match(r"^([A-Za-z_]\w*\.)*[A-Z]\w*: ", ln)]
        if errors:
            return errors[-1]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"


def choose_engine(settings, plan, engine: str, estimated: int | None = None) -> str:
    """'auto' -> 'local' when the estimate is below jobs.small_job_threshold, else 'spark'.

    The estimate is the one recorded at submission (the app's), else an upper bound counted
    with DuckDB (rows passing the class-independent conditions, tens of ms).
    """
    if engine != "auto":
        return engine
    threshold = settings.jobs.small_job_threshold or 0
    if threshold <= 0:
        return "spark"
    if estimated is None:
        try:
            from engine.job.local_job import count_candidates
            estimated = count_candidates(plan)
        except Exception:  # no estimate possible: the safe choice is Spark
            return "spark"
    return "local" if estimated < threshold else "spark"


def make_engine(settings, plan, ctx, engine: str, master: str, log, session=None):
    if engine == "local":
        from engine.job.local_job import LocalJob
        return LocalJob(settings, plan, ctx, log=log)
    from engine.job.spark_job import SparkJob
    return SparkJob(settings, plan, ctx, master=master, log=log, session=session)


def known_engine(settings, rec) -> str | None:
    """The engine when it is known before planning: chosen explicitly, or 'auto' with the
    estimate recorded at submission; None when only the plan can tell."""
    engine = rec.engine or "spark"
    if engine != "auto":
        return engine
    return choose_engine(settings, None, engine, rec.estimated) if rec.estimated is not None else None


def run_job(settings, job_id: str) -> int:
    """Run a recorded job to its end; returns the process exit code (0 = done)."""
    global _cancel_requested
    from engine.job.plan import make_context, plan_job
    from kafka_io.broker import ensure_broker
    from kafka_io.client_config import producer_config
    from kafka_io.manifest import Manifest, publish_manifest
    from kafka_io.producer import merge_reports

    rec = load_job(settings, job_id)
    if rec.state != "queued":
        raise UserError(f"job {job_id} is {rec.state}, not queued: it cannot run again")
    _cancel_requested = False
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    log = lambda msg: append_log(settings, job_id, msg)  # noqa: E731
    rec = update_status(settings, job_id, state="running", pid=os.getpid(), started=time.time())
    spec = read_spec(settings, job_id)
    runner = early_session = None
    publishing = False
    state, error, published, nbytes = "failed", "", 0, 0
    try:
        log(f"Job {job_id} started (pid {os.getpid()})")
        master = rec.master or settings.spark.master
        if known_engine(settings, rec) == "spark":  # its JVM starts while the job plans
            from engine.job.spark_job import start_session
            early_session = start_session(settings, master)
        log("Generating data paths...")
        plan = plan_job(settings, spec, test=rec.test, topic=rec.topic)
        log(f"{len(plan.nights)} night(s) between {plan.start} and {plan.stop}: {', '.join(plan.nights[:5])}"
            + (" ..." if len(plan.nights) > 5 else ""))
        engine = choose_engine(settings, plan, rec.engine or "spark", rec.estimated)
        rec = update_status(settings, job_id, engine=engine, master=master if engine == "spark" else "")
        bootstrap = ensure_broker(settings)
        log(f"Kafka broker {bootstrap} reachable")
        ctx = make_context(settings, plan, job_dir=str(job_dir(settings, job_id)))
        log(f"Determining data schema... (engine {engine}{', master ' + master if engine == 'spark' else ''})")
        runner = make_engine(settings, plan, ctx, engine, master, log, session=early_session)
        early_session = None  # the engine owns it now
        announcing = _announce(settings, rec, plan, ctx, log)
        try:
            runner.prepare()
        except BaseException:
            _withdraw(settings, announcing, plan.topic)
            raise
        log("Schema OK...")
        announcing.result()
        publishing = True
        publish_manifest(producer_config(settings), Manifest(topic=plan.topic, status="running", spec=spec))
        log(f"Starting to send data to topic {plan.topic}")
        reports = runner.run()
        totals = merge_reports(reports)
        published = sum(t["count"] for t in totals.values())
        nbytes = sum(r.bytes_sent for r in reports)
        publish_manifest(producer_config(settings), Manifest(
            topic=plan.topic, status="done", partitions=totals, total=published, spec=spec,
            message=f"{published} alerts", finished_at=time.time()))
        state = "done"
        log(f"{published} alerts published ({nbytes / 1e6:.1f} MB)")
        log(f"Data ({plan.content}) available at topic: {plan.topic}")
    except JobCancelled:
        state, error = "cancelled", "cancelled by the user"
    except UserError as exc:
        error = str(exc)
    except BaseException as exc:  # noqa: BLE001 - the status must say what happened, whatever it was
        if _cancel_requested:
            state, error = "cancelled", "cancelled by the user"
        else:
            error = one_line_error(exc)
            log("Traceback:\n" + traceback.format_exc().rstrip())
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # finish the bookkeeping undisturbed
    if state != "done":
        published = read_progress(settings, job_id)
        if publishing:
            error = f"{error}; {published} alerts were published before it stopped"
            try:
                publish_manifest(producer_config(settings), Manifest(
                    topic=rec.topic, status=state, total=published, spec=spec, message=error,
                    finished_at=time.time()), timeout=10)
            except BaseException as exc:  # noqa: BLE001
                log(f"Could not publish the {state} manifest: {exc}")
        else:
            error = f"{error}; nothing was published" if state == "failed" else error
        log(f"Job {state}: {error}")
    update_status(settings, job_id, state=state, error=error, published=published, bytes=nbytes,
                  finished=time.time())
    log("End.")
    _release(runner, early_session)  # after the status: a JVM writing its class archive takes ~15 s
    signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
    _serve_queue(settings)
    return 0 if state == "done" else 1


def _announce(settings, rec, plan, ctx, log):
    """Create the topics and publish the schema in a thread, while the engine prepares (a Future).

    Why: the schema's 1 000 copies took 1.3-2 s after a Spark job's analysis. No data goes out
    before the analysis passes; if it fails, :func:`_withdraw` deletes what this created.
    """
    from engine.accounts import grant_owner
    from engine.job.background import in_thread
    from kafka_io.client_config import base_config, producer_config
    from kafka_io.producer import create_transfer_topics, publish_schema

    def announce():
        create_transfer_topics(base_config(settings), plan.topic, partitions=settings.kafka.partitions,
                               retention_days=settings.kafka.retention_days,
                               replication_factor=settings.kafka.replication_factor)
        grant_owner(settings, rec)  # service mode: the owner may read, nobody else
        log("Sending the schema to Kafka...")
        publish_schema(producer_config(settings), plan.topic, ctx.schema_json, copies=settings.kafka.schema_copies)

    return in_thread("announce", announce)


def _withdraw(settings, announcing, topic: str) -> None:
    """The engine failed before publishing data: delete the topics the announcement created."""
    from kafka_io.topic_admin import delete_topic

    try:
        announcing.result()
    except BaseException:  # noqa: BLE001 - the engine's error is the one to report
        pass
    try:
        delete_topic(settings, topic)
    except BaseException:  # noqa: BLE001 - best effort: nothing but the schema was on them
        pass


def _release(runner, early_session) -> None:
    """Stop the engine, or a Spark session started early for a job that failed before using it."""
    try:
        if runner is not None:
            runner.close()
        elif early_session is not None:
            from engine.job.spark_job import close_session
            close_session(*early_session.result())
    except BaseException:  # noqa: BLE001 - the job's outcome is already recorded
        pass


def _serve_queue(settings) -> None:
    """A slot is free: start the next waiting job(s) of the fair queue."""
    from engine.job import queue

    if queue.queue_limited(settings):
        try:
            queue.dispatch(settings)
        except Exception as exc:  # noqa: BLE001 - the next submission or Monitor refresh will retry
            print(f"queue dispatch failed: {exc}")
