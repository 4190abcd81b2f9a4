"""``fink-transfer jobs list|show|log|cancel|queue|share|run``: inspect and control job processes."""

from __future__ import annotations

import json
import sys
import time


def register(sub) -> None:
    from cli.shell import action

    p = sub.add_parser("jobs", help="list, inspect, follow or cancel transfer jobs")
    actions = p.add_subparsers(dest="jobs_action", metavar="ACTION", required=True)
    action(actions, "list", "every job, newest first", run_list)
    action(actions, "show", "status of one job (JSON)", run_show, "job_id")
    log = action(actions, "log", "the job's log", run_log, "job_id")
    log.add_argument("--tail", type=int, help="only the last N lines")
    log.add_argument("--follow", "-f", action="store_true", help="keep printing until the job ends")
    cancel = action(actions, "cancel", "stop a running job (publishes a 'cancelled' manifest)", run_cancel, "job_id")
    cancel.add_argument("--grace", type=float, default=20.0, help="seconds before SIGKILL (default 20)")
    action(actions, "queue", "serve the fair queue now, then list the waiting jobs in start order", run_queue)
    action(actions, "share", "service mode: let another user read the job's topic (READ ACL)", run_share,
           "job_id", "user")
    action(actions, "run", "(internal) run a queued job in this process", run_run, "job_id")


def run_list(args) -> int:
    from cli.shell import local_time, print_table
    from engine.config import load_settings
    from engine.job.store import list_jobs

    rows = [[r.job_id, r.state, r.published, r.engine or "-", local_time(r.created),
             r.topic + (f"  ({r.error})" if r.error else "")] for r in list_jobs(load_settings())]
    print_table([("job", 28), ("state", 9), ("published", -9), ("engine", 6), ("created", 19), ("topic", 0)],
                rows, "no jobs")
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
    from cli.shell import local_time
    from engine.job.queue import dispatch, round_robin
    from engine.job.store import list_jobs

    settings = load_settings()
    for job_id in dispatch(settings):
        print(f"started {job_id}")
    waiting = round_robin(list_jobs(settings))
    if not waiting:
        print("no job waiting")
    for place, rec in enumerate(waiting, 1):
        print(f"{place:>3}  {rec.job_id:28} {rec.owner or 'local':16} {local_time(rec.created)}")
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
