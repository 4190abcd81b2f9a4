"""``fink-transfer archive build|index|info``: synthetic archive, statistics index, summary."""

from __future__ import annotations

import datetime as dt
import json

from engine import surveys
from engine.errors import UserError


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UserError(f"bad date {text!r}: use YYYY-MM-DD") from None


def register(sub) -> None:
    p = sub.add_parser("archive", help="build a synthetic archive, (re)index an archive, or describe it")
    actions = p.add_subparsers(dest="archive_action", metavar="ACTION")

    b = actions.add_parser("build", help="write a synthetic night-partitioned archive (real schemas and class mix)")
    b.add_argument("--survey", required=True, help=" or ".join(surveys.NAMES))
    b.add_argument("--start", required=True, help="first night, YYYY-MM-DD")
    b.add_argument("--nights", type=int, default=3, help="number of consecutive nights (default 3)")
    b.add_argument("--alerts-per-night", type=int, default=1000, help="alerts per night (default 1000)")
    b.add_argument("--out", required=True, help="output directory (empty or new)")
    b.add_argument("--seed", type=int, default=0, help="random seed (same seed, same archive)")
    b.add_argument("--no-samples", action="store_true", help="do not include the real sample alerts")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=run_build)

    i = actions.add_parser("index", help="(re)build _stats/index.parquet for an archive (also a real Fink lake copy)")
    i.add_argument("archive_dir")
    i.add_argument("--quiet", action="store_true")
    i.set_defaults(func=run_index)

    n = actions.add_parser("info", help="nights, alert counts, classes and sizes of an archive")
    n.add_argument("archive_dir")
    n.add_argument("--json", action="store_true", help="machine-readable output")
    n.add_argument("--top", type=int, default=15, help="classes to list (default 15)")
    n.set_defaults(func=run_info)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def run_build(args) -> int:
    from engine.archive.generator import build_archive

    meta = build_archive(args.survey, _date(args.start), args.nights, args.alerts_per_night, args.out,
                         seed=args.seed, progress=not args.quiet, with_samples=not args.no_samples)
    print(f"archive {args.out}: {meta['alerts']} {meta['survey']} alerts over {meta['nights']} nights "
          f"(eras: {', '.join(meta['eras'])})")
    return 0


def run_index(args) -> int:
    from engine.stats import build_index

    path = build_index(args.archive_dir, progress=not args.quiet)
    print(f"index written: {path}")
    return 0


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:,.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return str(n)


def run_info(args) -> int:
    from engine.archive import layout
    from engine.stats import summary

    layout.require_archive(args.archive_dir)
    s = summary(args.archive_dir)
    if args.json:
        print(json.dumps(s, indent=2))
        return 0
    nights = s["nights"]
    print(f"survey: {s['survey']}   nights: {len(nights)} ({nights[0]} .. {nights[-1]})   alerts: {s['alerts']:,}")
    print(f"eras: {', '.join(s['eras'])}   on disk: {_size(s['disk_bytes'])}")
    n = max(s["alerts"], 1)
    print("Avro size if transferred: " + ", ".join(
        f"{c} {_size(v)} ({_size(v / n)}/alert)" for c, v in s["bytes"].items()))
    print("alerts per night: " + ", ".join(f"{k}: {v:,}" for k, v in s["alerts_per_night"].items()))
    print(f"top classes (finkclass) of {len(s['classes'])}:")
    for label, count in list(s["classes"].items())[:args.top]:
        print(f"  {label:<28} {count:>10,}  {100 * count / n:6.2f} %")
    if s["tns_classes"]:
        print("TNS classes: " + ", ".join(f"{k}: {v}" for k, v in s["tns_classes"].items()))
    return 0
