"""The job process: ``python -m cli jobs run <job_id>`` calls :func:`run_job`.

Sequence (log lines mimic the real Fink job's ``-Livy-`` lines):
validate the spec -> check the broker -> prepare the engine (Spark analyses the filters here, so a
bad field fails before anything is published) -> create the topics, publish the schema and a
``running`` manifest -> publish the data -> ``done`` manifest with per-partition
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


def make_engine(settings, plan, ctx, engine: str, master: str, log):
    if engine == "local":
        from engine.job.local_job import LocalJob
        return LocalJob(settings, plan, ctx, log=log)
    from engine.job.spark_job import SparkJob
    return SparkJob(settings, plan, ctx, master=master, log=log)


def run_job(settings, job_id: str) -> int:
    """Run a recorded job to its end; returns the process exit code (0 = done)."""
    global _cancel_requested
    from engine.job.plan import make_context, plan_job
    from kafka_io.broker import ensure_broker
    from kafka_io.client_config import base_config, producer_config
    from kafka_io.manifest import Manifest, publish_manifest
    from kafka_io.producer import create_transfer_topics, merge_reports, publish_schema

    rec = load_job(settings, job_id)
    if rec.state != "queued":
        raise UserError(f"job {job_id} is {rec.state}, not queued: it cannot run again")
    _cancel_requested = False
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    log = lambda msg: append_log(settings, job_id, msg)  # noqa: E731
    rec = update_status(settings, job_id, state="running", pid=os.getpid(), started=time.time())
    spec = read_spec(settings, job_id)
    runner = None
    publishing = False
    state, error, published, nbytes = "failed", "", 0, 0
    try:
        log(f"Job {job_id} started (pid {os.getpid()})")
        log("Generating data paths...")
        plan = plan_job(settings, spec, test=rec.test, topic=rec.topic)
        log(f"{len(plan.nights)} night(s) between {plan.start} and {plan.stop}: {', '.join(plan.nights[:5])}"
            + (" ..." if len(plan.nights) > 5 else ""))
        engine = choose_engine(settings, plan, rec.engine or "spark", rec.estimated)
        master = rec.master or settings.spark.master
        rec = update_status(settings, job_id, engine=engine, master=master if engine == "spark" else "")
        bootstrap = ensure_broker(settings)
        log(f"Kafka broker {bootstrap} reachable")
        ctx = make_context(settings, plan, job_dir=str(job_dir(settings, job_id)))
        log(f"Determining data schema... (engine {engine}{', master ' + master if engine == 'spark' else ''})")
        runner = make_engine(settings, plan, ctx, engine, master, log)
        runner.prepare()
        log("Schema OK...")
        create_transfer_topics(base_config(settings), plan.topic, partitions=settings.kafka.partitions,
                               retention_days=settings.kafka.retention_days,
                               replication_factor=settings.kafka.replication_factor)
        from engine.accounts import grant_owner
        grant_owner(settings, rec)  # service mode: the owner may read, nobody else
        log("Sending the schema to Kafka...")
        publish_schema(producer_config(settings), plan.topic, ctx.schema_json, copies=settings.kafka.schema_copies)
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
        if runner is not None:
            try:
                runner.close()
            except BaseException:  # noqa: BLE001
                pass
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
    signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
    _serve_queue(settings)
    return 0 if state == "done" else 1


def _serve_queue(settings) -> None:
    """A slot is free: start the next waiting job(s) of the fair queue."""
    from engine.job import queue

    if queue.queue_limited(settings):
        try:
            queue.dispatch(settings)
        except Exception as exc:  # noqa: BLE001 - the next submission or Monitor refresh will retry
            print(f"queue dispatch failed: {exc}")
