"""``fink-transfer topics list|delete``: transfer topics on the broker, their age and expiry.

Creation time comes from the manifest when the topic has one (our jobs), else from the date in
the name (``ftransfer_<survey>_<YYYY-MM-DD>_<n>``); expiry = creation + kafka.retention_days.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone


def register(sub) -> None:
    p = sub.add_parser("topics", help="list or delete transfer topics on the broker")
    actions = p.add_subparsers(dest="topics_action", metavar="ACTION", required=True)
    lst = actions.add_parser("list", help="transfer topics with creation date, expiry and manifest status")
    lst.add_argument("--no-manifest", action="store_true", help="do not read manifests (faster)")
    lst.set_defaults(func=run_list)
    delete = actions.add_parser("delete", help="delete a topic and its _schema/_manifest side topics")
    delete.add_argument("topic")
    delete.set_defaults(func=run_delete)


def topic_rows(settings, read_manifests: bool = True) -> list[dict]:
    """One dict per data topic: topic, survey, created, expires, status, total, partitions."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    from engine.errors import BrokerUnavailable
    from kafka_io.client_config import base_config
    from kafka_io.manifest import read_manifest
    from kafka_io.topics import TOPIC_PREFIX, is_side_topic, parse_topic_name

    conf = base_config(settings)
    try:
        md = AdminClient(conf).list_topics(timeout=settings.kafka.timeout_s)
    except KafkaException as exc:
        raise BrokerUnavailable(f"Kafka broker at {settings.bootstrap_servers} is not reachable") from exc
    rows = []
    for name, meta in sorted(md.topics.items()):
        if not name.startswith(TOPIC_PREFIX) or is_side_topic(name):
            continue
        parsed = parse_topic_name(name) or {}
        created = None
        if parsed.get("date"):
            created = datetime.fromisoformat(parsed["date"]).replace(tzinfo=timezone.utc)
        status, total = "-", None
        if read_manifests:
            manifest = read_manifest(conf, name, timeout=3)
            if manifest is not None:
                created = datetime.fromtimestamp(manifest.created_at, timezone.utc)
                status, total = manifest.status, manifest.total
        expires = created + timedelta(days=settings.kafka.retention_days) if created else None
        rows.append({"topic": name, "survey": parsed.get("survey", "?"), "created": created, "expires": expires,
                     "status": status, "total": total, "partitions": len(meta.partitions)})
    return rows


def run_list(args) -> int:
    from engine.config import load_settings

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


def delete_topic(settings, topic: str) -> list[str]:
    """Delete the topic and its side topics; returns the names that were deleted."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    from engine.errors import UnknownTopic, UserError
    from kafka_io.client_config import base_config
    from kafka_io.topics import manifest_topic, schema_topic

    admin = AdminClient(base_config(settings))
    existing = set(admin.list_topics(timeout=settings.kafka.timeout_s).topics)
    if topic not in existing:
        raise UnknownTopic(f"topic {topic} does not exist on {settings.bootstrap_servers}")
    names = [t for t in (topic, schema_topic(topic), manifest_topic(topic)) if t in existing]
    deleted = []
    for name, fut in admin.delete_topics(names, operation_timeout=settings.kafka.timeout_s).items():
        try:
            fut.result(timeout=settings.kafka.timeout_s)
            deleted.append(name)
        except KafkaException as exc:
            raise UserError(f"could not delete {name}: {exc.args[0].str()}") from exc
    return deleted


def run_delete(args) -> int:
    from engine.config import load_settings

    for name in delete_topic(load_settings(), args.topic):
        print(f"deleted {name}")
    return 0
