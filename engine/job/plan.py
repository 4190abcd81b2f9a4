"""Validate a job spec into a plan, before anything is launched or published.

The CLI ``submit`` calls :func:`plan_job` before starting the job process (so a bad condition
or an empty night range is a one-line error, exit 2, and nothing is published), and the job
process calls it again (the spec file may have been written by hand or by the app).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from engine.errors import UserError

TEST_JOB_LIMIT = 10  # what the real "Test job" button published (df.coalesce(1).limit(10))


def night_dates(nights) -> list[date]:
    return [date.fromisoformat(str(n)) for n in nights]


@dataclass
class JobPlan:
    spec: dict
    survey: str
    start: str
    stop: str
    nights: list[str]
    archive_dir: Path
    content: str
    limit: int | None
    topic: str
    fink_classes: tuple[str, ...] | None
    tns_classes: tuple[str, ...]
    engine_conditions: tuple[str, ...] = ()          # Spark SQL, class-independent
    engine_conditions_duckdb: tuple[str, ...] = ()   # the same, DuckDB dialect
    post_conditions: tuple[str, ...] = ()            # DuckDB SQL, need finkclass/tnsclass
    columns: list[str] | None = None                 # archive columns to read (None = all)
    avro_schema: dict = field(default_factory=dict)


def select_nights(archive_dir: Path, start: date, stop: date) -> list[str]:
    """Nights of [start, stop] that hold data; a one-line error when none does."""
    from engine.archive.reader import list_nights

    if not Path(archive_dir).is_dir():
        raise UserError(f"no archive at {archive_dir}: build one with 'fink-transfer archive build'")
    have = list_nights(archive_dir)
    nights = [n.isoformat() for n in have if start <= n <= stop]
    if not nights:
        span = f" (archive has {have[0]}..{have[-1]})" if have else " (the archive is empty)"
        raise UserError(f"unknown night range {start}..{stop}: no alert data in between{span}")
    return nights


def as_job_spec(spec):
    """A validated engine.query.JobSpec from a JobSpec, a mapping or a stored spec (one-line errors)."""
    from engine.job.store import spec_to_dict
    from engine.query import JobSpec

    if isinstance(spec, JobSpec):
        return spec
    try:
        return JobSpec.from_dict(spec_to_dict(spec))
    except UserError:
        raise
    except (TypeError, ValueError, KeyError) as exc:
        raise UserError(f"bad job spec: {exc}".splitlines()[0]) from exc


def _compile(conditions, survey: str):
    """engine.conditions.compile_conditions -> (engine spark, engine duckdb, post duckdb, columns)."""
    from engine.conditions import compile_conditions
    from engine.schemas import unified_arrow_schema

    compiled = compile_conditions(list(conditions), unified_arrow_schema(survey))
    spark, duck, post, cols = [], [], [], set()
    for cond in compiled:
        cols.update(cond.top_columns)
        if cond.needs_classification:
            post.append(cond.duckdb_sql)
        else:
            spark.append(cond.spark_sql)
            duck.append(cond.duckdb_sql)
    return tuple(spark), tuple(duck), tuple(post), cols


def plan_job(settings, spec, test: bool = False, topic: str | None = None) -> JobPlan:
    """Everything the job needs, or a UserError naming the first problem (one line)."""
    spec = as_job_spec(spec)
    data = spec.to_dict()
    survey, content = spec.survey, spec.selector
    archive_dir = Path(settings.archive_dir(survey))
    nights = select_nights(archive_dir, spec.start, spec.stop)
    start, stop = spec.start.isoformat(), spec.stop.isoformat()
    from engine.job.pipeline import resolve_classes
    fink, tns = resolve_classes(survey, spec.classes)
    spark_c, duck_c, post_c, cond_cols = _compile(spec.all_conditions(), survey)
    limit = spec.limit
    if test and limit is None:
        limit = TEST_JOB_LIMIT
    from engine.content import columns_needed
    from engine.dataset import check_job_options, output_avro_schema

    cond_cols = cond_cols | check_job_options(spec, archive_dir, nights)  # + the columns they read

    # + the partition columns: not archive columns, but the full packet carries them (as Fink's did)
    columns = list(columns_needed(survey, content, sorted(cond_cols))) + ["year", "month", "day"]
    return JobPlan(spec=data, survey=survey, start=start, stop=stop, nights=nights, archive_dir=archive_dir,
                   content=content, limit=limit, topic=topic or spec.topic or "",
                   fink_classes=fink, tns_classes=tns, engine_conditions=spark_c,
                   engine_conditions_duckdb=duck_c, post_conditions=post_c, columns=columns,
                   avro_schema=output_avro_schema(survey, content, data))


def make_context(settings, plan: JobPlan, job_dir: str = ""):
    """The worker-side JobContext of a plan (plain data, shipped to Spark executors)."""
    from engine.classification import load_tns_catalog
    from engine.job.pipeline import JobContext
    from kafka_io.client_config import producer_config

    return JobContext(survey=plan.survey, content=plan.content, topic=plan.topic, avro_schema=plan.avro_schema,
                      producer_conf=producer_config(settings), partitions=settings.kafka.partitions,
                      fink_classes=plan.fink_classes, tns_classes=plan.tns_classes,
                      engine_conditions=plan.engine_conditions,
                      engine_conditions_duckdb=plan.engine_conditions_duckdb,
                      post_conditions=plan.post_conditions, limit=plan.limit, job_dir=job_dir,
                      throttle_s=settings.jobs.throttle_s, tns=load_tns_catalog(plan.archive_dir),
                      xmatch=plan.spec.get("xmatch"), dataset=plan.spec.get("dataset"))
