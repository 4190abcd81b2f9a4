"""``fink-transfer download``: download a transfer topic to Parquet/Avro (same flags as fink_datatransfer)."""

from __future__ import annotations


def register(sub) -> None:
    from kafka_io.consumer.options import add_arguments

    p = sub.add_parser("download", help="download a topic to Parquet (flags of fink_datatransfer)")
    add_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from kafka_io.consumer.download import run_download
    from kafka_io.consumer.options import from_args

    comp = run_download(from_args(args))
    if comp["state"] == "cancelled":
        return 143 if comp.get("stopped_by") == "SIGTERM" else 130
    return 0
