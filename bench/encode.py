"""Micro-benchmark: vectorised Arrow -> Avro encoder vs fastavro, lightcurve and full content.

Builds (or reuses) a one-night synthetic ZTF archive, classifies and projects ~5k alerts per
content, then times ``engine.avro.encoder.encode_batch`` on all of them and fastavro (the
oracle) on a subset; checks the bytes are identical on that subset.

    /work/venv/bin/python bench/encode.py [--alerts 5000] [--fastavro-alerts 500] [--archive DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--alerts", type=int, default=5000)
    ap.add_argument("--fastavro-alerts", type=int, default=500)
    ap.add_argument("--archive", default=None, help="existing ZTF archive (default: build one in /tmp)")
    args = ap.parse_args()

    import pyarrow as pa

    from engine.archive import reader
    from engine.archive.generator import build_archive
    from engine.avro.encoder import encode_batch
    from engine.avro.oracle import fastavro_encode
    from engine.classification import classify_batch, load_tns_catalog
    from engine.content import output_avro_schema, project

    tmp = None if args.archive else tempfile.TemporaryDirectory(prefix="bench_encode_")
    archive = Path(args.archive) if args.archive else Path(tmp.name) / "ztf"
    if tmp is not None:
        build_archive("ztf", dt.date(2023, 6, 1), 1, args.alerts, archive, seed=1, progress=False,
                      write_index=False)
    tns = load_tns_catalog(archive)
    nights = reader.list_nights(archive)
    batches = []
    for b in reader.read_arrow(archive, nights, batch_size=args.alerts):
        batches.append(classify_batch(b, tns))
        if sum(x.num_rows for x in batches) >= args.alerts:
            break
    table = pa.Table.from_batches(batches).slice(0, args.alerts)
    print(f"{table.num_rows} alerts from {archive}")
    print(f"{'content':<11} {'encoder':<10} {'alerts/s':>10} {'MB/s':>8} {'B/alert':>8}")
    for content in ("lightcurve", "full"):
        batch = project(table.combine_chunks().to_batches()[0], "ztf", content)
        schema = output_avro_schema("ztf", content)
        t0 = time.perf_counter()
        out = encode_batch(batch, schema)
        dt_vec = time.perf_counter() - t0
        nbytes = sum(map(len, out))
        sub = batch.slice(0, min(args.fastavro_alerts, batch.num_rows))
        t0 = time.perf_counter()
        ref = fastavro_encode(sub, schema)
        dt_fa = time.perf_counter() - t0
        same = ref == out[: sub.num_rows]
        vec_rate, fa_rate = batch.num_rows / dt_vec, sub.num_rows / dt_fa
        per = nbytes / batch.num_rows
        print(f"{content:<11} {'vectorised':<10} {vec_rate:>10,.0f} {nbytes / dt_vec / 1e6:>8.1f} {per:>8.0f}")
        print(f"{content:<11} {'fastavro':<10} {fa_rate:>10,.0f} {fa_rate * per / 1e6:>8.1f} {per:>8.0f}"
              f"   ratio x{vec_rate / fa_rate:.1f}  identical bytes: {same}")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
