"""``fink-transfer topics list|delete``: a shell over kafka_io.topic_admin."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("topics", help="list or delete transfer topics on the broker")
    actions = p.add_subparsers(dest="topics_action", metavar="ACTION", required=True)
    lst = actions.add_parser("list", help="transfer topics with creation date, expiry and manifest status")
    lst.add_argument("--no-manifest", action="store_true", help="do not read manifests (faster)")
    lst.set_defaults(func=run_list)
    delete = actions.add_parser("delete", help="delete a topic and its _schema/_manifest side topics")
    delete.add_argument("topic")
    delete.set_defaults(func=run_delete)


def run_list(args) -> int:
    from engine.config import load_settings
    from kafka_io.topic_admin import topic_rows

    rows = topic_rows(load_settings(), read_manifests=not args.no_manifest)
    if not rows:
        print("no transfer topics")
        return 0
    fmt = lambda d: d.strftime("%Y-%m-%d %H:%M") if d else "-"  # noqa: E731
    print(f"{'topic':44} {'created (UTC)':16} {'expires (UTC)':16} {'status':9} {'alerts':>8}")
    for r in rows:
        total = "-" if r["total"] is None else str(r["total"])
        print(f"{r['topic']:44} {fmt(r['created']):16} {fmt(r['expires']):16} {r['status']:9} {total:>8}")
    return 0


def run_delete(args) -> int:
    from engine.accounts import delete_topic
    from engine.config import load_settings

    for name in delete_topic(load_settings(), None, args.topic):
        print(f"deleted {name}")
    return 0
