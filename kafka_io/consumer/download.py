"""The coordinator of a download: checks, schema, resume point, worker processes, completion.

Finished means every partition reached the last offset of the job's completion manifest
(``<topic>_manifest``; ``running`` = keep waiting for more) or, for a topic without manifest, the
end offset read from the broker at start - never a bare timeout. At the end a completeness
manifest (per partition: first/last offset, alerts written) is printed and written to
``<outdir>/_manifest_<topic>.json``.
"""

from __future__ import annotations

import fcntl
import json
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from pathlib import Path

from engine.errors import BrokerUnavailable, UnknownTopic, UserError
from engine.fileio import write_json_atomic
from kafka_io.consumer import offsets as offsets_mod
from kafka_io.consumer.credentials import resolve_connection
from kafka_io.consumer.options import DownloadOptions
from kafka_io.consumer.progress import Progress, summary_lines
from kafka_io.consumer.status import StatusWriter
from kafka_io.consumer.worker import UNKNOWN, run_worker

MANIFEST_REFRESH_S = 2.0
PROBE_EVERY_S = 5.0
MARKER = ".fink_transfer_topic"


def completeness_path(outdir: str | os.PathLike, topic: str) -> Path:
    return Path(outdir) / f"_manifest_{topic}.json"


def _check_topic(conf: dict, topic: str, timeout: float) -> list[int]:
    from confluent_kafka import Consumer, KafkaError, KafkaException

    from kafka_io.broker import auth_failed

    seen: list = []  # authentication failures arrive through error_cb; list_topics only times out
    consumer = Consumer({**conf, "socket.connection.setup.timeout.ms": int(timeout * 1000), "error_cb": seen.append})
    try:
        try:
            md = consumer.list_topics(topic=topic, timeout=timeout)
        except KafkaException as exc:
            consumer.poll(0.2)  # serves error_cb
            if auth_failed(exc.args[0] if exc.args else None) or any(auth_failed(e) for e in seen):
                raise BrokerUnavailable(f"Kafka at {conf['bootstrap.servers']} refused the credentials of "
                                        f"{conf.get('sasl.username')!r}: check the user name and password") from exc
            raise BrokerUnavailable(f"Kafka broker at {conf['bootstrap.servers']} is not reachable "
                                    f"(check the servers in your credentials or configuration)") from exc
        meta = md.topics.get(topic)
        if meta is not None and meta.error is not None and meta.error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED:
            raise UserError(f"user {conf.get('sasl.username') or 'ANONYMOUS'!r} is not authorized to read topic "
                            f"{topic}: ask its owner to share it")
        if meta is None or meta.error is not None or not meta.partitions:
            raise UnknownTopic(f"topic {topic} does not exist on {conf['bootstrap.servers']}: the name is wrong, "
                               f"it expired, or the job has not published it yet")
        return sorted(meta.partitions)
    finally:
        consumer.close()


def read_schema(conf: dict, topic: str, timeout: float) -> str | None:
    """Schema JSON from the key of the first message of ``<topic>_schema`` (assign, no group join)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    from kafka_io.topics import schema_topic

    name = schema_topic(topic)
    consumer = Consumer({**conf, "enable.auto.commit": False})
    try:
        md = consumer.list_topics(topic=name, timeout=timeout)
        meta = md.topics.get(name)
        if meta is None or meta.error is not None or not meta.partitions:
            return None
        consumer.assign([TopicPartition(name, p, OFFSET_BEGINNING) for p in sorted(meta.partitions)])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = consumer.poll(min(1.0, max(0.05, deadline - time.monotonic())))
            if msg is not None and msg.error() is None and msg.key():
                return msg.key().decode()
        return None
    finally:
        consumer.close()


def _watermarks(conf: dict, topic: str, partitions: list[int], timeout: float) -> dict[int, tuple[int, int]]:
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    from kafka_io.retry import call_retrying

    consumer = Consumer(conf)
    try:
        return {p: call_retrying(lambda left, p=p: consumer.get_watermark_offsets(
                    TopicPartition(topic, p), timeout=left, cached=False), timeout)
                for p in partitions}
    except KafkaException as exc:
        raise BrokerUnavailable(f"cannot read the offsets of {topic}: {exc.args[0].str()}") from exc
    finally:
        consumer.close()


def _committed(conf: dict, topic: str, partitions: list[int], timeout: float) -> dict[int, int]:
    from confluent_kafka import Consumer

    consumer = Consumer(conf)
    try:
        return offsets_mod.committed_offsets(consumer, topic, partitions, timeout)
    finally:
        consumer.close()


def _targets(manifest, partitions: list[int], marks: dict) -> tuple[dict[int, int], bool]:
    """Last offset to reach per partition, and whether these targets are final."""
    if manifest is None:
        return {p: marks[p][1] - 1 for p in partitions}, True
    if manifest.status == "running":
        known = {p: manifest.partitions[p]["last_offset"] for p in partitions if p in manifest.partitions}
        return {p: max(known.get(p, UNKNOWN), marks[p][1] - 1 if marks[p][1] > 0 else UNKNOWN)
                for p in partitions}, False
    return {p: int(manifest.partitions.get(p, {}).get("last_offset", -1)) for p in partitions}, True


def _lock_outdir(outdir: Path, topic: str):
    outdir.mkdir(parents=True, exist_ok=True)
    fh = open(outdir / ".fink_transfer.lock", "w")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise UserError(f"another download is already writing to {outdir}")
    marker = outdir / MARKER
    if marker.is_file():
        other = marker.read_text().strip()
        if other and other != topic:
            fh.close()
            raise UserError(f"{outdir} already holds topic {other}: use another -outdir for {topic}")
    else:
        marker.write_text(topic + "\n")
    return fh


def _completeness(options, topic, partitions, targets, final, next_offsets, state, manifest, written_run) -> dict:
    disk = offsets_mod.scan(options.outdir, clean=False)
    rows, complete_all, total = {}, final, 0
    for p in partitions:
        ranges = disk.ranges.get(p, [])
        target = targets.get(p)
        reached = max(next_offsets.get(p, 0), disk.next_offset(p) or 0)
        complete = bool(final and target is not None and target != UNKNOWN and reached > target)
        complete_all = complete_all and complete
        n = disk.alerts(p)
        total += n
        rows[str(p)] = {"first_offset": ranges[0][0] if ranges else None,
                        "last_offset": ranges[-1][1] if ranges else None,
                        "alerts_written": n, "alerts_this_run": written_run.get(p, 0),
                        "target_last_offset": None if target in (None, UNKNOWN) else target,
                        "complete": complete}
    return {"topic": topic, "outdir": str(Path(options.outdir).resolve()), "state": state,
            "complete": bool(complete_all), "alerts_written": total,
            "source": "manifest" if manifest is not None else "broker end offsets",
            "job_status": manifest.status if manifest is not None else None,
            "partitions": rows, "written_at": time.time()}


class StallWatch:
    """Gives up on a broker that stays away, never on one that is merely quiet.

    No progress (alerts written or bytes read) for a while is normal when a job still runs;
    so only then the broker is probed, and the download gives up once probes have failed for
    ``timeout`` seconds in a row. librdkafka reconnects by itself when the broker returns.
    """

    def __init__(self, conf: dict, timeout: float):
        self.conf = {k: v for k, v in conf.items() if not k.startswith(("group.", "enable.", "auto."))}
        self.conf["log_level"] = 0
        self.timeout = timeout
        self.last_progress = None
        self.last_seen = time.monotonic()
        self.last_probe = 0.0
        self.broker_up = True

    def given_up(self, progress: int) -> bool:
        now = time.monotonic()
        if progress != self.last_progress:
            self.last_progress, self.last_seen, self.broker_up = progress, now, True
            return False
        if now - self.last_probe < min(PROBE_EVERY_S, self.timeout / 3):
            return not self.broker_up and now - self.last_seen > self.timeout
        self.last_probe = now
        from kafka_io.broker import check_bootstrap
        try:
            check_bootstrap(self.conf["bootstrap.servers"], self.conf, timeout=min(3.0, self.timeout / 3))
            self.broker_up, self.last_seen = True, now
        except UserError:
            self.broker_up = False
        return not self.broker_up and now - self.last_seen > self.timeout


def run_download(options: DownloadOptions, settings=None, stdout=None) -> dict:
    """Download ``options.topic``; returns the completeness manifest. Raises UserError on failure."""
    stdout = stdout or sys.stdout
    options.validate()
    status = StatusWriter(options.status_file, options)
    try:
        return _run(options, settings, stdout, status)
    except UserError as exc:
        status.update(state="failed", error=str(exc))
        raise
    except BaseException as exc:
        status.update(state="failed", error=f"{type(exc).__name__}: {exc}")
        raise


def _run(options, settings, stdout, status) -> dict:
    from kafka_io.manifest import read_manifest

    topic = options.topic
    conn = resolve_connection(options, settings)
    # librdkafka's own connection logs would bury our one-line errors; -verbose shows them.
    conn.conf["log_level"] = 6 if options.verbose else 0
    timeout = min(conn.maxtimeout, 10.0)
    partitions = _check_topic(conn.conf, topic, timeout)
    schema_json = read_schema(conn.conf, topic, max(timeout, 5.0))
    if schema_json is None:
        raise UserError(f"no schema found on {topic}_schema: wait a few seconds and relaunch "
                        f"(or the job produced no alerts)")
    try:
        avro_schema = json.loads(schema_json)
    except ValueError as exc:
        raise UserError(f"the schema on {topic}_schema is not valid JSON") from exc
    if options.dump_schemas:
        import pyarrow.parquet as pq

        from kafka_io.consumer.decode import arrow_schema
        Path(f"avro_schema_{topic}.json").write_text(json.dumps(avro_schema, sort_keys=True, indent=4))
        pq.write_metadata(arrow_schema(avro_schema), f"arrow_schema_{topic}.metadata")

    if options.outformat == "parquet":  # fail fast on a partitioning the schema cannot give
        from kafka_io.consumer.decode import Decoder
        from kafka_io.consumer.writer import BatchWriter
        BatchWriter(options.outdir, options.outformat, options.partitionby, schema_json, Decoder(avro_schema))
    outdir = Path(options.outdir)
    lock = _lock_outdir(outdir, topic)
    try:
        return _download(options, conn, topic, partitions, schema_json, timeout, stdout, status, read_manifest)
    finally:
        lock.close()


def _download(options, conn, topic, partitions, schema_json, timeout, stdout, status, read_manifest) -> dict:
    manifest = read_manifest(conn.conf, topic, timeout=timeout)
    marks = _watermarks(conn.conf, topic, partitions, timeout)
    targets, final = _targets(manifest, partitions, marks)
    low = {p: marks[p][0] for p in partitions}
    if options.restart_from_beginning:
        removed = offsets_mod.remove_outputs(options.outdir)
        if removed and options.verbose:
            print(f"removed {removed} files of the previous download", file=sys.stderr)
        starts = dict(low)
    else:
        disk = offsets_mod.scan(options.outdir, clean=True)
        committed = _committed(conn.conf, topic, partitions, timeout)
        starts = offsets_mod.start_offsets(partitions, committed, disk, low)

    ctx = mp.get_context("spawn")
    # Shared arrays are indexed by partition number (Kafka partitions are 0..n-1).
    size = max(partitions) + 1
    targets_arr = ctx.Array("q", [targets.get(p, UNKNOWN) for p in range(size)])
    next_arr = ctx.Array("q", [starts.get(p, 0) for p in range(size)])
    written_arr = ctx.Array("q", [0] * size)
    shared = {"targets": targets_arr, "next_offsets": next_arr, "written": written_arr,
              "final": ctx.Value("b", 1 if final else 0), "stop": ctx.Event(),
              "claimed": ctx.Value("q", 0), "bytes_in": ctx.Value("q", 0), "errors": ctx.Queue()}

    def remaining(p):
        t = targets_arr[p]
        return not (final and t != UNKNOWN and next_arr[p] > t)

    todo = [p for p in partitions if remaining(p)]
    nproc = options.processes(len(todo)) if todo else 0
    assignment = [todo[i::nproc] for i in range(nproc)]
    expected = None
    if all(targets_arr[p] != UNKNOWN for p in partitions):
        expected = sum(max(0, targets_arr[p] + 1 - starts[p]) for p in partitions)
        if options.limit is not None:
            expected = min(expected, options.limit)
    if options.verbose:
        print(f"{topic}: {len(partitions)} partitions, {len(todo)} to download with {nproc} processes, "
              f"credentials: {conn.source}, group {conn.group_id}", file=sys.stderr)

    cancelled: list[int] = []

    def on_signal(signum, _frame):
        cancelled.append(signum)
        shared["stop"].set()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)

    procs = []
    started = time.monotonic()
    progress = Progress(expected, verbose=options.verbose)
    status.update(state="running", topic=topic, pid=os.getpid(), expected=expected, processes=nproc)
    try:
        for wid, mine in enumerate(assignment):
            proc = ctx.Process(target=run_worker, name=f"fink-download-{wid}", daemon=True, args=(
                wid, topic, mine, {p: starts[p] for p in mine}, conn.conf, schema_json, options.outdir,
                options.outformat, options.partitionby, options.batchsize, options.limit, shared, os.getpid()))
            proc.start()
            procs.append(proc)
        last_refresh = time.monotonic()
        stall = StallWatch(conn.conf, options.stall_timeout)
        while any(p.is_alive() for p in procs):
            time.sleep(0.2)
            alerts = sum(written_arr[p] for p in partitions)
            rate, mbs = progress.update(alerts, shared["bytes_in"].value)
            if stall.given_up(alerts + shared["bytes_in"].value):
                shared["stop"].set()
                shared["errors"].put(
                    f"Kafka broker at {conn.conf['bootstrap.servers']} has not answered for "
                    f"{options.stall_timeout:.0f} s; {alerts} alerts of this run are safe in {options.outdir}: "
                    f"run the same command again to resume")
                break
            if (not final and time.monotonic() - last_refresh > MANIFEST_REFRESH_S and not shared["stop"].is_set()
                    and stall.broker_up):
                last_refresh = time.monotonic()
                try:
                    manifest = read_manifest(conn.conf, topic, timeout=timeout) or manifest
                    marks = _watermarks(conn.conf, topic, partitions, timeout)
                except UserError:  # the broker went away: the stall watch decides when to give up
                    continue
                new_targets, now_final = _targets(manifest, partitions, marks)
                for p in partitions:
                    targets_arr[p] = new_targets[p] if now_final else max(targets_arr[p], new_targets[p])
                if now_final:
                    final = True
                    shared["final"].value = 1
                    expected = sum(max(0, targets_arr[p] + 1 - starts[p]) for p in partitions)
                    progress.total = expected if options.limit is None else min(expected, options.limit)
            status.update(state="running", alerts_written=alerts, rate_alerts_s=round(rate, 1),
                          rate_mb_s=round(mbs, 3), expected=progress.total,
                          partitions={str(p): {"next_offset": next_arr[p], "target_last_offset": targets_arr[p],
                                               "written": written_arr[p]} for p in partitions},
                          waiting_for_job=not final)
            for proc in procs:
                if not proc.is_alive() and proc.exitcode not in (0, None) and shared["errors"].empty():
                    shared["stop"].set()
                    shared["errors"].put(f"a download process died (exit code {proc.exitcode})")
        for proc in procs:
            proc.join()
    finally:
        shared["stop"].set()
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
        progress.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    error = None
    while not shared["errors"].empty():
        message = shared["errors"].get()
        error = error or message
    if error:
        raise UserError(error)
    elapsed = time.monotonic() - started
    written_run = {p: written_arr[p] for p in partitions}
    alerts_run = sum(written_run.values())
    state = "cancelled" if cancelled else "done"
    comp = _completeness(options, topic, partitions, {p: targets_arr[p] for p in partitions}, final,
                         {p: next_arr[p] for p in partitions}, state, manifest, written_run)
    if options.limit is not None and shared["claimed"].value >= options.limit and not comp["complete"]:
        comp["stopped_by"] = "limit"
    if cancelled:
        comp["stopped_by"] = "SIGINT" if cancelled[0] == signal.SIGINT else "SIGTERM"
    if manifest is not None and manifest.status in ("failed", "cancelled"):
        comp["warning"] = f"the job ended with status {manifest.status}: the topic holds only part of the selection"
    if comp["complete"] and options.partitionby and options.outformat == "parquet":
        from kafka_io.consumer.compaction import compact_outdir
        comp["compaction"] = compact_outdir(options.outdir, options.batchsize)  # small files -> one per folder
    comp["elapsed_s"] = round(elapsed, 3)
    comp["bytes_this_run"] = shared["bytes_in"].value
    path = completeness_path(options.outdir, topic)
    write_json_atomic(path, comp, indent=2)
    for line in summary_lines(comp, elapsed, alerts_run, shared["bytes_in"].value):
        print(line, file=stdout)
    if comp.get("warning"):
        print(f"warning: {comp['warning']}", file=stdout)
    status.update(state=state, alerts_written=comp["alerts_written"], completeness=comp,
                  finished_at=time.time())
    return comp
