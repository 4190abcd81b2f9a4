"""Fink-format topics for the consumer tests, built from a real Data Transfer sample.

The 31 alerts of ``samples/fink_datatransfer_2026/part-3-305711.avro`` (real writer schema, with
nested records, arrays of records and maps) are replicated with new candids, a class drawn from
a few Fink classes and a jd spread over three nights; cutout stamps are dropped to keep the
topics small (the schema keeps the cutout records).
"""

from __future__ import annotations

import io
import json
import random

import fastavro

from conftest import REFERENCE
from kafka_io.client_config import base_config, producer_config
from kafka_io.manifest import Manifest, publish_manifest
from kafka_io.producer import PartitionWriter, create_transfer_topics, merge_reports, publish_schema

SAMPLE = REFERENCE / "samples" / "fink_datatransfer_2026" / "part-3-305711.avro"
CLASSES = ["SN candidate", "Early SN Ia candidate", "Solar System MPC", "Unknown", "Kilonova candidate"]
JD0 = 2461121.5  # 2026-03-22 00:00 UTC


def sample() -> tuple[dict, list[dict]]:
    with open(SAMPLE, "rb") as fh:
        reader = fastavro.reader(fh)
        return reader.writer_schema, list(reader)


def make_values(n: int, first_candid: int = 10_000_000, seed: int = 0) -> tuple[dict, list[bytes], list[int]]:
    """Schema, n encoded alerts, and their candids."""
    schema, records = sample()
    parsed = fastavro.parse_schema(schema)
    rng = random.Random(seed)
    values, candids = [], []
    for i in range(n):
        rec = dict(records[i % len(records)])
        rec["candid"] = first_candid + i
        rec["finkclass"] = CLASSES[i % len(CLASSES)]
        cand = dict(rec["candidate"])
        cand["jd"] = JD0 + (i % 3) + rng.random() * 0.9
        rec["candidate"] = cand
        for c in ("cutoutScience", "cutoutTemplate", "cutoutDifference"):
            rec[c] = {"fileName": rec[c]["fileName"], "stampData": None}
        rec["prv_candidates"] = (rec["prv_candidates"] or [])[:5]
        rec["Plx"] = None  # an all-null column: must stay float32 on read
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, parsed, rec)
        values.append(buf.getvalue())
        candids.append(rec["candid"])
    return schema, values, candids


def publish(settings, topic: str, values: list[bytes], schema: dict | None, manifest: str | None = "done",
            workers: int = 2, create: bool = True) -> dict:
    """Publish like a job: topics, schema, alerts from ``workers`` writers, manifest."""
    admin, pconf = base_config(settings), producer_config(settings)
    if create:
        create_transfer_topics(admin, topic)
    if schema is not None:
        publish_schema(pconf, topic, json.dumps(schema), copies=3)
    reports = []
    chunk = (len(values) + workers - 1) // workers
    for w in range(workers):
        writer = PartitionWriter(pconf, topic, seed=w)
        writer.send(values[w * chunk:(w + 1) * chunk])
        reports.append(writer.close())
    totals = merge_reports(reports)
    if manifest is not None:
        publish_manifest(pconf, Manifest(topic=topic, status=manifest,
                                         partitions=totals if manifest != "running" else {},
                                         total=sum(t["count"] for t in totals.values())))
    return totals


def topic_totals(settings, topic: str) -> dict[int, dict]:
    """Per-partition message counts read from the broker's watermarks."""
    from confluent_kafka import Consumer, TopicPartition

    from kafka_io.retry import call_retrying

    c = Consumer({**base_config(settings), "group.id": "w-" + topic})
    try:
        out = {}
        for p in sorted(c.list_topics(topic, timeout=10).topics[topic].partitions):
            low, high = call_retrying(lambda left, p=p: c.get_watermark_offsets(
                TopicPartition(topic, p), timeout=left, cached=False), 30)
            if high > low:
                out[p] = {"count": high - low, "last_offset": high - 1}
        return out
    finally:
        c.close()
