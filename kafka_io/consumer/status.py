"""Status file of a download, and the API the app uses to launch, poll and cancel downloads.

A download launched by the app is a separate OS process (``python -m cli download ...
--status-file <dir>/status.json``), never forked from the Streamlit server. The status file is
rewritten atomically about every 0.2 s by that process::

    {"state": "starting|running|done|failed|cancelled", "topic", "outdir", "pid",
     "alerts_written", "expected", "rate_alerts_s", "rate_mb_s", "processes",
     "partitions": {"0": {"next_offset", "target_last_offset", "written"}, ...},
     "waiting_for_job": bool, "error": str|null, "completeness": {...}|null,
     "options": {...}, "started_at", "updated_at", "finished_at"}

``completeness`` is the manifest also written to ``<outdir>/_manifest_<topic>.json``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from engine import supervisor
from engine.fileio import write_json_atomic
from engine.supervisor import pid_alive

STATUS_NAME = "status.json"
LOG_NAME = "download.log"
PID_NAME = "pid"
TERMINAL = ("done", "failed", "cancelled")


class StatusWriter:
    """Keeps the status dict of this process and rewrites the file (no-op without a path)."""

    def __init__(self, path: str | None, options=None):
        self.path = Path(path) if path else None
        self.data = {"state": "starting", "pid": os.getpid(), "error": None, "completeness": None,
                     "alerts_written": 0, "started_at": time.time()}
        if options is not None:
            self.data.update(topic=options.topic, outdir=str(Path(options.outdir).resolve()),
                             options=options.to_dict())
        self._last = 0.0
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.update()

    def update(self, **values) -> None:
        self.data.update(values)
        if not self.path:
            return
        now = time.monotonic()
        if self.data.get("state") == "running" and now - self._last < 0.2:
            return
        self._last = now
        self.data["updated_at"] = time.time()
        write_json_atomic(self.path, self.data)


@dataclass
class DownloadHandle:
    status_dir: Path
    pid: int
    process: subprocess.Popen | None = None

    @property
    def status_file(self) -> Path:
        return self.status_dir / STATUS_NAME

    @property
    def log_file(self) -> Path:
        return self.status_dir / LOG_NAME

    def status(self) -> dict:
        return read_download_status(self.status_dir)

    def wait(self, timeout: float | None = None) -> dict:
        if self.process is not None:
            self.process.wait(timeout)
        return self.status()


def start_download(options, status_dir: str | os.PathLike) -> DownloadHandle:
    """Launch ``python -m cli download`` as its own process (own session, log in ``status_dir``)."""
    status_dir = Path(status_dir)
    status_dir.mkdir(parents=True, exist_ok=True)
    status_file = status_dir / STATUS_NAME
    # Written before the launch, so the child's own updates (same pid) can never be overwritten.
    write_json_atomic(status_file, {"state": "starting", "pid": None, "topic": options.topic,
                                    "outdir": str(Path(options.outdir).resolve()), "options": options.to_dict(),
                                    "alerts_written": 0, "error": None, "completeness": None,
                                    "started_at": time.time(), "updated_at": time.time()})
    proc = supervisor.spawn(supervisor.cli_command("download", *options.to_argv(), "--status-file", str(status_file)),
                            status_dir / LOG_NAME)
    (status_dir / PID_NAME).write_text(str(proc.pid))
    return DownloadHandle(status_dir, proc.pid, proc)


@dataclass(frozen=True)
class DownloadView:
    """What a user is shown of a download's status file (the app's Download page)."""

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


def download_view(status_dir: str | os.PathLike) -> DownloadView | None:
    """The live status of the download kept in ``status_dir``, or None if it never started."""
    if not (Path(status_dir) / STATUS_NAME).is_file():
        return None
    data = read_download_status(status_dir)
    parts = [{"partition": int(p), "written": (info or {}).get("written"),
              "next offset": (info or {}).get("next_offset"), "last offset": (info or {}).get("target_last_offset")}
             for p, info in sorted((data.get("partitions") or {}).items(), key=lambda kv: int(kv[0]))]
    return DownloadView(
        state=str(data.get("state") or "unknown"), downloaded=int(data.get("alerts_written") or 0),
        expected=data.get("expected"), rate=data.get("rate_alerts_s"), rate_mb=data.get("rate_mb_s"),
        processes=data.get("processes"), error=data.get("error"), partitions=parts,
        manifest=data.get("completeness"), outdir=str(data.get("outdir") or ""),
        waiting_for_job=bool(data.get("waiting_for_job")))


def read_download_status(status_dir: str | os.PathLike) -> dict:
    """The status dict; a non-terminal state whose process is gone becomes ``failed``."""
    path = Path(status_dir) / STATUS_NAME
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {"state": "unknown", "error": f"no download status in {status_dir}"}
    except ValueError:
        time.sleep(0.05)
        data = json.loads(path.read_text())
    pid = data.get("pid")
    if pid is None and (Path(status_dir) / PID_NAME).is_file():
        pid = data["pid"] = int((Path(status_dir) / PID_NAME).read_text())
    supervisor.reap(pid)  # a download this process started, finished: no zombie left behind
    if data.get("state") not in TERMINAL and pid and not pid_alive(int(pid)):
        data["state"] = "failed"
        data["error"] = data.get("error") or "the download process ended unexpectedly (see download.log)"
    return data


def cancel_download(status_dir: str | os.PathLike) -> bool:
    """Ask the download to stop (SIGTERM): it writes and commits what it holds, then ends ``cancelled``."""
    data = read_download_status(status_dir)
    pid = data.get("pid")
    if data.get("state") in TERMINAL or not pid:
        return False
    return supervisor.send_signal(int(pid), signal.SIGTERM, group=False)  # its workers ignore SIGTERM anyway
