"""Caching and error conversion between the pages and the library, nothing else.

Caching policy (what is cached, for how long, how many entries) and error policy (any library
failure reaches a page as one-line ``UserError``, which the page shows with ``st.error``; the
traceback goes to the server log) live here, so the pages stay layout only and catch
``UserError`` alone. Functions that need neither are called from the pages directly.

In service mode each function passes the logged-in user (``components.session``) to the
library, which does every access check (``engine.access``, ``engine.accounts``).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from pathlib import Path

import streamlit as st

from engine import surveys
from engine.errors import UserError

SURVEY_LABELS = surveys.labels()
LOG = logging.getLogger("fink_transfer.app")


def user_errors(func):
    """Let UserError through; turn any other failure into a one-line UserError (logged in full)."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except UserError:
            raise
        except Exception as exc:
            LOG.exception("%s failed", func.__name__)
            raise UserError(f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}") from exc
    return wrapper


# ----------------------------------------------------------------------------------- settings

def _user():
    """The logged-in user in service mode, None in local mode (components.session)."""
    from components.session import current_user
    return current_user()


def get_settings():
    """Settings from the environment (cheap; not cached so a changed env is seen at once)."""
    from engine.config import load_settings

    return load_settings()


@st.cache_data(ttl=5, max_entries=4, show_spinner=False)
def _broker_problem(bootstrap: str, _settings) -> str | None:
    from kafka_io.broker import check_bootstrap
    from kafka_io.client_config import base_config

    try:
        check_bootstrap(bootstrap, base_config(_settings), timeout=2.0)
    except UserError as exc:
        return str(exc)
    return None


def broker_problem(settings) -> str | None:
    """One-line message when Kafka does not answer, else None (cached 5 s per cluster)."""
    return _broker_problem(settings.bootstrap_servers, settings)


# ------------------------------------------------------------------------ archive and schema

def _index_path(settings, survey: str) -> Path:
    return Path(settings.archive_dir(survey)) / "_stats" / "index.parquet"


@st.cache_data(ttl=300, max_entries=8, show_spinner=False)
def _load_index(archive_dir: str, mtime: float):
    from engine.estimate import load_index

    return load_index(archive_dir)


def archive_index(settings, survey: str):
    """The statistics index of the survey's archive (cached until the file changes), or None."""
    path = _index_path(settings, survey)
    if not path.is_file():
        return None
    return _load_index(str(path.parents[1]), path.stat().st_mtime)


def archive_nights(settings, survey: str) -> list[dt.date]:
    """Nights present in the archive, sorted."""
    index = archive_index(settings, survey)
    if index is None or len(index) == 0:
        return []
    if hasattr(index, "column_names"):  # pyarrow Table (engine.stats.read_index)
        import pyarrow.compute as pc

        values = pc.unique(index.column("night")).to_pylist()
    else:
        values = index["night"].unique()
    return sorted(dt.date.fromisoformat(str(n)) for n in values)


@st.cache_data(ttl=3600, max_entries=4, show_spinner=False)
def class_groups(survey: str) -> dict[str, list[str]]:
    """Class labels offered to the user, grouped (ZTF: Fink / SIMBAD / TNS; ELASTICC: classId)."""
    from engine.taxonomy import class_options

    return {str(k): list(v) for k, v in class_options(survey).items()}


@st.cache_resource(ttl=3600, max_entries=4, show_spinner=False)
def unified_schema(survey: str):
    """The superset Arrow schema conditions are validated against (read-only, shared)."""
    from engine.schemas import unified_arrow_schema

    return unified_arrow_schema(survey)


@st.cache_data(ttl=3600, max_entries=4, show_spinner=False)
def schema_fields(survey: str):
    """Table of every field a condition may use: dotted name and type."""
    import pandas as pd

    from engine.conditions import condition_schema
    from engine.schemas import leaf_fields

    # archive fields + finkclass/tnsclass
    return pd.DataFrame(leaf_fields(condition_schema(unified_schema(survey))), columns=["field", "type"])


@st.cache_data(ttl=3600, show_spinner=False)
def condition_functions():
    """Table of every function and operator a condition may use (engine.condition_functions)."""
    import pandas as pd

    from engine.condition_functions import help_rows

    return pd.DataFrame(help_rows(), columns=["call", "returns", "what"])


@user_errors
def condition_issues(text: str, survey: str) -> list:
    """Problems of the conditions text, one per bad line (``.line`` 1-based, ``.message``)."""
    from engine.conditions import check_conditions_text

    if not text.strip():
        return []
    return list(check_conditions_text(text, unified_schema(survey)))


@st.cache_data(ttl=300, max_entries=64, show_spinner=False)
def _eras_in(archive_dir: str, start: dt.date, stop: dt.date) -> list[str]:
    from engine.archive.reader import eras_in as _lib_eras_in

    nights = [start + dt.timedelta(days=i) for i in range((stop - start).days + 1)]
    return sorted(_lib_eras_in(archive_dir, nights))


def eras_in(settings, survey: str, start: dt.date, stop: dt.date) -> list[str]:
    """Schema periods touched by the night range (more than one: the reader unifies them)."""
    return _eras_in(str(settings.archive_dir(survey)), start, stop)


# ------------------------------------------------------------------------- spec and estimate

@user_errors
def estimate(settings, spec):
    """Estimate from the statistics index: totals and a per night x class table."""
    from engine.estimate import estimate as _estimate

    index = archive_index(settings, spec.survey)
    if index is None:
        raise UserError(f"no {spec.survey} archive at {settings.archive_dir(spec.survey)}: "
                        f"build one with 'fink-transfer archive build'")
    return _estimate(spec, index, archive_dir=settings.archive_dir(spec.survey))


@user_errors
def exact_count(settings, spec, timeout_s: float = 60.0):
    """Alerts that really match, conditions included (reads the archive: ``.count``, ``.method``)."""
    from engine.estimate import exact_count as _exact_count

    return _exact_count(spec, settings.archive_dir(spec.survey), timeout_s=timeout_s)


# ------------------------------------------------------------------------------------- jobs

@user_errors
def submit(settings, spec, test: bool, estimated: int | None = None):
    """Validate and launch the job exactly as ``fink-transfer submit`` does; returns its JobRecord.

    ``engine="auto"``: small selections take the single-machine path (jobs.small_job_threshold).
    """
    from engine.job.launcher import submit_job

    _plan, rec = submit_job(settings, spec, test=test, engine="auto", estimated=estimated, user=_user())
    _broker_topics.clear()  # the new topic shows at once on Monitor
    return rec


@user_errors
def job_spec_yaml(settings, job_id: str) -> str:
    """The spec exactly as the job recorded it (topic included): ``fink-transfer submit --spec``."""
    import yaml

    from engine.access import require_job
    from engine.job.store import read_spec

    require_job(settings, _user(), job_id)
    return yaml.safe_dump(read_spec(settings, job_id), sort_keys=False)


@user_errors
def jobs(settings) -> list:
    """The jobs this user may see (all in local mode); serves the fair queue on each refresh."""
    from engine.accounts import list_jobs_for
    from engine.job.queue import dispatch, queue_limited

    if queue_limited(settings):
        dispatch(settings)
    return list_jobs_for(settings, _user())


@user_errors
def job(settings, job_id: str):
    from engine.access import require_job

    return require_job(settings, _user(), job_id)


@user_errors
def job_log(settings, job_id: str, tail: int = 200) -> str:
    from engine.access import require_job
    from engine.job.store import read_log

    require_job(settings, _user(), job_id)
    return read_log(settings, job_id, tail=tail)


@user_errors
def cancel(settings, job_id: str):
    from engine.accounts import cancel as _cancel

    return _cancel(settings, _user(), job_id)


@user_errors
def share(settings, job_id: str, other: str):
    """Let another user read the job's topic (a READ ACL in service mode)."""
    from engine.accounts import share as _share

    return _share(settings, _user(), job_id, other)


def other_users(settings) -> list[str]:
    """Names a job can be shared with (service mode)."""
    from engine.users import list_users

    me = _user()
    return [u.name for u in list_users(settings) if me is None or u.name != me.name]


@user_errors
def queue_position(settings, job_id: str, records=None) -> int | None:
    from engine.job.queue import position

    return position(settings, job_id, records)


def audit_entries(settings) -> list[dict] | None:
    """The audit log for an admin in service mode (newest first), None for anyone else."""
    from engine.audit import read_audit

    user = _user()
    if user is None or not user.is_admin:
        return None
    return list(reversed(read_audit(settings, user)))


def connection_details(settings) -> dict | None:
    """Name, group id, servers and the register command of the user (service mode), else None."""
    from engine.accounts import connection_details as details

    user = _user()
    return None if user is None else details(settings, user)


@st.cache_data(ttl=10, max_entries=4, show_spinner="Reading topics…")
def _broker_topics(bootstrap: str, _settings) -> list[dict]:
    from kafka_io.topic_admin import topic_rows

    return topic_rows(_settings, read_manifests=True)


@user_errors
def broker_topics(settings) -> list[dict]:
    """Transfer topics on the broker with creation, expiry and manifest status (``topics list``),
    those of this user only in service mode."""
    from engine.accounts import list_topics_for

    return list_topics_for(settings, _user(), _broker_topics(settings.bootstrap_servers, settings))


# --------------------------------------------------------------------------------- downloads

def download_dir(settings, topic: str) -> Path:
    """Status folder of the download of ``topic`` (one per topic and user, so a restart resumes)."""
    from engine.accounts import download_status_dir

    return download_status_dir(settings, _user(), topic)


@user_errors
def start_download(settings, topic: str, outdir: str, nconsumers: int, batchsize: int,
                   partitionby: str | None):
    """Start (or resume: offsets are kept) the download in its own OS process."""
    from engine.accounts import start_download as _start
    from kafka_io.consumer.options import DownloadOptions

    options = DownloadOptions(topic=topic, outdir=outdir, nconsumers=int(nconsumers),
                              batchsize=int(batchsize), partitionby=partitionby).validate()
    return _start(settings, _user(), options)


@user_errors
def download_status(settings, topic: str):
    """Live status of the download of ``topic`` (a ``DownloadView``), or None if it never started."""
    from engine.access import require_topic
    from kafka_io.consumer.status import download_view

    require_topic(settings, _user(), topic)
    return download_view(download_dir(settings, topic))


@user_errors
def cancel_download(settings, topic: str) -> bool:
    from engine.access import require_topic
    from kafka_io.consumer.status import cancel_download as _cancel

    require_topic(settings, _user(), topic)
    return _cancel(download_dir(settings, topic))


# ----------------------------------------------------------------------------------- explore

@st.cache_data(ttl=5, max_entries=4, show_spinner=False)
def _parquet_folders(root: str) -> list[Path]:
    from kafka_io.consumer.writer import parquet_folders as folders

    return folders(root)


def parquet_folders(settings) -> list[Path]:
    """Download folders holding Parquet, newest first (a walk of the disk: cached a few seconds)."""
    from engine.accounts import explore_root

    return _parquet_folders(str(explore_root(settings, _user())))


@user_errors
def explore_folder(settings, folder: str) -> str:
    """The folder as Explore may read it: refused outside the user's space (service mode)."""
    from engine.accounts import explore_folder as check

    return str(check(settings, _user(), folder))


@st.cache_data(ttl=120, max_entries=4, show_spinner="Reading Parquet…")
@user_errors
def read_parquet(folder: str, mtime: float, max_rows: int = 200_000):
    """The downloaded alerts (partition folders become columns), at most ``max_rows``."""
    import pyarrow.dataset as ds

    from components.alerts import to_pandas

    dataset = ds.dataset(folder, format="parquet", partitioning="hive",
                         exclude_invalid_files=True)
    table = dataset.head(max_rows) if dataset.count_rows() > max_rows else dataset.to_table()
    return to_pandas(table)


def folder_mtime(folder) -> float:
    """The cache key of :func:`read_parquet` (newest file below the folder)."""
    from kafka_io.consumer.writer import folder_mtime as mtime

    return mtime(folder)


# ------------------------------------------------------------------ content fields, filters, YAML

@user_errors
def field_options(settings, survey: str):
    """Every selectable field or section with its type and measured Avro bytes per alert."""
    import pandas as pd

    from engine.content import selectable_fields
    from engine.stats import field_bytes

    try:
        measured = field_bytes(settings.archive_dir(survey))
    except Exception:  # noqa: BLE001 - no archive yet: types only
        measured = {}
    import pyarrow as pa

    def kind(t):
        return "array" if pa.types.is_list(t) else "struct" if pa.types.is_struct(t) else \
            "map" if pa.types.is_map(t) else str(t)

    rows = [(name, kind(f.type), measured.get(name)) for name, f in selectable_fields(survey).items()]
    return pd.DataFrame(rows, columns=["field", "type", "bytes"])


def filter_labels(survey: str) -> dict[str, str]:
    """``{label: caption}`` for the filter picker: each filter/block and its NOT."""
    from engine.fink_filters import options

    out = {}
    for f in options(survey):
        out[f.name] = f"{f.name} — {f.description} (yield {f.yield_:.3g})"
    for f in options(survey):
        out[f"NOT {f.name}"] = f"NOT {f.name} (yield {1 - f.yield_:.3g})"
    return out


@user_errors
def load_spec_yaml(data: bytes):
    """An uploaded configuration -> a validated JobSpec (the CLI's rules, one-line errors)."""
    from engine.query import JobSpec

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError("the configuration file is not UTF-8 text") from None
    return JobSpec.from_yaml(text)
