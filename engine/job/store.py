"""Job records on disk: the only state shared by the app, the CLI and the job process.

Layout ``<settings.jobs_dir>/<job_id>/``:

* ``spec.yaml``   the JobSpec as submitted (YAML);
* ``status.json`` one JSON object, always replaced atomically (write temp + rename), so a
  reader never sees half a file;
* ``job.log``     human-readable lines ``YYYY-mm-dd HH:MM:SS message``, appended while it runs;
* ``progress``    alerts published so far: every worker appends ``<n>\\n`` lines (O_APPEND
  writes of a few bytes are atomic), the sum is the live count. Spark tasks reach it because
  local mode and the local standalone cluster share the filesystem; on a remote cluster the
  file is not reachable and the count appears at the end only.

A job whose process vanished (``kill -9``, OOM, reboot) would stay "running" forever;
:func:`load_job` notices the dead pid and reports ``failed: process died``.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path

from engine.errors import UserError
from engine.fileio import write_text_atomic
from engine.supervisor import pid_alive

STATES = ("queued", "running", "done", "failed", "cancelled")
ACTIVE = ("queued", "running")
TERMINAL = ("done", "failed", "cancelled")
CANCEL_MARKER = "cancel_requested"  # written by cancel_job before it signals the process


@dataclass
class JobRecord:
    job_id: str
    state: str = "queued"
    topic: str = ""
    survey: str = ""
    test: bool = False
    published: int = 0
    estimated: int | None = None
    bytes: int = 0
    error: str = ""
    pid: int | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    engine: str = ""
    master: str = ""
    estimated_bytes: int | None = None
    owner: str = ""               # service mode: the user who submitted it ("" in local mode)
    shared_with: list = field(default_factory=list)   # users granted READ on its topic
    dispatched: float | None = None   # when the queue started its process (None: still waiting)
    directory: str = ""

    @property
    def waiting(self) -> bool:
        """Queued and not started yet (no process): what the fair queue serves."""
        return self.state == "queued" and not self.pid

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("directory")
        return data

    @classmethod
    def from_dict(cls, data: dict, directory: str = "") -> "JobRecord":
        known = {f.name for f in fields(cls)}
        rec = cls(**{k: v for k, v in data.items() if k in known and k != "directory"})
        rec.directory = directory
        return rec


def job_dir(settings, job_id: str) -> Path:
    if not job_id or "/" in job_id or job_id.startswith("."):
        raise UserError(f"bad job id {job_id!r}")
    return Path(settings.jobs_dir) / job_id


def new_job_id(now: datetime | None = None) -> str:
    now = now or datetime.now()
    return f"job-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def spec_to_dict(spec) -> dict:
    """A JobSpec (or a plain mapping) as a plain dict, for YAML and manifests."""
    if isinstance(spec, dict):
        return dict(spec)
    for name in ("to_dict", "as_dict"):
        if hasattr(spec, name):
            return dict(getattr(spec, name)())
    return asdict(spec)



def _write_status(directory: Path, rec: JobRecord) -> None:
    write_text_atomic(directory / "status.json", json.dumps(rec.to_dict(), indent=1, sort_keys=True))


def create_job(settings, spec, test: bool = False, engine: str = "", master: str = "",
               estimated: int | None = None, owner: str = "", estimated_bytes: int | None = None) -> JobRecord:
    """Make the job directory with its spec and a ``queued`` status; the topic is fixed now."""
    import yaml

    from kafka_io.topics import new_topic_name

    data = spec_to_dict(spec)
    from engine import surveys

    survey = str(data.get("survey") or surveys.DEFAULT)
    topic = data.get("topic") or new_topic_name(survey)
    data["topic"] = topic
    if hasattr(spec, "topic") and not getattr(spec, "topic", None):
        try:
            spec.topic = topic  # keep the caller's object in step with the record
        except Exception:  # frozen dataclass: the YAML copy is what counts
            pass
    job_id = new_job_id()
    directory = job_dir(settings, job_id)
    directory.mkdir(parents=True, exist_ok=False)
    write_text_atomic(directory / "spec.yaml", yaml.safe_dump(data, sort_keys=False))
    (directory / "job.log").touch()
    rec = JobRecord(job_id=job_id, topic=topic, survey=survey, test=bool(test), estimated=estimated,
                    engine=engine, master=master or "", owner=owner or "", estimated_bytes=estimated_bytes, directory=str(directory))
    _write_status(directory, rec)
    return rec


def read_spec(settings, job_id: str) -> dict:
    import yaml

    path = job_dir(settings, job_id) / "spec.yaml"
    try:
        return yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise UserError(f"unknown job {job_id}") from exc


def read_progress(settings, job_id: str) -> int:
    """Alerts published so far according to the workers' progress lines."""
    try:
        text = (job_dir(settings, job_id) / "progress").read_text()
    except OSError:
        return 0
    return sum(int(line) for line in text.split() if line.strip().lstrip("-").isdigit())


def add_progress(directory: str | os.PathLike, n: int) -> None:
    """Called by workers: one small O_APPEND write, atomic with respect to other writers."""
    if not n:
        return
    try:
        fd = os.open(os.path.join(directory, "progress"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{int(n)}\n".encode())
        finally:
            os.close(fd)
    except OSError:  # a remote executor without the job directory: progress only at the end
        pass


def load_job(settings, job_id: str) -> JobRecord:
    """The job's status; an active job whose process is gone is reported (and saved) as failed."""
    directory = job_dir(settings, job_id)
    try:
        data = json.loads((directory / "status.json").read_text())
    except OSError as exc:
        raise UserError(f"unknown job {job_id}") from exc
    except ValueError as exc:
        raise UserError(f"job {job_id} has an unreadable status.json") from exc
    rec = JobRecord.from_dict(data, str(directory))
    if rec.state == "running":
        rec.published = max(rec.published, read_progress(settings, job_id))
    if rec.active and rec.pid and not pid_alive(rec.pid, job_id):
        # Re-read: the process may have written its final status just before exiting.
        data = json.loads((directory / "status.json").read_text())
        rec = JobRecord.from_dict(data, str(directory))
        if rec.active:
            published = max(rec.published, read_progress(settings, job_id))
            if (directory / CANCEL_MARKER).exists():  # SIGTERM arrived before the job's handler
                rec = update_status(settings, job_id, state="cancelled", finished=time.time(),
                                    published=published, error="cancelled by the user")
                append_log(settings, job_id, "Job cancelled before it could report it")
            else:
                rec = update_status(settings, job_id, state="failed", finished=time.time(),
                                    published=published,
                                    error=f"process died ({published} alerts published before)")
                append_log(settings, job_id, f"Job process {rec.pid} is gone: marked failed")
    return rec


def update_status(settings, job_id: str, **changes) -> JobRecord:
    """Change some fields of status.json atomically; returns the new record."""
    directory = job_dir(settings, job_id)
    data = json.loads((directory / "status.json").read_text())
    bad = set(changes) - {f.name for f in fields(JobRecord)}
    if bad:
        raise ValueError(f"unknown status fields {sorted(bad)}")
    if "state" in changes and changes["state"] not in STATES:
        raise ValueError(f"bad state {changes['state']!r}")
    if "error" in changes and changes["error"]:
        changes["error"] = " ".join(str(changes["error"]).split())[:500]
    data.update(changes)
    rec = JobRecord.from_dict(data, str(directory))
    _write_status(directory, rec)
    return rec


def append_log(settings, job_id: str, message: str) -> None:
    line = f"{datetime.now():%Y-%m-%d %H:%M:%S} {message}"
    with open(job_dir(settings, job_id) / "job.log", "a") as fh:
        fh.write(line.rstrip("\n") + "\n")


def read_log(settings, job_id: str, tail: int | None = None) -> str:
    path = job_dir(settings, job_id) / "job.log"
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise UserError(f"unknown job {job_id}") from exc
    if tail is not None:
        lines = text.splitlines()
        text = "\n".join(lines[-tail:] if tail > 0 else []) + ("\n" if lines and tail > 0 else "")
    return text


def list_jobs(settings) -> list[JobRecord]:
    """Every job, newest first."""
    root = Path(settings.jobs_dir)
    if not root.is_dir():
        return []
    out = []
    for entry in root.iterdir():
        if entry.is_dir() and (entry / "status.json").is_file():
            try:
                out.append(load_job(settings, entry.name))
            except UserError:
                continue
    return sorted(out, key=lambda r: r.created, reverse=True)
