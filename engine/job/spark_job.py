"""The Spark engine: read the selected nights, filter in Spark SQL, publish from ``mapInArrow``.

pyspark 4.3 from PyPI has neither ``to_avro`` nor the Kafka connector (research spark.md 0), so
each task encodes and publishes from Python: ``mapInArrow`` hands it Arrow batches, it runs the
shared :func:`engine.job.pipeline.process_batch` and a ``PartitionWriter``, and yields its
``WorkerReport`` as rows; the driver collects and adds them up for the manifest.

Safety (spark.md 2.1, 6): ``runSQLOnFiles=false`` (no ``text.`/path` `` reads), ANSI off (a
``x/0`` must not abort a job half-way through publishing; Fink ran Spark 3 with ANSI off), the
filters are analysed in :meth:`SparkJob.prepare`, before any message is published.
Progress: tasks append counts to ``<job dir>/progress`` (shared filesystem in local mode and on
the local standalone cluster); on a remote cluster the count appears when the job ends.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def is_local_master(master: str) -> bool:
    m = master.strip()
    return m.startswith("local") or m.startswith(("spark://127.0.0.1:", "spark://localhost:"))


# The JVM of a ``local[*]`` master (driver and executors in one process) only streams Parquet
# column batches to the Python workers, so (measured on a 1M-alert cross-match job, 2 cores):
# the serial collector keeps the heap near what is live (G1 grew it to the -Xmx: JVM RSS 1 500
# -> 690 MB with the default 2g) and C1-only JIT halves the compilation work of a short job
# (job CPU 52 -> 42.5 s, start-up 15 -> 10 CPU-s). ``spark.conf`` in the settings overrides it.
LOCAL_JVM_OPTIONS = "-XX:+UseSerialGC -XX:TieredStopAtLevel=1"


def spark_session(settings, master: str, app_name: str = "fink-transfer", jvm_options: str = ""):
    """A SparkSession bound to loopback (local) with the safety settings above; ``jvm_options``
    go to a local master's JVM after LOCAL_JVM_OPTIONS (class sharing, engine.job.jvm_classes)."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")
    # pyspark picks the workers' interpreter from this variable (default: python3 on PATH).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    conf = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.runSQLOnFiles": "false",
        "spark.sql.ansi.enabled": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.maxRecordsPerBatch": "2000",
        "spark.driver.memory": settings.spark.driver_memory,
        "spark.executor.memory": settings.spark.executor_memory,
        "spark.python.worker.reuse": "true",
        # Spark sizes file splits by bytes on disk, and cutouts are ~90 % of them: with the 128 MB
        # default a lightcurve job got ~17 tasks per GB file, each paying task + producer set-up
        # (measured 3.4-4.4 s vs 1.9 s for 100 k alerts). With a large cap, Spark's own
        # bytes-per-core rule (totalBytes / defaultParallelism) sets the split, so tasks still
        # spread over every core of a cluster.
        "spark.sql.files.maxPartitionBytes": str(1 << 30),
    }
    if is_local_master(master):
        conf["spark.driver.host"] = "127.0.0.1"
        conf["spark.driver.bindAddress"] = "127.0.0.1"
    if master.startswith("local"):
        conf["spark.driver.extraJavaOptions"] = f"{LOCAL_JVM_OPTIONS} {jvm_options}".strip()
    conf.update({str(k): str(v) for k, v in (settings.spark.conf or {}).items()})
    if not master.startswith("local"):
        ship_project(conf, settings)
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


PROJECT_DIR_ON_EXECUTORS = "fink_transfer_py"


def ship_project(conf: dict, settings) -> None:
    """Send engine/ + kafka_io/ to the executors as an archive Spark unpacks there.

    Not ``addPyFile``: a zip on ``sys.path`` imports modules but the schema files
    (``engine/schemas/**.avsc``) are read from the filesystem, so the executors get the
    directory itself (``spark.archives`` unpacks it in their working directory) and find it
    through ``PYTHONPATH`` - the same mechanism as ``--archives env.tar.gz#environment``.
    """
    from engine.job.cluster import project_zip

    archive = f"{project_zip(settings.data_dir / 'cache')}#{PROJECT_DIR_ON_EXECUTORS}"
    conf["spark.archives"] = ",".join(a for a in (conf.get("spark.archives"), archive) if a)
    extra = conf.get("spark.executorEnv.PYTHONPATH")
    conf["spark.executorEnv.PYTHONPATH"] = os.pathsep.join(p for p in (PROJECT_DIR_ON_EXECUTORS, extra) if p)


def read_nights(spark, archive_dir: Path, nights: list[str], columns: list[str] | None):
    """The selected nights as one DataFrame (engine.archive.reader owns the unified schema)."""
    from engine.archive.reader import spark_read
    from engine.job.plan import night_dates

    df = spark_read(spark, archive_dir, night_dates(nights))
    if columns:
        df = df.select(*[c for c in df.columns if c in set(columns)])
    return df


def candidate_fields_to_read(plan) -> tuple[str, ...] | None:
    """The ``candidate`` fields the Python side needs, or None to ship the whole struct.

    Conditions that need the classification run in Python on the batch (post_conditions) and may
    read any candidate field, so any mention of ``candidate`` there keeps the whole struct.
    """
    from engine.content import candidate_fields_needed

    if any("candidate" in cond for cond in plan.post_conditions):
        return None
    return candidate_fields_needed(plan.survey, plan.content)


def prune_candidate(df, fields):
    """Rebuild ``candidate`` with only ``fields`` (a null struct stays null).

    Why: mapInArrow ships whole columns to Python, and ``candidate`` has ~100 fields. Reading
    only these fields (nested schema pruning) also keeps the scan under
    ``spark.sql.codegen.maxFields`` (100), so Parquet is read vectorised (``Batched: true``).
    Measured on 100 k alerts: Arrow receive time in Python 5.5 s -> 1.5-2.5 s. The projection
    and classification pick fields by name, so the published bytes do not change.
    """
    from pyspark.sql import functions as F

    cand = F.col("candidate")
    slim = F.struct(*[cand.getField(name).alias(name) for name in fields])
    return df.withColumn("candidate", F.when(cand.isNull(), F.lit(None)).otherwise(slim))


XMATCH_KEYS = ("_xmatch_ra", "_xmatch_dec")
TASKS_PER_CORE = 2


def fewer_tasks(df, like=None):
    """At most TASKS_PER_CORE tasks per core (``coalesce``, no shuffle), on top of a plan.

    On top: a ``coalesce`` between the scan and the projections stops Spark's nested schema
    pruning, and the scan then reads all ~100 ``candidate`` fields row by row (not vectorised).

    Why: file splits follow bytes on disk, mostly cutouts (41 splits for 1M alerts), and each
    task that runs Python pays a worker round trip and, when publishing, a Kafka producer
    (measured for the cross-match's positions pass on 2 cores: 17.7 s with 41 tasks, 4.5 s with 4).
    ``like``: a plan with the same partitions and no exchange, to count them on (``df.rdd`` of a
    plan with a broadcast join would run the broadcast side there and then, in ``prepare``).
    """
    most = TASKS_PER_CORE * max(1, df.sparkSession.sparkContext.defaultParallelism)
    return df.coalesce(most) if (df if like is None else like).rdd.getNumPartitions() > most else df


def with_position_keys(df, survey: str):
    """``df`` with the alert position as two double columns, the cross-match join keys.

    Added before ``prune_candidate``, so the scan reads the position fields whatever the content
    keeps of ``candidate``, and stays narrow (vectorised).
    """
    from pyspark.sql import functions as F

    from engine.xmatch import position_fields

    struct, ra, dec = position_fields(survey)
    key_ra, key_dec = XMATCH_KEYS
    return df.withColumn(key_ra, F.col(struct).getField(ra).cast("double")) \
             .withColumn(key_dec, F.col(struct).getField(dec).cast("double"))


def join_matches(keyed, options: dict):
    """The alerts near a catalogue source, with ``xmatch_id`` and ``xmatch_sep_arcsec``, in two passes.

    ``keyed`` comes from :func:`with_position_keys`. Why two passes: shipping every full alert row
    from the JVM to Python cost more than the match itself (docs/benchmarks.md, cross-match). So
    a first pass sends only the positions to Python (``mapInArrow`` over two doubles,
    :func:`engine.xmatch.match_positions`), which returns the matched positions with their source;
    Spark de-duplicates them (the match depends on the position only) and joins them back to the
    alerts by exact position with a broadcast hash join, so only matching rows cross into Python
    for the rest of the pipeline.
    """
    from pyspark.sql import functions as F

    from engine.xmatch import ID_COLUMN, SEP_COLUMN

    key_ra, key_dec = XMATCH_KEYS
    positions = fewer_tasks(keyed.select(F.col(key_ra).alias("ra"), F.col(key_dec).alias("dec"))
                            .where(F.col("ra").isNotNull() & F.col("dec").isNotNull()))

    def match(batches):
        from engine.xmatch import match_positions

        yield from match_positions(batches, options)

    matches = positions.mapInArrow(match, f"ra double, dec double, {ID_COLUMN} string, {SEP_COLUMN} double") \
                       .withColumnRenamed("ra", key_ra).withColumnRenamed("dec", key_dec) \
                       .dropDuplicates([key_ra, key_dec])
    joined = keyed.join(F.broadcast(matches), [key_ra, key_dec], "inner").drop(key_ra, key_dec)
    return fewer_tasks(joined, like=keyed)  # the streamed side keeps the scan's partitions


def open_session(settings, master: str):
    """(SparkSession, class archive its JVM records or None): a local master shares the JVM
    classes of earlier jobs (engine.job.jvm_classes)."""
    from engine.job.jvm_classes import forget_archive, sharing_options

    shared, recording = "", None
    if master.startswith("local"):
        shared, recording = sharing_options(settings, LOCAL_JVM_OPTIONS)
    try:
        return spark_session(settings, master, jvm_options=shared), recording
    except Exception:
        if recording is not None or "SharedArchiveFile" not in shared:
            raise
    # A JVM that dies mapping the archive (a damaged file: SIGBUS) would fail every later job too.
    forget_archive(settings, LOCAL_JVM_OPTIONS)
    return spark_session(settings, master), None


def start_session(settings, master: str):
    """:func:`open_session` in a thread, so the JVM starts while the job plans (a Future).

    Why: planning (imports, the catalogue and its overlap check) and the JVM's start-up are
    both a few seconds of one core each; on the cross-match bench they ran one after the other.
    """
    from engine.job.background import in_thread

    return in_thread("spark-start", open_session, settings, master)


def close_session(spark, recording) -> None:
    """Stop the session; then, if its JVM recorded classes, end the JVM so the archive is kept."""
    try:
        spark.stop()
    finally:
        if recording is not None:
            from engine.job.jvm_classes import finish_recording

            finish_recording(recording)


class SparkJob:
    def __init__(self, settings, plan, ctx, master: str | None = None, log=print, session=None):
        self.settings = settings
        self.plan = plan
        self.ctx = ctx
        self.master = master or settings.spark.master
        self.log = log
        self.session = session  # a start_session() Future begun before planning, or None
        self.spark = None
        self.df = None
        self.recording = None  # the class archive this job's JVM records (engine.job.jvm_classes)
        if not is_local_master(self.master):
            ctx.job_dir = ""  # executors elsewhere cannot write the progress file

    def prepare(self) -> None:
        """Start Spark, read, filter, and force analysis (field typos fail here, before publishing)."""
        if self.session is not None:
            self.spark, self.recording = self.session.result()
        else:
            self.spark, self.recording = open_session(self.settings, self.master)
        if self.recording is not None:
            self.log("JVM classes: recording them for later jobs (this job only; engine/job/jvm_classes.py)")
        elif "SharedArchiveFile" in self.spark.sparkContext.getConf().get("spark.driver.extraJavaOptions", ""):
            self.log("JVM classes: mapped from the archive of an earlier job")
        elif self.master.startswith("local") and self.settings.spark.class_sharing:
            self.log("JVM classes: not shared this time (another job records them, or the archive was unusable)")
        df = read_nights(self.spark, self.plan.archive_dir, self.plan.nights, self.plan.columns)
        for cond in self.plan.engine_conditions:
            df = df.filter(cond)
        df.schema  # noqa: B018 - analysis happens here in classic mode
        if self.ctx.xmatch:
            df = with_position_keys(df, self.plan.survey)
        fields = candidate_fields_to_read(self.plan) if "candidate" in df.columns else None
        if fields:
            df = prune_candidate(df, fields)
        if self.ctx.xmatch:
            df = join_matches(df, self.ctx.xmatch)
            self.ctx.xmatched = True
        if self.plan.limit is not None:
            df = df.coalesce(1)  # one task, so the per-worker limit is the job's limit
        self.df = df

    def run(self) -> list:
        from engine.job.pipeline import REPORT_SPARK_SCHEMA, BatchPublisher, report_batch
        from kafka_io.producer import WorkerReport

        ctx = self.ctx

        def publish_partition(batches):
            import random

            if ctx.xmatched:
                from engine.xmatch import forget_indexes

                forget_indexes()  # the first pass's index is not needed any more in this worker
            publisher = BatchPublisher(ctx, seed=random.SystemRandom().randrange(1 << 30))
            for batch in batches:
                publisher.publish(batch)
                if publisher.full:
                    break
            yield report_batch(publisher.close())

        rows = self.df.mapInArrow(publish_partition, REPORT_SPARK_SCHEMA).collect()
        self.log(f"Spark tasks finished ({len(rows)} per-partition reports)")
        return [WorkerReport.from_rows(row.asDict() for row in rows)]

    def close(self) -> None:
        if self.spark is None and self.session is not None:  # failed before prepare took it
            self.spark, self.recording = self.session.result()
        self.session = None
        if self.spark is not None:
            spark, recording, self.spark, self.recording = self.spark, self.recording, None, None
            close_session(spark, recording)
