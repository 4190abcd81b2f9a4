"""``fink-transfer broker start|stop|status``: the embedded Tansu broker."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("broker", help="start, stop or inspect the embedded Kafka broker")
    p.add_argument("action", choices=("start", "stop", "status"))
    p.set_defaults(func=run)


def run(args) -> int:
    from engine.config import load_settings
    from kafka_io.broker import EmbeddedBroker

    settings = load_settings()
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
