"""librdkafka settings derived from the one configuration (bootstrap servers + optional SASL/TLS).

Everything that talks to Kafka builds its config here, so a real cluster replaces the embedded
broker by changing settings only.
"""

from __future__ import annotations

from engine.config import Settings


def base_config(settings: Settings) -> dict:
    """Connection settings shared by producers, consumers and admin clients.

    With the embedded broker in ``security: scram`` mode and no credentials configured, the
    service connects as the broker's admin user (the one that owns topics and ACLs).
    """
    kafka = settings.kafka
    # log_level 0: librdkafka's own stderr log (one "Connection refused" line per retry, ~190 in
    # a 10 s timeout) would drown the one-line errors; failures reach us as exceptions and callbacks.
    if settings.embedded_broker and settings.broker.security == "scram" and not kafka.sasl_username:
        from kafka_io.broker import EmbeddedBroker
        return {**EmbeddedBroker.from_settings(settings).client_config(), "log_level": 0}
    conf = {"bootstrap.servers": settings.bootstrap_servers, "log_level": 0}
    if kafka.security_protocol and kafka.security_protocol.upper() != "PLAINTEXT":
        conf["security.protocol"] = kafka.security_protocol
    if kafka.sasl_mechanism:
        conf["sasl.mechanism"] = kafka.sasl_mechanism
    if kafka.sasl_username:
        conf["sasl.username"] = kafka.sasl_username
        conf["sasl.password"] = kafka.sasl_password
    if kafka.ssl_ca_location:
        conf["ssl.ca.location"] = kafka.ssl_ca_location
    return conf


def producer_config(settings: Settings, **extra) -> dict:
    conf = base_config(settings)
    conf.update({
        "linger.ms": 50,
        "batch.size": 1_000_000,
        "queue.buffering.max.kbytes": 1_048_576,
        "message.max.bytes": 10_000_000,
        "enable.idempotence": True,   # with acks=all: retries after a broker restart never duplicate
        "acks": "all",
    })
    conf.update(extra)
    return conf


def consumer_config(settings: Settings, group_id: str, **extra) -> dict:
    conf = base_config(settings)
    conf.update({
        "group.id": group_id,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
    })
    conf.update(extra)
    return conf
