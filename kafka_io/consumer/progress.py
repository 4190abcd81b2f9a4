"""Progress line (alerts/s, MB/s) on stderr, and the final summary."""

from __future__ import annotations

import sys
import time


def _fmt_count(n: float) -> str:
    return f"{n:,.0f}"


class Progress:
    """A one-line progress bar when stderr is a terminal; a line every ``every`` seconds otherwise
    (only with ``verbose``), so logs stay readable."""

    def __init__(self, total: int | None, verbose: bool = False, every: float = 10.0, stream=None):
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.total = total
        self.verbose = verbose
        self.every = every
        self.start = time.monotonic()
        self._last_print = 0.0
        self._samples: list[tuple[float, int, int]] = []

    def rates(self, alerts: int, nbytes: int) -> tuple[float, float]:
        """Alerts/s and MB/s over the last ~5 s (steady state, not diluted by start-up)."""
        now = time.monotonic()
        self._samples.append((now, alerts, nbytes))
        while len(self._samples) > 2 and now - self._samples[0][0] > 5.0:
            self._samples.pop(0)
        t0, a0, b0 = self._samples[0]
        dt = now - t0
        if dt <= 0:
            return 0.0, 0.0
        return (alerts - a0) / dt, (nbytes - b0) / dt / 1e6

    def update(self, alerts: int, nbytes: int, note: str = "") -> tuple[float, float]:
        rate, mbs = self.rates(alerts, nbytes)
        now = time.monotonic()
        if self.tty:
            if now - self._last_print >= 0.2:
                self._last_print = now
                if self.total:
                    frac = min(1.0, alerts / self.total)
                    bar = "#" * int(frac * 30)
                    head = f"[{bar:<30}] {_fmt_count(alerts)}/{_fmt_count(self.total)}"
                else:
                    head = f"{_fmt_count(alerts)} alerts"
                self.stream.write(f"\rDownloading {head}  {rate:,.0f} alerts/s  {mbs:.1f} MB/s {note}\x1b[K")
                self.stream.flush()
        elif self.verbose and now - self._last_print >= self.every:
            self._last_print = now
            total = f"/{_fmt_count(self.total)}" if self.total else ""
            self.stream.write(f"downloaded {_fmt_count(alerts)}{total} alerts, {rate:,.0f} alerts/s, "
                              f"{mbs:.1f} MB/s {note}\n")
            self.stream.flush()
        return rate, mbs

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def summary_lines(completeness: dict, elapsed: float, alerts_run: int, bytes_run: int) -> list[str]:
    """Per-partition completeness table and one summary line."""
    lines = [f"{'partition':>9}  {'first':>10}  {'last':>10}  {'alerts':>10}  {'target':>10}  status"]
    for p, row in sorted(completeness["partitions"].items(), key=lambda kv: int(kv[0])):
        first = "-" if row["first_offset"] is None else row["first_offset"]
        last = "-" if row["last_offset"] is None else row["last_offset"]
        target = "?" if row["target_last_offset"] is None else row["target_last_offset"]
        lines.append(f"{p:>9}  {first:>10}  {last:>10}  {row['alerts_written']:>10}  {target:>10}  "
                     f"{'complete' if row['complete'] else 'incomplete'}")
    rate = alerts_run / elapsed if elapsed > 0 else 0.0
    lines.append(f"{completeness['state']}: {completeness['alerts_written']:,} alerts in {completeness['outdir']} "
                 f"({alerts_run:,} this run in {elapsed:.1f} s, {rate:,.0f} alerts/s, "
                 f"{bytes_run / max(elapsed, 1e-9) / 1e6:.1f} MB/s); "
                 f"{'COMPLETE' if completeness['complete'] else 'not complete: run again to resume'}")
    return lines
