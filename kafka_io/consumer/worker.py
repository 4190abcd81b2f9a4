"""One download process: owns some Kafka partitions, decode -> write -> commit, batch after batch.

Started with the "spawn" context (librdkafka is not fork-safe, and the app runs in a threaded
Streamlit server). It dies with its parent (PR_SET_PDEATHSIG plus a parent check), so a killed
download never leaves writers behind that could race the next run. SIGINT/SIGTERM are ignored
here: the coordinator sets ``stop`` and every worker writes and commits what it holds, then exits.

Shared state (multiprocessing objects created by the coordinator), indexed by partition:
``targets`` last offset to reach (-2 = not known yet), ``final`` (targets will not grow),
``next_offsets`` next offset to write, ``written`` alerts written in this run, ``bytes_in``
message bytes, ``claimed`` alerts taken against ``-limit``, ``stop`` event, ``errors`` queue.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import traceback

UNKNOWN = -2
IDLE_FLUSH_S = 1.0


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass


def run_worker(worker_id: int, topic: str, partitions: list[int], starts: dict[int, int], conf: dict,
               schema_json: str, outdir: str, outformat: str, partitionby: str | None, batchsize: int,
               limit: int | None, shared: dict, parent_pid: int) -> None:
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        _consume(topic, partitions, starts, conf, schema_json, outdir, outformat, partitionby, batchsize,
                 limit, shared, parent_pid)
    except Exception as exc:  # reported to the coordinator, which exits with one line
        from engine.errors import UserError
        message = str(exc) if isinstance(exc, UserError) else f"worker {worker_id}: {type(exc).__name__}: {exc}"
        if not isinstance(exc, UserError):
            traceback.print_exc()
        shared["errors"].put(message)
        shared["stop"].set()


def _consume(topic, partitions, starts, conf, schema_json, outdir, outformat, partitionby, batchsize,
             limit, shared, parent_pid) -> None:
    from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

    from kafka_io.consumer.decode import Decoder
    from kafka_io.consumer.writer import BatchWriter

    targets, next_offsets, written = shared["targets"], shared["next_offsets"], shared["written"]
    final, stop, claimed, bytes_in = shared["final"], shared["stop"], shared["claimed"], shared["bytes_in"]
    decoder = Decoder(schema_json) if outformat == "parquet" else None
    writer = BatchWriter(outdir, outformat, partitionby, schema_json, decoder)

    consumer = Consumer(conf)
    consumer.assign([TopicPartition(topic, p, starts[p]) for p in partitions])
    buffers: dict[int, list] = {p: [] for p in partitions}
    last_append = {p: time.monotonic() for p in partitions}
    paused: set[int] = set()

    def done(p: int) -> bool:
        t = targets[p]
        return final.value == 1 and t != UNKNOWN and next_offsets[p] > t

    def flush(p: int) -> None:
        buf = buffers[p]
        if not buf:
            return
        if limit is not None:
            with claimed.get_lock():
                k = max(0, min(len(buf), limit - claimed.value))
                claimed.value += k
                if claimed.value >= limit:
                    stop.set()
            del buf[k:]
            if not buf:
                return
        first, last = buf[0][0], buf[-1][0]
        writer.write(p, first, last, [v for _, v in buf])
        commit(p, last + 1)
        next_offsets[p] = last + 1
        written[p] += len(buf)
        buffers[p] = []

    uncommitted: dict[int, int] = {}

    def commit(p: int | None = None, offset: int | None = None, wait: bool = False) -> None:
        """Commit after the file is on disk; a broker that is away only delays the commit.

        The file names on disk are the resume point whenever a commit is lost, so commits during
        the run are asynchronous (a synchronous one cost ~9 ms per file, 10 % of a lightcurve
        download) and only the last one waits; a failed synchronous commit is kept and retried.
        """
        if p is not None:
            uncommitted[p] = offset
        if not uncommitted:
            return
        try:
            consumer.commit(offsets=[TopicPartition(topic, q, o) for q, o in uncommitted.items()],
                            asynchronous=not wait)
            if not wait:
                committed_async.update(uncommitted)
            uncommitted.clear()
        except KafkaException:
            pass

    committed_async: dict[int, int] = {}

    fetch = max(1, min(batchsize, 2000))
    try:
        while True:
            if stop.is_set() or os.getppid() != parent_pid:
                break
            active = [p for p in partitions if not done(p)]
            if not active:
                break
            newly_done = [p for p in partitions if p not in paused and done(p)]
            if newly_done:
                consumer.pause([TopicPartition(topic, p) for p in newly_done])
                paused.update(newly_done)
            msgs = consumer.consume(num_messages=fetch, timeout=0.5)
            now = time.monotonic()
            nbytes = 0
            # Shared arrays take a lock per access: read them once per fetched batch, not per message.
            is_final = final.value == 1
            target_of = {p: targets[p] for p in partitions}
            next_of = {p: next_offsets[p] for p in partitions}
            for msg in msgs:
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        continue
                    if err.code() in (KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED):
                        from engine.errors import UserError
                        raise UserError(f"not authorized to read {topic} with group {conf.get('group.id')}: "
                                        f"ask the topic's owner to share it")
                    if err.fatal() or err.code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC):
                        raise RuntimeError(f"Kafka error on {topic}: {err.str()}")
                    continue
                p, off = msg.partition(), msg.offset()
                t = target_of[p]
                if off < next_of[p] or (is_final and t != UNKNOWN and off > t):
                    continue  # already written, or beyond what the job published
                buf = buffers[p]
                if buf and off <= buf[-1][0]:
                    continue
                value = msg.value()
                buf.append((off, value))
                nbytes += len(value)
                last_append[p] = now
            if nbytes:
                with bytes_in.get_lock():
                    bytes_in.value += nbytes
            for p in partitions:
                buf = buffers[p]
                if not buf:
                    continue
                t = targets[p]
                reached = t != UNKNOWN and buf[-1][0] >= t
                if len(buf) >= batchsize or reached or now - last_append[p] > IDLE_FLUSH_S:
                    while len(buffers[p]) > batchsize:  # keep files at batchsize alerts
                        head, rest = buffers[p][:batchsize], buffers[p][batchsize:]
                        buffers[p] = head
                        flush(p)
                        buffers[p] = rest + buffers[p]
                    flush(p)
                    if stop.is_set():
                        break
            if not msgs:
                # Offsets that are never delivered (transaction markers) must not block the end.
                for p in active:
                    if buffers[p]:
                        continue
                    t = targets[p]
                    if final.value == 1 and t != UNKNOWN and next_offsets[p] <= t:
                        pos = consumer.position([TopicPartition(topic, p)])[0].offset
                        if pos > t:
                            next_offsets[p] = pos
        # Stopping: what is held in memory is written and committed, unless the limit is reached.
        if os.getppid() == parent_pid:
            for p in partitions:
                if buffers[p] and (limit is None or claimed.value < limit):
                    flush(p)
            uncommitted.update({q: o for q, o in committed_async.items() if q not in uncommitted})
            commit(wait=True)
    finally:
        consumer.close()
