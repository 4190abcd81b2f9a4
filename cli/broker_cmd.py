"""``fink-transfer broker install|start|stop|status``: the embedded Apache Kafka broker."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("broker", help="install, start, stop or inspect the embedded Kafka broker")
    p.add_argument("action", choices=("install", "start", "stop", "status"))
    p.set_defaults(func=run)


def run(args) -> int:
    from engine.config import load_settings
    from kafka_io.broker import EmbeddedBroker
    from kafka_io.kafka_install import install, kafka_version

    settings = load_settings()
    if args.action == "install":
        path = install(settings.broker.kafka_libs)
        print(f"Apache Kafka {kafka_version()} jars in {path}")
        return 0
    broker = EmbeddedBroker.from_settings(settings)
    if args.action == "start":
        print(broker.start().describe())
    elif args.action == "stop":
        print("embedded broker stopped" if broker.stop() else "embedded broker was not running")
    else:
        status = broker.status()
        print(status.describe())
        if not settings.embedded_broker:
            print(f"configured Kafka: {settings.bootstrap_servers} (embedded broker not used)")
        return 0 if status.running or not settings.embedded_broker else 1
    return 0
