"""The app's one door to the library: every page gets its data and launches its work through here.

Why one module: caching policy (what is cached, for how long, how many entries) and error
policy (library problems become one-line ``UserError`` messages shown with ``st.error``) live
in one place, and the pages stay layout only. Nothing here computes science: each function is a
thin call into ``engine`` or ``kafka_io``.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from engine.errors import UserError

SURVEY_LABELS = {"ztf": "ZTF", "elasticc": "ELAsTiCC"}


# ----------------------------------------------------------------------------------- settings

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
    import pyarrow as pa

    rows: list[tuple[str, str]] = []

    def walk(prefix: str, field: pa.Field) -> None:
        name = f"{prefix}{field.name}"
        if pa.types.is_struct(field.type):
            for child in field.type:
                walk(name + ".", child)
        else:
            rows.append((name, str(field.type)))

    from engine.conditions import condition_schema

    for f in condition_schema(unified_schema(survey)):  # archive fields + finkclass/tnsclass
        walk("", f)
    return pd.DataFrame(rows, columns=["field", "type"])


@st.cache_data(ttl=3600, show_spinner=False)
def condition_functions():
    """Table of every function and operator a condition may use (engine.condition_functions)."""
    import pandas as pd

    from engine.condition_functions import help_rows

    return pd.DataFrame(help_rows(), columns=["call", "returns", "what"])


def condition_issues(text: str, survey: str) -> list:
    """Problems of the conditions text, one per bad line (``.line`` 1-based, ``.message``)."""
    from engine.conditions import check_conditions_text

    if not text.strip():
        return []
    return list(check_conditions_text(text, unified_schema(survey)))


def content_choices(survey: str) -> list[dict]:
    """Contents the user can pick: ``{"key", "label", "bytes_per_alert"}``."""
    from engine.content import content_options

    return list(content_options(survey))


@st.cache_data(ttl=300, max_entries=64, show_spinner=False)
def _eras_in(archive_dir: str, start: dt.date, stop: dt.date) -> list[str]:
    from engine.archive.reader import eras_in as _lib_eras_in

    nights = [start + dt.timedelta(days=i) for i in range((stop - start).days + 1)]
    return sorted(_lib_eras_in(archive_dir, nights))


def eras_in(settings, survey: str, start: dt.date, stop: dt.date) -> list[str]:
    """Schema periods touched by the night range (more than one: the reader unifies them)."""
    return _eras_in(str(settings.archive_dir(survey)), start, stop)


# ------------------------------------------------------------------------- spec and estimate

def conditions_list(text: str) -> list[str]:
    """One condition per non-empty line (the JobSpec's own parser: same rules as the CLI)."""
    from engine.query import parse_conditions_text

    return parse_conditions_text(text)


def make_spec(survey: str, start: dt.date, stop: dt.date, classes: list[str], conditions_text: str,
              content: str, limit: int | None = None):
    """The JobSpec the app, the CLI and the job share (raises UserError on bad input)."""
    from engine.query import JobSpec

    return JobSpec(survey=survey, start=start, stop=stop, classes=list(classes) or ["allclasses"],
                   conditions=conditions_text, content=content, limit=limit)


def spec_yaml(spec) -> str:
    return spec.to_yaml()


def estimate(settings, spec):
    """Estimate from the statistics index: totals and a per night x class table."""
    from engine.estimate import estimate as _estimate

    index = archive_index(settings, spec.survey)
    if index is None:
        raise UserError(f"no {spec.survey} archive at {settings.archive_dir(spec.survey)}: "
                        f"build one with 'fink-transfer archive build'")
    return _estimate(spec, index)


def exact_count(settings, spec, timeout_s: float = 60.0):
    """Alerts that really match, conditions included (reads the archive: ``.count``, ``.method``)."""
    from engine.estimate import exact_count as _exact_count

    return _exact_count(spec, settings.archive_dir(spec.survey), timeout_s=timeout_s)


# ------------------------------------------------------------------------------------- jobs

def submit(settings, spec, test: bool, estimated: int | None = None):
    """Launch the publishing job in its own process; returns its JobRecord.

    ``engine="auto"``: small selections take the single-machine path (jobs.small_job_threshold).
    """
    from engine.job.launcher import launch_job

    return launch_job(settings, spec, test=test, engine="auto", estimated=estimated)


def job_spec_yaml(settings, job_id: str) -> str:
    """The spec exactly as the job recorded it (topic included): ``fink-transfer submit --spec``."""
    import yaml

    from engine.job.store import read_spec

    return yaml.safe_dump(read_spec(settings, job_id), sort_keys=False)


def jobs(settings) -> list:
    from engine.job.store import list_jobs

    return list_jobs(settings)


def job(settings, job_id: str):
    from engine.job.store import load_job

    return load_job(settings, job_id)


def job_log(settings, job_id: str, tail: int = 200) -> str:
    from engine.job.store import read_log

    return read_log(settings, job_id, tail=tail)


def cancel(settings, job_id: str):
    from engine.job.launcher import cancel_job

    return cancel_job(settings, job_id)


@st.cache_data(ttl=10, max_entries=4, show_spinner="Reading topics…")
def _broker_topics(bootstrap: str, _settings) -> list[dict]:
    from kafka_io.topic_admin import topic_rows

    return topic_rows(_settings, read_manifests=True)


def broker_topics(settings) -> list[dict]:
    """Transfer topics on the broker with creation, expiry and manifest status (``topics list``)."""
    return _broker_topics(settings.bootstrap_servers, settings)


def forget_topics_cache() -> None:
    _broker_topics.clear()


def client_command(topic: str, survey: str, outdir: str | None = None) -> str:
    """The command a user runs to fetch the topic (official client and ours, same flags)."""
    from kafka_io.topics import client_command as command
    return command(topic, survey, outdir)


# --------------------------------------------------------------------------------- downloads

def download_dir(settings, topic: str) -> Path:
    """Status folder of the download of ``topic`` (one per topic, so a restart resumes)."""
    return Path(settings.downloads_dir) / topic


@dataclass(frozen=True)
class DownloadView:
    """What the Download page shows of a download's status file."""

    state: str
    downloaded: int
    expected: int | None
    rate: float | None
    rate_mb: float | None
    processes: int | None
    error: str | None
    partitions: list[dict]
    manifest: dict | None
    outdir: str
    waiting_for_job: bool

    @property
    def active(self) -> bool:
        return self.state in ("starting", "running")

    @property
    def complete(self) -> bool:
        return self.state == "done"


def start_download(settings, topic: str, outdir: str, nconsumers: int, batchsize: int,
                   partitionby: str | None):
    """Start (or resume: offsets are kept) the download in its own OS process."""
    from kafka_io.consumer.options import DownloadOptions
    from kafka_io.consumer.status import start_download as _start

    options = DownloadOptions(topic=topic, outdir=outdir, nconsumers=int(nconsumers),
                              batchsize=int(batchsize), partitionby=partitionby).validate()
    return _start(options, download_dir(settings, topic))


def _reap(pid) -> None:
    """Collect our finished child so it does not linger as a zombie."""
    try:
        os.waitpid(int(pid), os.WNOHANG)
    except (ChildProcessError, ValueError, TypeError, OSError):
        pass


def download_status(settings, topic: str) -> DownloadView | None:
    """Live status of the download of ``topic``, or None if it never started."""
    from kafka_io.consumer.status import read_download_status

    folder = download_dir(settings, topic)
    if not (folder / "status.json").is_file():
        return None
    data = read_download_status(folder)
    if data.get("pid"):
        _reap(data["pid"])
    parts = []
    for p, info in sorted((data.get("partitions") or {}).items(), key=lambda kv: int(kv[0])):
        info = info or {}
        parts.append({"partition": int(p), "written": info.get("written"),
                      "next offset": info.get("next_offset"),
                      "last offset": info.get("target_last_offset")})
    return DownloadView(
        state=str(data.get("state") or "unknown"),
        downloaded=int(data.get("alerts_written") or 0),
        expected=data.get("expected"),
        rate=data.get("rate_alerts_s"),
        rate_mb=data.get("rate_mb_s"),
        processes=data.get("processes"),
        error=data.get("error"),
        partitions=parts,
        manifest=data.get("completeness"),
        outdir=str(data.get("outdir") or ""),
        waiting_for_job=bool(data.get("waiting_for_job")),
    )


def cancel_download(settings, topic: str) -> bool:
    from kafka_io.consumer.status import cancel_download as _cancel

    return _cancel(download_dir(settings, topic))


# ----------------------------------------------------------------------------------- explore

def parquet_folders(settings) -> list[Path]:
    """Folders under the downloads dir holding Parquet files (newest first)."""
    root = Path(settings.downloads_dir)
    found: dict[Path, float] = {}
    if root.is_dir():
        for path in root.rglob("*.parquet"):
            top = path.parent
            while top.parent != root and root in top.parents:
                top = top.parent
            found[top] = max(found.get(top, 0.0), path.stat().st_mtime)
    return sorted(found, key=found.get, reverse=True)


@st.cache_data(ttl=120, max_entries=4, show_spinner="Reading Parquet…")
def read_parquet(folder: str, mtime: float, max_rows: int = 200_000):
    """The downloaded alerts (partition folders become columns), at most ``max_rows``."""
    import pyarrow.dataset as ds

    from components.alerts import to_pandas

    dataset = ds.dataset(folder, format="parquet", partitioning="hive",
                         exclude_invalid_files=True)
    table = dataset.head(max_rows) if dataset.count_rows() > max_rows else dataset.to_table()
    return to_pandas(table)


def folder_mtime(folder: str | os.PathLike) -> float:
    """Newest mtime below ``folder`` (cache key: a finished download refreshes the charts)."""
    newest = 0.0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                newest = max(newest, os.stat(os.path.join(root, name)).st_mtime)
            except OSError:
                pass
    return newest
