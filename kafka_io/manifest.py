"""Completion manifest on ``<topic>_manifest``: proof of what a job published.

The job publishes a ``running`` manifest when it starts and a final one (``done``, ``failed`` or
``cancelled``) when it ends, each a single JSON message (key = topic name). A consumer that
reached ``last_offset`` of every partition of a ``done`` manifest has everything, without
trusting timeouts or broker watermarks (fink-broker#1170: a topic still being written has
watermarks that are not its end).

Message value::

    {"version": 1, "topic": str, "status": "running|done|failed|cancelled",
     "partitions": {"0": {"count": int, "last_offset": int}, ...},
     "total": int, "spec": {...job spec...}, "message": str,
     "created_at": float, "finished_at": float | null}
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, field

from engine.errors import BrokerUnavailable

TERMINAL = ("done", "failed", "cancelled")


@dataclass
class Manifest:
    topic: str
    status: str
    partitions: dict[int, dict] = field(default_factory=dict)
    total: int = 0
    spec: dict = field(default_factory=dict)
    message: str = ""
    created_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    version: int = 1

    @property
    def complete(self) -> bool:
        return self.status == "done"

    def to_json(self) -> str:
        data = asdict(self)
        data["partitions"] = {str(k): v for k, v in sorted(self.partitions.items())}
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> "Manifest":
        data = json.loads(text)
        data["partitions"] = {int(k): v for k, v in (data.get("partitions") or {}).items()}
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def publish_manifest(producer_conf: dict, manifest: Manifest, timeout: float = 30.0) -> None:
    """Append one manifest message (alone in its batch, so the watermark stays exact)."""
    from confluent_kafka import Producer

    from kafka_io.topics import manifest_topic

    producer = Producer(producer_conf)
    errors: list = []
    producer.produce(manifest_topic(manifest.topic), key=manifest.topic.encode(),
                     value=manifest.to_json().encode(),
                     on_delivery=lambda err, _m: errors.append(err) if err else None)
    if producer.flush(timeout) or errors:
        raise BrokerUnavailable(f"could not publish the manifest of {manifest.topic}: "
                                f"{errors[0].str() if errors else 'flush timed out'}")


def read_manifest(base_conf: dict, topic: str, timeout: float = 10.0) -> Manifest | None:
    """The latest manifest of ``topic``, or None when the topic has none (e.g. a real Fink topic)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

    from kafka_io.topics import manifest_topic

    name = manifest_topic(topic)
    conf = dict(base_conf)
    conf.update({"group.id": f"manifest-reader-{uuid.uuid4().hex}", "enable.auto.commit": False,
                 "auto.offset.reset": "earliest"})
    consumer = Consumer(conf)
    try:
        try:
            md = consumer.list_topics(topic=name, timeout=timeout)
        except KafkaException as exc:
            raise BrokerUnavailable(f"broker did not answer while reading {name}: {exc}") from exc
        meta = md.topics.get(name)
        if meta is None or meta.error is not None or not meta.partitions:
            return None
        from kafka_io.retry import call_retrying
        try:
            low, high = call_retrying(lambda left: consumer.get_watermark_offsets(
                TopicPartition(name, 0), timeout=left, cached=False), timeout)
        except KafkaException as exc:
            raise BrokerUnavailable(f"broker did not answer while reading {name}: {exc.args[0].str()}") from exc
        if high <= low:
            return None
        consumer.assign([TopicPartition(name, 0, OFFSET_BEGINNING)])
        latest = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = consumer.poll(min(1.0, max(0.05, deadline - time.monotonic())))
            if msg is None:
                if latest is not None:
                    break
                continue
            if msg.error():
                continue
            latest = Manifest.from_json(msg.value())
            if msg.offset() >= high - 1:
                break
        return latest
    finally:
        consumer.close()
