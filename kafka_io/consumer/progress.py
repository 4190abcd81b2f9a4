"""Progress line (alerts/s, MB/s) on stderr, and the final summary."""

from __future__ import annotations

import sys
import time

from engine.progress import progress_bar


def _fmt_count(n: float) -> str:
    return f"{n:,.0f}"


class Progress:
    """A tqdm bar when stderr is a terminal; a line every ``every`` seconds otherwise (only with
    ``verbose``), so logs stay readable. Also measures the steady rates the status file reports."""

    def __init__(self, total: int | None, verbose: bool = False, every: float = 10.0, stream=None):
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.total = total
        self.verbose = verbose
        self.every = every
        self._last_print = 0.0
        self._samples: list[tuple[float, int, int]] = []
        self._bar = progress_bar(total, "Downloading", stream=self.stream) if self.tty else None

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
        if self._bar is not None:
            if self._bar.total != self.total:  # the manifest may tell the total later
                self._bar.total = self.total
            self._bar.set_postfix_str(f"{mbs:.1f} MB/s {note}".strip(), refresh=False)
            self._bar.update(alerts - self._bar.n)
        elif self.verbose and now - self._last_print >= self.every:
            self._last_print = now
            total = f"/{_fmt_count(self.total)}" if self.total else ""
            self.stream.write(f"downloaded {_fmt_count(alerts)}{total} alerts, {rate:,.0f} alerts/s, "
                              f"{mbs:.1f} MB/s {note}\n")
            self.stream.flush()
        return rate, mbs

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


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
