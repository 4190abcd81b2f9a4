"""The one per-batch step shared by the Spark job and the single-machine job.

Both engines read night files, apply the class-independent conditions in their own SQL engine,
and hand Arrow record batches to :func:`process_batch`, which does what needs the Fink
classification: compute ``finkclass``/``tnsclass``, keep the selected classes, apply the
conditions that use those columns, project the requested content and encode each alert as
schemaless Avro. :class:`BatchPublisher` then sends the bytes with a ``PartitionWriter``, counts
progress and honours the Test-job limit. Same code, same bytes, whichever engine runs it.

A :class:`JobContext` is plain data (picklable), so Spark ships it to executors in the closure.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

CLASS_COLUMNS = ("finkclass", "tnsclass")


@dataclass
class JobContext:
    survey: str
    content: str
    topic: str
    avro_schema: dict
    producer_conf: dict = field(default_factory=dict)
    partitions: int = 10
    fink_classes: tuple[str, ...] | None = None   # None = every class
    tns_classes: tuple[str, ...] = ()
    engine_conditions: tuple[str, ...] = ()       # Spark SQL, applied by the engine before us
    engine_conditions_duckdb: tuple[str, ...] = ()
    post_conditions: tuple[str, ...] = ()         # DuckDB SQL on the classified batch
    limit: int | None = None                      # per worker; the driver enforces the total
    job_dir: str = ""                             # where workers append progress ("" = nowhere)
    throttle_s: float = 0.0                       # jobs.throttle_s: wait before each batch (tests, demos)
    tns: object = None                            # engine.classification.TnsCatalog (None = none)
    xmatch: dict | None = None                    # engine.xmatch options (path = the stored catalogue)
    dataset: dict | None = None                   # engine.dataset options (cap, sample, split)
    xmatched: bool = False                        # the engine matched already: batches carry xmatch_id/sep

    @property
    def schema_json(self) -> str:
        return json.dumps(self.avro_schema, indent=2)


def resolve_classes(survey: str, labels) -> tuple[tuple[str, ...] | None, tuple[str, ...]]:
    """Portal labels -> (finkclass values or None for every class, tnsclass values).

    The rules live in ``engine.taxonomy.split_class_selection`` (``(SIMBAD) x`` -> finkclass x,
    ``(TNS) x`` -> tnsclass, ELASTICC classIds); an unknown label is a UserError.
    """
    from engine.taxonomy import split_class_selection

    split = split_class_selection(list(labels or []), survey)
    if split is None:
        return None, ()
    fink, tns = split
    return tuple(fink), tuple(tns)


def classify(batch, ctx: JobContext):
    """Add the survey's class columns (engine.surveys.<survey>.classify)."""
    from engine import surveys

    return surveys.get(ctx.survey).classify(batch, ctx.tns)


def class_mask(batch, ctx: JobContext):
    """Boolean mask of rows in the selected classes (None = keep all)."""
    from engine.classification import selected_classes_mask

    if ctx.fink_classes is None:
        return None
    return selected_classes_mask(batch, ctx.fink_classes, ctx.tns_classes)


def condition_mask(batch, conditions_sql):
    """Evaluate DuckDB SQL conditions on one batch; a mask keeps the batch's exact Arrow types."""
    import duckdb
    import pyarrow as pa

    if not conditions_sql:
        return None
    where = " AND ".join(f"({c})" for c in conditions_sql)
    con = duckdb.connect()
    try:
        con.execute("SET threads TO 1")
        con.register("batch", pa.Table.from_batches([batch]))
        keep = con.sql(f"SELECT COALESCE(({where}), FALSE) AS keep FROM batch").to_arrow_table().column(0)
    finally:
        con.close()
    return keep.combine_chunks()


def select_rows(batch, ctx: JobContext):
    """Classify, then keep the rows of the selected classes that pass the class-aware conditions."""
    batch = classify(batch, ctx)
    mask = class_mask(batch, ctx)
    if mask is not None:
        batch = batch.filter(mask)
    if batch.num_rows and ctx.post_conditions:
        batch = batch.filter(condition_mask(batch, ctx.post_conditions))
    return batch


def process_batch(batch, ctx: JobContext) -> list[bytes]:
    """One Arrow batch of archive rows -> the Avro-encoded alerts to publish."""
    from engine.avro.encoder import encode_batch
    from engine.content import project
    from engine.dataset import after_selection, before_selection

    if batch.num_rows == 0:
        return []
    batch = before_selection(batch, ctx)  # cross-match and sample: cheap cuts first
    if batch.num_rows == 0:
        return []
    selected = select_rows(batch, ctx)
    if selected.num_rows == 0:
        return []
    projected = after_selection(selected, project(selected, ctx.survey, ctx.content), ctx)
    return encode_batch(projected, ctx.avro_schema) if projected.num_rows else []


class BatchPublisher:
    """One worker's publishing loop: process batches, send, count, stop at the limit."""

    def __init__(self, ctx: JobContext, seed: int | None = None, progress_every: int = 2000):
        from kafka_io.producer import PartitionWriter

        self.ctx = ctx
        self.writer = PartitionWriter(ctx.producer_conf, ctx.topic, partitions=ctx.partitions, seed=seed)
        self.sent = 0
        self._unreported = 0
        self._progress_every = progress_every
        self._throttle = ctx.throttle_s

    @property
    def full(self) -> bool:
        return self.ctx.limit is not None and self.sent >= self.ctx.limit

    def publish(self, batch) -> int:
        """Publish the selected alerts of ``batch``; returns how many were queued."""
        if self.full:
            return 0
        if self._throttle:
            time.sleep(self._throttle)
        values = process_batch(batch, self.ctx)
        if self.ctx.limit is not None:
            values = values[: self.ctx.limit - self.sent]
        n = self.writer.send(values)
        self.sent += n
        self._unreported += n
        if self._unreported >= self._progress_every:
            self._report_progress()
        return n

    def _report_progress(self) -> None:
        if self.ctx.job_dir and self._unreported:
            from engine.job.store import add_progress
            add_progress(self.ctx.job_dir, self._unreported)
        self._unreported = 0

    def close(self):
        """Flush and return the WorkerReport (for the manifest's per-partition totals)."""
        report = self.writer.close()
        self._report_progress()
        return report


REPORT_SPARK_SCHEMA = "partition int, count long, last_offset long, bytes_sent long"


def report_batch(report):
    """A WorkerReport as an Arrow batch matching REPORT_SPARK_SCHEMA (what a Spark task yields)."""
    import pyarrow as pa

    schema = pa.schema([("partition", pa.int32()), ("count", pa.int64()),
                        ("last_offset", pa.int64()), ("bytes_sent", pa.int64())])
    rows = report.to_rows()
    if not rows and report.bytes_sent:
        rows = [{"partition": 0, "count": 0, "last_offset": -1, "bytes_sent": report.bytes_sent}]
    return pa.RecordBatch.from_pylist(rows, schema=schema)
