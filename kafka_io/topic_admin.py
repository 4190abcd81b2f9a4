"""Transfer topics on the broker: list them with age and expiry, delete them with their side topics.

Creation time comes from the manifest when the topic has one (our jobs), else from the date in
the name (``ftransfer_<survey>_<YYYY-MM-DD>_<n>``); expiry = creation + kafka.retention_days.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone


def cluster_metadata(admin, settings):
    """The cluster's topic metadata, or BrokerUnavailable in one line when it does not answer."""
    from confluent_kafka import KafkaException

    from engine.errors import BrokerUnavailable

    try:
        return admin.list_topics(timeout=settings.kafka.timeout_s)
    except KafkaException as exc:
        raise BrokerUnavailable(f"Kafka broker at {settings.bootstrap_servers} is not reachable") from exc


def topic_rows(settings, read_manifests: bool = True) -> list[dict]:
    """One dict per data topic: topic, survey, created, expires, status, total, partitions."""
    from confluent_kafka.admin import AdminClient

    from kafka_io.client_config import base_config
    from kafka_io.manifest import read_manifest
    from kafka_io.topics import TOPIC_PREFIX, is_side_topic, parse_topic_name

    conf = base_config(settings)
    md = cluster_metadata(AdminClient(conf), settings)
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


def delete_topic(settings, topic: str) -> list[str]:
    """Delete the topic and its side topics; returns the names that were deleted."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    from engine.errors import UnknownTopic, UserError
    from kafka_io.client_config import base_config
    from kafka_io.topics import manifest_topic, schema_topic

    admin = AdminClient(base_config(settings))
    existing = set(cluster_metadata(admin, settings).topics)
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
