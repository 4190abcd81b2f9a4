"""Publish a transfer topic in the fink wire format (the one astrolabsoftware/fink-client consumes).

* ``<topic>``: 10 partitions, 7-day retention, key = topic name, value = schemaless Avro,
  partition drawn uniformly at random per alert (as the real job does since March 2023);
* ``<topic>_schema``: copies of one message whose **key** is the Avro schema JSON;
* ``<topic>_manifest``: our completion manifest (kafka_io.manifest), one JSON message per state.

Workers (Spark tasks or local processes) each own a :class:`PartitionWriter` and return a
:class:`WorkerReport` (per-partition counts and last offsets, from delivery reports); the driver
adds them up with :func:`merge_reports` for the completion manifest. The producer is idempotent
with ``acks=all`` (``kafka_io.client_config``): a broker that restarts or loses a replica while a
job publishes gets the unacknowledged batches again and keeps each alert exactly once.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Iterable

from engine.errors import BrokerUnavailable, UserError

DAY_MS = 86_400_000


def create_transfer_topics(admin_conf: dict, topic: str, partitions: int = 10,
                           retention_days: float = 7, timeout: float = 10.0, replication_factor: int = -1) -> None:
    """Create the data, schema and manifest topics (already existing ones are kept).

    All three get ``retention.ms`` = ``retention_days``: Kafka deletes them together.
    ``replication_factor`` -1 takes the cluster's ``default.replication.factor``.
    """
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    from kafka_io.topics import manifest_topic, schema_topic

    retention = {"retention.ms": str(int(retention_days * DAY_MS))}
    admin = AdminClient(admin_conf)
    rf = int(replication_factor)
    new = [NewTopic(topic, partitions, rf, config=retention),
           NewTopic(schema_topic(topic), 1, rf, config=retention),
           NewTopic(manifest_topic(topic), 1, rf, config=retention)]
    try:
        futures = admin.create_topics(new, request_timeout=timeout)
    except KafkaException as exc:
        raise BrokerUnavailable(f"cannot create topic {topic}: {exc}") from exc
    for name, fut in futures.items():
        try:
            fut.result(timeout=timeout)
        except KafkaException as exc:
            err = exc.args[0]
            if err.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise BrokerUnavailable(f"cannot create topic {name}: {err.str()}") from exc
        except Exception as exc:  # futures time out with concurrent.futures.TimeoutError
            raise BrokerUnavailable(f"cannot create topic {name}: broker did not answer in {timeout:.0f} s") from exc
    # Wait until metadata shows the data topic with every partition (creation is asynchronous).
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        md = admin.list_topics(topic=topic, timeout=timeout)
        meta = md.topics.get(topic)
        if meta is not None and meta.error is None and len(meta.partitions) == partitions:
            return
        time.sleep(0.1)
    raise BrokerUnavailable(f"topic {topic} was not visible with {partitions} partitions after {timeout:.0f} s")


def _avro_string(text: str) -> bytes:
    """Avro binary encoding of a one-field record {schema: string} (what Spark's to_avro wrote)."""
    data = text.encode()
    n, out = (len(data) << 1), bytearray()  # zig-zag of a non-negative length
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out) + data


def publish_schema(producer_conf: dict, topic: str, schema_json: str, copies: int = 1000,
                   timeout: float = 30.0) -> None:
    """Put ``copies`` messages on ``<topic>_schema`` whose key is the schema JSON, as Fink does."""
    from confluent_kafka import Producer

    from kafka_io.topics import schema_topic

    producer = Producer(producer_conf)
    value = _avro_string(f"new_schema_{time.time()}.avsc")
    errors: list = []

    def on_delivery(err, _msg):
        if err is not None:
            errors.append(err)

    for _ in range(max(1, copies)):
        producer.produce(schema_topic(topic), key=schema_json.encode(), value=value, on_delivery=on_delivery)
        producer.poll(0)
    if producer.flush(timeout) or errors:
        raise BrokerUnavailable(f"could not publish the schema of {topic}: "
                                f"{errors[0].str() if errors else 'flush timed out'}")


@dataclass
class WorkerReport:
    """What one worker sent: delivered counts and last offsets per partition, bytes."""
    counts: dict[int, int] = field(default_factory=dict)
    last_offsets: dict[int, int] = field(default_factory=dict)
    bytes_sent: int = 0

    def to_rows(self) -> list[dict]:
        """Flat rows (one per partition) so Spark tasks can return reports as Arrow batches."""
        parts = sorted(self.counts)
        return [{"partition": p, "count": self.counts.get(p, 0), "last_offset": self.last_offsets.get(p, -1),
                 "bytes_sent": self.bytes_sent if i == 0 else 0}
                for i, p in enumerate(parts)]

    @classmethod
    def from_rows(cls, rows: Iterable[dict]) -> "WorkerReport":
        rep = cls()
        for r in rows:
            p = int(r["partition"])
            rep.counts[p] = rep.counts.get(p, 0) + int(r["count"])
            rep.last_offsets[p] = max(rep.last_offsets.get(p, -1), int(r["last_offset"]))
            rep.bytes_sent += int(r.get("bytes_sent") or 0)
        return rep


class PartitionWriter:
    """Sends one worker's encoded alerts to random partitions of ``topic``.

    Not fork-safe (librdkafka): create it inside the worker process.
    """

    def __init__(self, producer_conf: dict, topic: str, partitions: int = 10, seed: int | None = None,
                 flush_timeout: float = 120.0):
        from confluent_kafka import Producer

        self.topic = topic
        self.partitions = partitions
        self.flush_timeout = flush_timeout
        self._key = topic.encode()
        self._rng = random.Random(seed)
        self._producer = Producer(producer_conf)
        self._report = WorkerReport()
        self._errors: list = []

    def _on_delivery(self, err, msg) -> None:
        if err is not None:
            self._errors.append(err)
            return
        p = msg.partition()
        rep = self._report
        rep.counts[p] = rep.counts.get(p, 0) + 1
        if msg.offset() > rep.last_offsets.get(p, -1):
            rep.last_offsets[p] = msg.offset()
        rep.bytes_sent += len(msg.value())

    def _produce(self, partition: int, value: bytes) -> None:
        while True:
            try:
                self._producer.produce(self.topic, value=value, key=self._key, partition=partition,
                                       on_delivery=self._on_delivery)
                return
            except BufferError:  # local queue full: let deliveries drain, then retry
                self._producer.poll(0.05)

    def send(self, values: Iterable[bytes]) -> int:
        """Queue alerts for delivery; returns how many were taken."""
        n = 0
        rand = self._rng.randrange
        for value in values:
            self._produce(rand(self.partitions), value)
            n += 1
        self._producer.poll(0)
        if self._errors:
            raise UserError(f"Kafka refused alerts for {self.topic}: {self._errors[0].str()}")
        return n

    def close(self) -> WorkerReport:
        """Flush everything and report; raise if any alert was not acknowledged."""
        remaining = self._producer.flush(self.flush_timeout)
        if remaining or self._errors:
            raise BrokerUnavailable(
                f"{remaining or len(self._errors)} alerts of {self.topic} were not delivered: "
                f"{self._errors[0].str() if self._errors else 'flush timed out'}")
        return self._report


def merge_reports(reports: Iterable[WorkerReport]) -> dict[int, dict]:
    """Per-partition totals of every worker: ``{partition: {"count": n, "last_offset": o}}``."""
    totals: dict[int, dict] = {}
    for rep in reports:
        for p, n in rep.counts.items():
            t = totals.setdefault(p, {"count": 0, "last_offset": -1})
            t["count"] += n
            t["last_offset"] = max(t["last_offset"], rep.last_offsets.get(p, -1))
    return dict(sorted(totals.items()))
