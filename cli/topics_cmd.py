"""``fink-transfer topics list|delete``: a shell over kafka_io.topic_admin."""

from __future__ import annotations


def register(sub) -> None:
    from cli.shell import action

    p = sub.add_parser("topics", help="list or delete transfer topics on the broker")
    actions = p.add_subparsers(dest="topics_action", metavar="ACTION", required=True)
    lst = action(actions, "list", "transfer topics with creation date, expiry and manifest status", run_list)
    lst.add_argument("--no-manifest", action="store_true", help="do not read manifests (faster)")
    action(actions, "delete", "delete a topic and its _schema/_manifest side topics", run_delete, "topic")


def run_list(args) -> int:
    from engine.config import load_settings
    from cli.shell import print_table
    from kafka_io.topic_admin import topic_rows

    rows = topic_rows(load_settings(), read_manifests=not args.no_manifest)
    when = lambda d: d.strftime("%Y-%m-%d %H:%M") if d else "-"  # noqa: E731
    print_table([("topic", 44), ("created (UTC)", 16), ("expires (UTC)", 16), ("status", 9), ("alerts", -8)],
                [[r["topic"], when(r["created"]), when(r["expires"]), r["status"],
                  "-" if r["total"] is None else r["total"]] for r in rows], "no transfer topics")
    return 0


def run_delete(args) -> int:
    from engine.accounts import delete_topic
    from engine.config import load_settings

    for name in delete_topic(load_settings(), None, args.topic):
        print(f"deleted {name}")
    return 0
