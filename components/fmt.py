"""Human-readable numbers for the app (sizes, counts, durations, dates)."""

from __future__ import annotations

import datetime as dt


def bytes_h(n: float | int | None) -> str:
    """1536 -> '1.5 KB' (decimal units, as the Fink portal uses)."""
    if n is None:
        return "–"
    n = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


def count_h(n: float | int | None) -> str:
    """12345 -> '12,345'."""
    return "–" if n is None else f"{int(n):,}"


def duration_h(seconds: float | None) -> str:
    """Short duration: '< 1 s', '42 s', '3 min 5 s', '2 h 10 min'."""
    if seconds is None:
        return "–"
    s = float(seconds)
    if s < 1:
        return "< 1 s"
    if s < 60:
        return f"{s:.0f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60)} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60)} min"


def when_h(ts: float | None) -> str:
    """Unix time -> 'YYYY-MM-DD HH:MM' (local time of the server)."""
    if not ts:
        return "–"
    return dt.datetime.fromtimestamp(float(ts)).strftime("%Y-%m-%d %H:%M")
