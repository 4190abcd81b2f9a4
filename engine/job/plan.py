"""Validate a job spec into a plan, before anything is launched or published.

The CLI ``submit`` calls :func:`plan_job` before starting the job process (so a bad condition
or an empty night range is a one-line error, exit 2, and nothing is published), and the job
process calls it again (the spec file may have been written by hand or by the app).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from engine.errors import UserError

TEST_JOB_LIMIT = 10  # what the real "Test job" button published (df.coalesce(1).limit(10))
CONTENTS = ("lightcurve", "cutouts", "full")
_NIGHT_DIR = re.compile(r"year=(\d{4})/month=(\d{1,2})/day=(\d{1,2})$")


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


def _parse_date(value, what: str) -> date:
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError as exc:
        raise UserError(f"bad {what} date {value!r}: use YYYY-MM-DD") from exc


def available_nights(archive_dir: Path) -> list[str]:
    """Nights (YYYY-MM-DD) that have Parquet files in ``archive_dir``."""
    try:
        from engine.archive import reader
        lister = getattr(reader, "list_nights", None) or getattr(reader, "available_nights", None)
    except ImportError:
        lister = None
    if lister is not None:
        return sorted(str(n) for n in lister(archive_dir))
    out = set()
    for day in Path(archive_dir).glob("year=*/month=*/day=*"):
        m = _NIGHT_DIR.search(day.as_posix())
        if m and any(day.glob("*.parquet")):
            out.add(f"{int(m[1]):04d}-{int(m[2]):02d}-{int(m[3]):02d}")
    return sorted(out)


def select_nights(archive_dir: Path, start: str, stop: str) -> list[str]:
    first, last = _parse_date(start, "start"), _parse_date(stop, "stop")
    if last < first:
        raise UserError(f"unknown night range {start}..{stop}: the stop date is before the start date")
    if not Path(archive_dir).is_dir():
        raise UserError(f"no archive at {archive_dir}: build one with 'fink-transfer archive build'")
    have = available_nights(archive_dir)
    wanted = {(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)}
    nights = sorted(wanted.intersection(have))
    if not nights:
        span = f" (archive has {have[0]}..{have[-1]})" if have else " (the archive is empty)"
        raise UserError(f"unknown night range {start}..{stop}: no alert data in between{span}")
    return nights


def _normalise_spec(spec) -> dict:
    """Spec as a dict, validated by engine.query.JobSpec when available."""
    from engine.job.store import spec_to_dict

    data = spec_to_dict(spec)
    try:
        from engine.query import JobSpec
    except ImportError:
        return data
    if isinstance(spec, JobSpec):
        return spec_to_dict(spec)
    builder = getattr(JobSpec, "from_dict", None)
    if builder is None:
        return data
    try:
        parsed = builder(data)
    except UserError:
        raise
    except (TypeError, ValueError, KeyError) as exc:
        raise UserError(f"bad job spec: {exc}".splitlines()[0]) from exc
    out = spec_to_dict(parsed)
    if data.get("topic") and not out.get("topic"):
        out["topic"] = data["topic"]
    return out


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


def _schema_dict(schema) -> dict:
    if isinstance(schema, (str, bytes)):
        return json.loads(schema)
    return dict(schema)


def plan_job(settings, spec, test: bool = False, topic: str | None = None) -> JobPlan:
    """Everything the job needs, or a UserError naming the first problem (one line)."""
    data = _normalise_spec(spec)
    survey = str(data.get("survey") or "ztf")
    archive_dir = Path(settings.archive_dir(survey))
    content = str(data.get("content") or "lightcurve")
    if content not in CONTENTS:
        raise UserError(f"unknown content {content!r}: choose one of {', '.join(CONTENTS)}")
    start, stop = str(data.get("start") or ""), str(data.get("stop") or data.get("start") or "")
    if not start:
        raise UserError("the job spec needs a start date (YYYY-MM-DD)")
    nights = select_nights(archive_dir, start, stop)
    from engine.job.pipeline import resolve_classes
    fink, tns = resolve_classes(survey, data.get("classes") or [])
    spark_c, duck_c, post_c, cond_cols = _compile([c for c in (data.get("conditions") or []) if str(c).strip()],
                                                  survey)
    limit = data.get("limit")
    limit = int(limit) if limit not in (None, "") else None
    if limit is not None and limit < 0:
        raise UserError(f"bad limit {limit}: use a positive number")
    if test and limit is None:
        limit = TEST_JOB_LIMIT
    from engine.content import columns_needed, output_avro_schema

    # + the partition columns: not archive columns, but the full packet carries them (as Fink's did)
    columns = list(columns_needed(survey, content, sorted(cond_cols))) + ["year", "month", "day"]
    return JobPlan(spec=data, survey=survey, start=start, stop=stop, nights=nights, archive_dir=archive_dir,
                   content=content, limit=limit, topic=topic or data.get("topic") or "",
                   fink_classes=fink, tns_classes=tns, engine_conditions=spark_c,
                   engine_conditions_duckdb=duck_c, post_conditions=post_c, columns=columns,
                   avro_schema=_schema_dict(output_avro_schema(survey, content)))


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
                      tns=load_tns_catalog(plan.archive_dir))
