"""Run the official ``finkctl`` (fink-client 12.3.0) with ONE transport change for Tansu.

``finkctl transfer`` first calls ``print_offsets``, whose consumers ``subscribe`` to the data topic
and close without polling; on the embedded Tansu broker their LeaveGroup is stuck behind the
JoinGroup Tansu holds open (~23 s), so they stay in the group as stale members. The schema
consumer then ``subscribe``s with the same group and its join waits for those members to time
out (rebalance timeout, ~300 s), far beyond any sensible ``maxtimeout``: the client prints
"No schema found" and exits 0 having downloaded nothing (measured; not an issue on real Kafka).

Here ``get_schema_from_stream`` reads ``<topic>_schema`` with ``assign()`` instead of a group
subscription: same message, same ``fastavro.parse_schema(json.loads(msg.key()))``; everything
else (offsets, partition assignment, decoding, Arrow conversion, Parquet writing) is the official
code unchanged. Usage: ``python -m tests.finkctl_tansu transfer -survey ztf -topic T ...``.
"""

from __future__ import annotations

import json
import sys


def get_schema_by_assign(kafka_config, topic, maxtimeout):
    import confluent_kafka
    import fastavro

    consumer = confluent_kafka.Consumer({**kafka_config, "enable.auto.commit": False})
    try:
        consumer.assign([confluent_kafka.TopicPartition(f"{topic}_schema", 0, confluent_kafka.OFFSET_BEGINNING)])
        msg = consumer.poll(maxtimeout)
        if msg is None or msg.error():
            return None
        return fastavro.schema.parse_schema(json.loads(msg.key()))
    finally:
        consumer.close()


def main() -> None:
    from fink_client.scripts import finkctl, finkctl_transfer

    finkctl_transfer.get_schema_from_stream = get_schema_by_assign
    sys.argv[0] = "finkctl"
    finkctl.cli()


if __name__ == "__main__":
    main()
