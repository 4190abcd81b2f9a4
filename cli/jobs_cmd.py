"""``fink-transfer jobs list|show|log|cancel|queue|share|run``: inspect and control job processes."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime


def register(sub) -> None:
    p = sub.add_parser("jobs", help="list, inspect, follow or cancel transfer jobs")
    actions = p.add_subparsers(dest="jobs_action", metavar="ACTION", required=True)
    actions.add_parser("list", help="every job, newest first").set_defaults(func=run_list)
    show = actions.add_parser("show", help="status of one job (JSON)")
    show.add_argument("job_id")
    show.set_defaults(func=run_show)
    log = actions.add_parser("log", help="the job's log")
    log.add_argument("job_id")
    log.add_argument("--tail", type=int, help="only the last N lines")
    log.add_argument("--follow", "-f", action="store_true", help="keep printing until the job ends")
    log.set_defaults(func=run_log)
    cancel = actions.add_parser("cancel", help="stop a running job (publishes a 'cancelled' manifest)")
    cancel.add_argument("job_id")
    cancel.add_argument("--grace", type=float, default=20.0, help="seconds before SIGKILL (default 20)")
    cancel.set_defaults(func=run_cancel)
    actions.add_parser("queue", help="serve the fair queue now, then list the waiting jobs in start order"
                       ).set_defaults(func=run_queue)
    share = actions.add_parser("share", help="service mode: let another user read the job's topic (READ ACL)")
    share.add_argument("job_id")
    share.add_argument("user")
    share.set_defaults(func=run_share)
    runp = actions.add_parser("run", help="(internal) run a queued job in this process")
    runp.add_argument("job_id")
    runp.set_defaults(func=run_run)


def _when(ts) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def run_list(args) -> int:
    from engine.config import load_settings
    from engine.job.store import list_jobs

    jobs = list_jobs(load_settings())
    if not jobs:
        print("no jobs")
        return 0
    print(f"{'job':28} {'state':9} {'published':>9}  {'engine':6} {'created':19}  topic")
    for r in jobs:
        print(f"{r.job_id:28} {r.state:9} {r.published:>9}  {r.engine or '-':6} {_when(r.created):19}  {r.topic}"
              + (f"  ({r.error})" if r.error else ""))
    return 0


def run_show(args) -> int:
    from engine.config import load_settings
    from engine.job.store import load_job

    print(json.dumps(load_job(load_settings(), args.job_id).to_dict(), indent=2, sort_keys=True))
    return 0


def run_log(args) -> int:
    from engine.config import load_settings
    from engine.job.store import TERMINAL, load_job, read_log

    settings = load_settings()
    text = read_log(settings, args.job_id, tail=args.tail)
    sys.stdout.write(text)
    if not args.follow:
        return 0
    seen = len(read_log(settings, args.job_id))
    while True:
        done = load_job(settings, args.job_id).state in TERMINAL
        full = read_log(settings, args.job_id)
        sys.stdout.write(full[seen:])
        sys.stdout.flush()
        seen = len(full)
        if done:
            return 0
        time.sleep(0.5)


def run_cancel(args) -> int:
    from engine.accounts import cancel
    from engine.config import load_settings

    rec = cancel(load_settings(), None, args.job_id, grace=args.grace)
    print(f"{rec.job_id}: {rec.state}" + (f" ({rec.error})" if rec.error else ""))
    return 0


def run_queue(args) -> int:
    from engine.config import load_settings
    from engine.job.queue import dispatch, round_robin
    from engine.job.store import list_jobs

    settings = load_settings()
    for job_id in dispatch(settings):
        print(f"started {job_id}")
    waiting = round_robin(list_jobs(settings))
    if not waiting:
        print("no job waiting")
    for place, rec in enumerate(waiting, 1):
        print(f"{place:>3}  {rec.job_id:28} {rec.owner or 'local':16} {_when(rec.created)}")
    return 0


def run_share(args) -> int:
    from engine.accounts import share
    from engine.config import load_settings

    rec = share(load_settings(), None, args.job_id, args.user)
    print(f"{rec.topic} shared with {', '.join(rec.shared_with)}")
    return 0


def run_run(args) -> int:
    from engine.config import load_settings
    from engine.job.runner import run_job

    return run_job(load_settings(), args.job_id)
