"""Micro-benchmark: Avro -> Arrow decoders on one core, lightcurve-like, full ZTF and full LSST content.

Times, on the same messages in one run: the fastavro path (``schemaless_reader`` per message +
``Table.from_pylist``), the vectorised ``kafka_io.consumer.arrow_decoder``, and ``jetliner`` (a Rust
Avro reader for Polars, over an in-memory container file written to /dev/shm) when it is importable;
checks the vectorised table equals the fastavro one; for content with arrays, the vectorised
decoder also without its row-wise tail (``TAIL_ROWS = 0``). Best of ``--repeats``.

    python bench/decode.py [--alerts 5000] [--full-alerts 1000] [--lsst-alerts 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def best(fn, repeats: int) -> tuple[float, object]:
    out, times = None, []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def lightcurve_values(n: int):
    import fastavro

    from bench.consume import lightcurve_record, lightcurve_schema
    schema = lightcurve_schema()
    parsed, rng, values = fastavro.parse_schema(schema), random.Random(0), []
    for i in range(n):
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, parsed, lightcurve_record(i, rng))
        values.append(buf.getvalue())
    return schema, values


def full_values(n: int, survey: str = "ztf", night: dt.date = dt.date(2023, 6, 1), nights: int = 1):
    """Full packets of ``n`` alerts of ``nights`` synthetic nights (objects recur: their later
    alerts carry the earlier points)."""
    from engine.archive import reader
    from engine.archive.generator import build_archive
    from engine.avro.encoder import encode_batch
    from engine.content import output_avro_schema, project

    with tempfile.TemporaryDirectory(prefix="bench_decode_") as tmp:
        out = Path(tmp) / survey
        build_archive(survey, night, nights, -(-n // nights), out, seed=1, progress=False, write_index=False)
        table = reader.read_table(out, reader.list_nights(out)).slice(0, n)
    schema = output_avro_schema(survey, "full")
    return schema, encode_batch(project(table, survey, "full"), schema)


def same_values(a, b) -> bool:
    """Equal schemas and values, NaN equal to NaN (``Table.equals`` says NaN != NaN)."""
    from tests.helpers import nan_comparable

    return a.schema == b.schema and all(a[c].equals(b[c]) or nan_comparable(a[c].to_pylist())
                                        == nan_comparable(b[c].to_pylist()) for c in a.column_names)


def jetliner_table(schema: dict, values: list[bytes]):
    import jetliner

    from kafka_io.consumer.writer import avro_container
    fd, path = tempfile.mkstemp(suffix=".avro", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(avro_container(json.dumps(schema), values))
        return jetliner.read_avro(path).to_arrow()
    finally:
        os.unlink(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--alerts", type=int, default=5000)
    ap.add_argument("--full-alerts", type=int, default=1000)
    ap.add_argument("--lsst-alerts", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    from kafka_io.consumer import arrow_decoder
    from kafka_io.consumer.arrow_decoder import ArrowDecoder
    from kafka_io.consumer.decode import Decoder
    try:
        import jetliner  # noqa: F401
        have_jetliner = True
    except ImportError:
        have_jetliner = False

    print(f"load average {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} {os.getloadavg()[2]:.1f}")
    print(f"{'content':<11} {'decoder':<22} {'alerts/s':>10} {'MB/s':>8} {'B/alert':>8}")
    for content, (schema, values) in (("lightcurve", lightcurve_values(args.alerts)),
                                      ("full", full_values(args.full_alerts)),
                                      ("lsst-full", full_values(args.lsst_alerts, "lsst", dt.date(2026, 3, 6), 2))):
        nbytes = sum(map(len, values))
        n = len(values)
        slow, expected = best(lambda: Decoder(schema, vectorised=False).table(values), max(1, args.repeats - 1))
        vec = ArrowDecoder(schema)
        fast, got = best(lambda: vec.table(values), args.repeats)
        rows = [("fastavro + from_pylist", slow), ("vectorised", fast)]
        if content != "lightcurve":
            tail_rows, arrow_decoder.TAIL_ROWS = arrow_decoder.TAIL_ROWS, 0
            rows.append(("vectorised, no tail", best(lambda: vec.table(values), args.repeats)[0]))
            arrow_decoder.TAIL_ROWS = tail_rows
        if have_jetliner:
            try:
                rows.append(("jetliner (no casts)", best(lambda: jetliner_table(schema, values), args.repeats)[0]))
            except BaseException as exc:  # a Rust panic is a BaseException
                print(f"{content:<11} jetliner failed: {type(exc).__name__}: {str(exc)[:120]}")
        for name, t in rows:
            print(f"{content:<11} {name:<22} {n / t:>10,.0f} {nbytes / t / 1e6:>8.1f} {nbytes / n:>8.0f}")
        print(f"{content:<11} ratio vectorised / fastavro x{slow / fast:.1f}, "
              f"tables equal: {same_values(got, expected)}")


if __name__ == "__main__":
    main()
