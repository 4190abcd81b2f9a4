"""Benchmark: build a synthetic ZTF archive in a temp dir, print alerts/s, peak RAM and the
alerts per object (the object model's main statistic), delete it.

    python bench/archive_build.py [--nights 10] [--alerts-per-night 20000] [--verify] [--keep DIR]

``--verify`` also reads the archive back with pandas.read_parquet (one night) and PySpark
(all nights, unified reader) and times the index rebuild.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """User + system CPU of this process: alerts per CPU-second is the per-core rate, whatever
    else the shared machine runs (wall-clock rates drop with the load)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--survey", default="ztf")
    ap.add_argument("--start", default="2022-12-30")
    ap.add_argument("--nights", type=int, default=10)
    ap.add_argument("--alerts-per-night", type=int, default=20000)
    ap.add_argument("--verify", action="store_true")
    ap.add_argument("--keep", help="build here and keep the data")
    args = ap.parse_args()

    from engine.archive.generator import build_archive

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_archive_"))
    out = root / "archive" if not args.keep else root
    try:
        t0, c0 = time.perf_counter(), cpu_seconds()
        meta = build_archive(args.survey, dt.date.fromisoformat(args.start), args.nights, args.alerts_per_night,
                             out, seed=1, progress=True, write_index=False)
        t_build, c_build = time.perf_counter() - t0, cpu_seconds() - c0
        from engine.stats import build_index
        t0 = time.perf_counter()
        build_index(out)
        t_index = time.perf_counter() - t0
        disk = sum(p.stat().st_size for p in out.rglob("*.parquet"))
        n = meta["alerts"]
        print(f"built {n} {args.survey} alerts ({args.nights} nights x {args.alerts_per_night}) in {t_build:.1f} s: "
              f"{n / t_build:,.0f} alerts/s wall, {n / c_build:,.0f} alerts per CPU-second ({c_build:.1f} CPU-s); index {t_index:.1f} s; disk {disk / 1e9:.2f} GB "
              f"({disk / n / 1024:.1f} KB/alert); peak RSS {peak_rss_mb():.0f} MB")
        objects_summary(out, args.survey)
        if args.verify:
            verify(out)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


def objects_summary(out: Path, survey: str) -> None:
    """Alerts per object over the whole archive (what a user grouping a download by objectId sees)."""
    import numpy as np
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from engine.archive import reader

    ids = []
    for night in reader.list_nights(out):
        for f in sorted(reader.night_dirs(out, night, night)[0].glob("*.parquet")):
            if survey == "ztf":
                ids.append(pq.read_table(f, columns=["objectId"]).column(0).to_numpy(zero_copy_only=False))
            else:
                col = pq.read_table(f, columns=["diaObject"]).column(0).combine_chunks()
                ids.append(pc.struct_field(col, "diaObjectId").to_numpy(zero_copy_only=False))
    _, counts = np.unique(np.concatenate(ids).astype(str), return_counts=True)
    multi = counts[counts > 1]
    print(f"objects {len(counts)}: {counts.sum() / len(counts):.2f} alerts/object; per object median "
          f"{np.median(counts):.0f}, p90 {np.percentile(counts, 90):.0f}, max {counts.max()}; "
          f"objects with > 1 alert: {len(multi)}, median {np.median(multi):.0f}, p90 {np.percentile(multi, 90):.0f}")


def verify(out: Path) -> None:
    import os

    import pandas as pd

    from engine.archive import layout, reader

    nights = reader.list_nights(out)
    t0 = time.perf_counter()
    df = pd.read_parquet(layout.night_dir(out, nights[0]))
    print(f"pandas.read_parquet one night: {len(df)} rows, {len(df.columns)} columns, {time.perf_counter() - t0:.1f} s")
    del df
    t0 = time.perf_counter()
    light = pd.read_parquet(out, columns=["objectId", "cdsxmatch", "year", "month", "day"])
    print(f"pandas.read_parquet whole archive (light columns, hive): {len(light)} rows, {time.perf_counter() - t0:.1f} s")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession
    spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false").getOrCreate())
    try:
        t0 = time.perf_counter()
        sdf = reader.spark_read(spark, out, nights)
        count = sdf.count()
        sn = sdf.filter("candidate.magpsf > 19.5").count()
        print(f"pyspark spark_read over {len(nights)} nights ({sorted(reader.eras_in(out, nights))}): {count} rows, "
              f"{sn} with magpsf > 19.5, {time.perf_counter() - t0:.1f} s")
    finally:
        spark.stop()


if __name__ == "__main__":
    sys.exit(main())
