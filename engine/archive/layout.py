"""Night partitions ``<archive>/year=YYYY/month=MM/day=DD/part-<n>.parquet`` and archive metadata."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import stat
import time
from pathlib import Path

from engine.errors import UserError
from engine.fileio import write_json_atomic

META_FILE = "_archive.json"
_PART = re.compile(r"^(year|month|day)=(\d+)$")


def night_dir(archive_dir, night: dt.date) -> Path:
    return Path(archive_dir) / f"year={night.year:04d}" / f"month={night.month:02d}" / f"day={night.day:02d}"


def night_of_dir(path: Path) -> dt.date:
    parts = {}
    for p in Path(path).parts[-3:]:
        m = _PART.match(p)
        if m:
            parts[m.group(1)] = int(m.group(2))
    return dt.date(parts["year"], parts["month"], parts["day"])


def parquet_files(night_path: Path) -> list[Path]:
    """Data files of one night (names starting with _ or . are metadata and ignored)."""
    return sorted(p for p in Path(night_path).iterdir()
                  if p.is_file() and p.suffix == ".parquet" and not p.name.startswith(("_", ".")))


# {night folder: (its mtime_ns, night, holds data files)}: a folder whose mtime has not changed
# has the same entries, so only new or changed nights are listed again. Why: the app asks for the
# nights of a range on every widget change, and listing 1,800 night folders took ~100 ms.
_NIGHT_CACHE: dict[str, tuple[int, dt.date | None, bool]] = {}
_SETTLED_NS = 2_000_000_000


def scan_nights(archive_dir) -> dict[dt.date, Path]:
    root = Path(archive_dir)
    if not root.is_dir():
        raise UserError(f"archive directory {str(root)!r} does not exist")
    found = {}
    now = time.time_ns()
    with os.scandir(root) as years:
        year_dirs = [e.path for e in years if e.name.startswith("year=") and e.is_dir()]
    for y in year_dirs:
        with os.scandir(y) as months:
            month_dirs = [e.path for e in months if e.name.startswith("month=") and e.is_dir()]
        for m in month_dirs:
            with os.scandir(m) as days:
                for e in days:
                    if not e.name.startswith("day="):
                        continue
                    try:
                        st = e.stat()
                    except OSError:
                        continue
                    if not stat.S_ISDIR(st.st_mode):
                        continue
                    cached = _NIGHT_CACHE.get(e.path)
                    # A folder changed in the last seconds is listed again: two changes within one
                    # tick of the file system clock leave the same mtime.
                    if cached is None or cached[0] != st.st_mtime_ns or now - st.st_mtime_ns < _SETTLED_NS:
                        d = Path(e.path)
                        try:
                            night = night_of_dir(d)
                        except (KeyError, ValueError):
                            night = None
                        cached = (st.st_mtime_ns, night, bool(night and parquet_files(d)))
                        _NIGHT_CACHE[e.path] = cached
                    if cached[1] is not None and cached[2]:
                        found[cached[1]] = Path(e.path)
    return dict(sorted(found.items()))


def require_archive(archive_dir) -> dict[dt.date, Path]:
    nights = scan_nights(archive_dir)
    if not nights:
        raise UserError(f"{str(archive_dir)!r} is not an archive: no year=/month=/day= partitions with Parquet files")
    return nights


def read_meta(archive_dir) -> dict:
    path = Path(archive_dir) / META_FILE
    if path.exists():
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            return {}
    return {}


def write_meta(archive_dir, meta: dict) -> None:
    write_json_atomic(Path(archive_dir) / META_FILE, meta, indent=2, sort_keys=False)


def detect_survey(archive_dir) -> str:
    """Survey from ``_archive.json``, else from the columns of the first data file."""
    from engine import surveys

    meta = read_meta(archive_dir)
    if meta.get("survey") in surveys.NAMES:
        return meta["survey"]
    import pyarrow.parquet as pq

    nights = require_archive(archive_dir)
    names = pq.read_schema(parquet_files(next(iter(nights.values())))[0]).names
    found = surveys.detect(names)
    if found:
        return found
    raise UserError(f"{str(archive_dir)!r}: cannot tell the survey (no survey's marker columns)")
