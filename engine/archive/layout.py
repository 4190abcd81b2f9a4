"""Night partitions ``<archive>/year=YYYY/month=MM/day=DD/part-<n>.parquet`` and archive metadata."""

from __future__ import annotations

import datetime as dt
import json
import re
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


def scan_nights(archive_dir) -> dict[dt.date, Path]:
    root = Path(archive_dir)
    if not root.is_dir():
        raise UserError(f"archive directory {str(root)!r} does not exist")
    found = {}
    for y in root.glob("year=*"):
        for m in y.glob("month=*"):
            for d in m.glob("day=*"):
                try:
                    night = night_of_dir(d)
                except (KeyError, ValueError):
                    continue
                if d.is_dir() and parquet_files(d):
                    found[night] = d
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
