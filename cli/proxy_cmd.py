"""``fink-transfer kafka-proxy``: let a client without SASL support (fink-client 12.3's
``finkctl transfer``) read a SCRAM-protected service as you, through a loopback proxy
(:mod:`kafka_io.sasl_proxy`). Run it on your own machine, then point the client at the address it prints."""

from __future__ import annotations

import time


def register(sub) -> None:
    p = sub.add_parser("kafka-proxy", help="authenticate a credential-less Kafka client (finkctl) as you (SCRAM)")
    p.add_argument("-username", required=True)
    p.add_argument("-password", required=True)
    p.add_argument("-servers", required=True, help="the service's bootstrap servers")
    p.add_argument("--port", type=int, default=0, help="local port (default: a free one)")
    p.set_defaults(func=run)


def run(args) -> int:
    from kafka_io.sasl_proxy import SaslProxy

    proxy = SaslProxy(args.servers, args.username, args.password, port=args.port)
    try:
        proxy.check()
        print(f"proxy for {args.username} on {proxy.bootstrap_servers}; register it with:")
        print(f"  fink_client_register -survey ztf -username {args.username} -group_id {args.username}.transfer "
              f"-servers {proxy.bootstrap_servers}")
        print("Ctrl-C to stop.", flush=True)
        while True:
            time.sleep(3600)
    finally:
        proxy.stop()
