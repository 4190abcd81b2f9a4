"""Crash-safe small-file writes: shared by jobs, downloads and the broker.

Status files are read by other processes (the app polls them) while being rewritten, so every
write goes to a temporary name in the same folder, is fsynced, then renamed over the target: a
reader sees the old or the new content, never half of it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


class InDataDir:
    """A read-only attribute naming a path in the owner's ``data_dir`` (``jobs_dir =
    InDataDir("jobs")``): the settings and the broker each name several entries of their folder,
    one line each says where."""

    def __init__(self, name: str, doc: str = ""):
        self.name = name
        self.__doc__ = doc or f"``<data_dir>/{name}``"

    def __get__(self, obj, owner=None):
        return self if obj is None else obj.data_dir / self.name


def fsync_path(path: str | os.PathLike) -> None:
    """Flush a written file, or a folder after a rename in it, to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
