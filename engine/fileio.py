"""Crash-safe small-file writes and process liveness: shared by jobs, downloads and the broker.

Status files are read by other processes (the app polls them) while being rewritten, so every
write goes to a temporary name in the same folder, is fsynced, then renamed over the target: a
reader sees the old or the new content, never half of it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_json_atomic(path: str | os.PathLike, data, **dumps_kwargs) -> None:
    dumps_kwargs.setdefault("sort_keys", True)
    dumps_kwargs.setdefault("default", str)
    write_text_atomic(path, json.dumps(data, **dumps_kwargs))


def pid_alive(pid: int | None, cmdline_marker: str = "") -> bool:
    """True when ``pid`` runs (zombies count as dead; our own exited children are reaped).

    With ``cmdline_marker``, also require it in the process's command line, so a pid reused by
    an unrelated program after a reboot or a long pause is not taken for ours.
    """
    if not pid:
        return False
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            if fh.read().split(")")[-1].split()[0] == "Z":
                return False
        if cmdline_marker:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                return cmdline_marker.encode() in fh.read()
    except OSError:
        pass
    return True
