"""Per-user quotas, checked before a job is recorded: alerts and bytes per job, bytes per day.

The numbers are the statistics-index estimate (:func:`engine.estimate.estimate`: an upper bound,
since it cannot apply SQL conditions), so a refused job never ran and created no topic. Running
jobs at once (per user and global) are not refusals: those jobs wait in :mod:`engine.job.queue`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from engine.errors import UserError


@dataclass(frozen=True)
class Usage:
    alerts: int
    bytes: int


def estimate_plan(settings, plan) -> Usage:
    """Alerts and Avro bytes the plan's selection publishes at most (its limit applied)."""
    import dataclasses

    from engine.estimate import estimate, load_index
    from engine.query import JobSpec

    spec = JobSpec(**{k: v for k, v in plan.spec.items() if k in {f.name for f in dataclasses.fields(JobSpec)}})
    spec.limit = plan.limit
    try:
        index = load_index(plan.archive_dir)
    except Exception as exc:  # noqa: BLE001 - no index: quotas cannot be checked, refuse clearly
        raise UserError(f"no statistics index for {plan.survey}: quotas need one "
                        f"(fink-transfer archive index)") from exc
    est = estimate(spec, index)
    return Usage(alerts=int(est.n_alerts), bytes=int(est.bytes))


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def submitted_today(settings, owner: str) -> int:
    """Estimated bytes of the owner's jobs created since 00:00 UTC, cancelled-while-queued excluded."""
    from engine.job.store import list_jobs

    day = time.time() // 86400 * 86400
    return sum(r.estimated_bytes or 0 for r in list_jobs(settings)
               if r.owner == owner and r.created >= day and r.error != "cancelled while queued")


def check_quotas(settings, user, usage: Usage) -> None:
    """A UserError naming the first quota the estimate exceeds; local mode (user None) has none."""
    if user is None:
        return
    q = settings.quotas
    if q.alerts_per_job and usage.alerts > q.alerts_per_job:
        raise UserError(f"refused: the estimate is {usage.alerts} alerts, over the quota of "
                        f"{q.alerts_per_job} alerts per job (quotas.alerts_per_job); narrow the selection or set a limit")
    if q.bytes_per_job and usage.bytes > q.bytes_per_job:
        raise UserError(f"refused: the estimate is {_fmt_bytes(usage.bytes)}, over the quota of "
                        f"{_fmt_bytes(q.bytes_per_job)} per job (quotas.bytes_per_job)")
    if q.bytes_per_day:
        used = submitted_today(settings, user.name)
        if used + usage.bytes > q.bytes_per_day:
            raise UserError(f"refused: the estimate is {_fmt_bytes(usage.bytes)} and {_fmt_bytes(used)} were "
                            f"submitted today, over the quota of {_fmt_bytes(q.bytes_per_day)} per day "
                            f"(quotas.bytes_per_day)")
