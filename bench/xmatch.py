"""Benchmark: cross-match during the transfer (engine.xmatch), both engines, plus the bare index.

    python bench/xmatch.py [--nights 2] [--alerts-per-night 50000] [--copies 10]
                           [--sources 100000] [--big-sources 1000000] [--engines local,spark]
                           [--near-fraction 0.2] [--workdir DIR] [--append-docs]

Archive: a synthetic ZTF archive of ``nights x alerts-per-night`` alerts whose night files are
copied ``copies`` times (1,000,000 alerts by default, built in about a minute instead of
four; ~41 GB with the cutouts: ``--workdir`` keeps it and the catalogues for the next run).
Catalogue: ``sources`` rows, ``near-fraction`` within 1" of an archive alert, the rest uniform on
the sky; radius 2". Each engine runs a real lightcurve job to the embedded broker, for each
catalogue size. Printed per job, side by side for both engines:

* wall-based alerts scanned/s/core = alerts in the range / seconds / CPU count, over the whole
  job (planning and Spark start-up included) and over its scan only (from the job log's
  "Schema OK", i.e. after the engine started and analysed the query, to the end);
* set-up seconds (planning with the catalogue overlap check, JVM start-up, analysis);
* CPU-based alerts/CPU-s = alerts / CPU seconds of the job's process tree (user + system of
  every process seen: the job, Spark's JVM, the Python workers), whole job and scan only (CPU
  spent after "Schema OK");
* peak memory: the largest sum of RSS over the job's process tree.
* JVM classes: "mapped" when the job's JVM used the class archive of an earlier job
  (engine/job/jvm_classes.py). Before the measured jobs, one unmeasured Spark job records that
  archive if none exists, as a user's first local Spark job does once.

"Whole job" runs from the job's status turning ``running`` (its process's Python start-up, about
1 s, comes before) to its end.

The tree is sampled every 0.2 s (a process's last 0.2 s of CPU may be missed). "Index" rows: one
process matching ``--index-alerts`` random positions against a 1M-row catalogue (build time,
alerts/s on one core, peak RSS of that process).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_archive(tmp: Path, nights: int, per_night: int, copies: int) -> Path:
    from engine.archive.generator import build_archive

    archive = tmp / "archive"
    build_archive("ztf", dt.date(2023, 1, 1), nights, per_night, archive, progress=False)
    for part in sorted(archive.glob("year=*/month=*/day=*/part-0.parquet")):
        for k in range(1, copies):
            shutil.copy(part, part.with_name(f"part-{k}.parquet"))
    return archive


def make_catalogue(archive: Path, n: int, path: Path, near_fraction: float, seed: int = 0) -> Path:
    import pandas as pd

    from engine.archive.reader import list_nights
    import duckdb

    from engine.archive.reader import duckdb_view

    con = duckdb.connect()
    duckdb_view(con, archive, list_nights(archive)[:1], name="alerts")
    pos = con.sql("SELECT DISTINCT candidate.ra AS ra, candidate.dec AS dec FROM alerts").fetchnumpy()
    con.close()
    rng = np.random.default_rng(seed)
    near = min(int(n * near_fraction), len(pos["ra"]))
    pick = rng.choice(len(pos["ra"]), near, replace=False)
    ra = np.concatenate([pos["ra"][pick] + rng.normal(0, 0.3 / 3600, near), rng.uniform(0, 360, n - near)])
    dec = np.concatenate([pos["dec"][pick] + rng.normal(0, 0.3 / 3600, near),
                          np.degrees(np.arcsin(rng.uniform(-1, 1, n - near)))])
    pd.DataFrame({"id": [f"S{i}" for i in range(n)], "ra": np.mod(ra, 360), "dec": np.clip(dec, -90, 90)}).to_parquet(path)
    return path


class JobProbe(threading.Thread):
    """Peak RSS sum and CPU seconds of a process tree, and when the job log says "Schema OK"."""

    def __init__(self, pid: int, log_path: Path):
        super().__init__(daemon=True)
        self.pid, self.log_path, self.peak, self.stop = pid, log_path, 0, threading.Event()
        self.cpu: dict = {}
        self.ready_at = self.ready_cpu = None

    def run(self):
        import psutil

        while not self.stop.is_set():
            try:
                root = psutil.Process(self.pid)
                procs = [root] + root.children(recursive=True)
            except psutil.Error:  # the job ended
                procs = []
            rss = 0
            for p in procs:
                try:  # one by one: a child that just ended (or a zombie) must not void the sample
                    with p.oneshot():
                        mem, t, born = p.memory_info().rss, p.cpu_times(), p.create_time()
                except psutil.Error:
                    continue
                rss += mem
                self.cpu[(p.pid, born)] = t.user + t.system
            self.peak = max(self.peak, rss)
            if self.ready_at is None:
                try:
                    if "Schema OK" in self.log_path.read_text(errors="replace"):
                        self.ready_at, self.ready_cpu = time.time(), self.cpu_s
                except OSError:
                    pass
            time.sleep(0.2)

    @property
    def cpu_s(self) -> float:
        return sum(self.cpu.values())


def run_job(settings, spec, engine):
    from engine.job.launcher import launch_job, wait_job
    from engine.job.store import job_dir, read_log
    from kafka_io.topic_admin import delete_topic

    rec = launch_job(settings, spec, engine=engine)
    probe = JobProbe(rec.pid, job_dir(settings, rec.job_id) / "job.log")
    probe.start()
    rec = wait_job(settings, rec.job_id, timeout=3600, poll=0.2)
    probe.stop.set()
    probe.join()
    if rec.state != "done":
        raise SystemExit(f"{engine} job {rec.job_id} {rec.state}: {rec.error}")
    try:
        delete_topic(settings, rec.topic)
    except Exception:  # noqa: BLE001
        pass
    ready = probe.ready_at if probe.ready_at is not None else rec.started
    log = read_log(settings, rec.job_id)
    classes = "recorded" if "JVM classes: recording" in log else "mapped" if "JVM classes: mapped" in log else "-"
    return {"published": rec.published, "classes": classes, "job_s": rec.finished - rec.started,
            "setup_s": max(0.0, ready - rec.started), "scan_s": rec.finished - max(ready, rec.started),
            "cpu_s": probe.cpu_s, "scan_cpu_s": probe.cpu_s - (probe.ready_cpu or 0.0), "peak_mb": probe.peak / 1e6}


def warm_up(settings, spec) -> bool:
    """One unmeasured Spark job if no JVM class archive exists yet (engine/job/jvm_classes.py):
    a user's first local Spark job records it once; the bench measures the jobs after that."""
    try:
        from engine.job.jvm_classes import archive_dir
    except ImportError:  # code from before class sharing (a before/after run)
        return True
    folder = archive_dir(settings)
    if folder is None or any(folder.glob("*.jsa")):
        return True
    t = time.time()
    r = run_job(settings, spec, "spark")
    deadline = time.time() + 180  # the JVM writes the archive after the job's status says done
    while not any(folder.glob("*.jsa")) and time.time() < deadline:
        time.sleep(0.5)
    print(f"warm-up: the first Spark job recorded the JVM's classes ({r['job_s']:.1f} s, archive written "
          f"{time.time() - t:.0f} s after it started)", flush=True)
    return True


def bench_index(n_sources: int, n_alerts: int) -> dict:
    from engine.xmatch import Catalogue, CatalogueIndex

    rng = np.random.default_rng(1)
    cat = Catalogue(ids=np.array([f"S{i}" for i in range(n_sources)], dtype=object),
                    ra=rng.uniform(0, 360, n_sources), dec=np.degrees(np.arcsin(rng.uniform(-1, 1, n_sources))))
    t = time.perf_counter()
    index = CatalogueIndex(cat, 2.0)
    build = time.perf_counter() - t
    ra, dec = rng.uniform(0, 360, n_alerts), np.degrees(np.arcsin(rng.uniform(-1, 1, n_alerts)))
    t = time.perf_counter()
    for i in range(0, n_alerts, 2000):  # the pipeline's batch size
        index.match(ra[i:i + 2000], dec[i:i + 2000])
    match = time.perf_counter() - t
    return {"build_s": build, "alerts_per_s": n_alerts / match,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nights", type=int, default=2)
    ap.add_argument("--alerts-per-night", type=int, default=50_000)
    ap.add_argument("--copies", type=int, default=10)
    ap.add_argument("--sources", type=int, default=100_000)
    ap.add_argument("--big-sources", type=int, default=1_000_000)
    ap.add_argument("--index-alerts", type=int, default=1_000_000)
    ap.add_argument("--engines", default="local,spark")
    ap.add_argument("--near-fraction", type=float, default=0.2, help="share of sources within 1\" of an alert")
    ap.add_argument("--workdir", help="keep the archive and catalogues here and reuse them (default: a temporary dir)")
    ap.add_argument("--append-docs", action="store_true")
    args = ap.parse_args()

    from engine.config import load_settings
    from kafka_io.broker import EmbeddedBroker

    cores = os.cpu_count() or 1
    index = bench_index(args.big_sources, args.index_alerts)
    print(f"index: {args.big_sources} sources built in {index['build_s']:.2f} s, {index['alerts_per_s']:.0f} "
          f"alerts/s on one core, peak RSS {index['peak_mb']:.0f} MB", flush=True)
    keep = args.workdir is not None
    tmp = Path(args.workdir) if keep else Path(tempfile.mkdtemp(prefix="bench_xmatch_"))
    tmp.mkdir(parents=True, exist_ok=True)
    broker = EmbeddedBroker(tmp / "broker", port=0)
    results = []
    try:
        t = time.time()
        total = args.nights * args.alerts_per_night * args.copies
        shape = f"{args.nights}x{args.alerts_per_night}x{args.copies}"
        archive = tmp / "archive"
        if not (keep and (tmp / f"archive-{shape}.done").exists()):
            shutil.rmtree(archive, ignore_errors=True)
            archive = make_archive(tmp, args.nights, args.alerts_per_night, args.copies)
            (tmp / f"archive-{shape}.done").touch()
        print(f"archive: {total} alerts in {time.time() - t:.0f} s", flush=True)
        broker.start()
        os.environ.update({"FINK_TRANSFER_DATA_DIR": str(tmp / "var"),
                           "FINK_TRANSFER_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap_servers,
                           "FINK_TRANSFER_ARCHIVES__ZTF": str(archive)})
        settings = load_settings()
        from engine.archive.reader import list_nights
        nights = [n.isoformat() for n in list_nights(archive)]
        engines = args.engines.split(",")
        warmed = False
        for sources in dict.fromkeys((args.sources, args.big_sources)):
            cat = tmp / f"cat_{shape}_{sources}_{args.near_fraction:g}.parquet"
            if not cat.exists():
                make_catalogue(archive, sources, cat, args.near_fraction)
            spec = {"survey": "ztf", "start": nights[0], "stop": nights[-1], "content": "lightcurve",
                    "xmatch": {"path": str(cat), "ra": "ra", "dec": "dec", "id": "id", "radius_arcsec": 2.0}}
            if "spark" in engines and not warmed:  # what every job after a user's first one finds
                warmed = warm_up(settings, spec)
            for engine in engines:
                r = run_job(settings, spec, engine)
                r.update(engine=engine, sources=sources, scanned=total,
                         per_core=total / r["job_s"] / cores, scan_per_core=total / r["scan_s"] / cores,
                         per_cpu_s=total / r["cpu_s"] if r["cpu_s"] else 0.0,
                         scan_per_cpu_s=total / r["scan_cpu_s"] if r["scan_cpu_s"] else 0.0, load=os.getloadavg()[0])
                results.append(r)
                print(f"{engine:6} {sources:>8} sources x {total} alerts: job {r['job_s']:.1f} s (set-up "
                      f"{r['setup_s']:.1f} s, scan {r['scan_s']:.1f} s), {r['published']} kept, "
                      f"{r['per_core']:.0f} alerts/s/core (wall, whole job), {r['scan_per_core']:.0f} (wall, scan), "
                      f"{r['per_cpu_s']:.0f} alerts per CPU-s ({r['cpu_s']:.1f} CPU-s), {r['scan_per_cpu_s']:.0f} per "
                      f"CPU-s of the scan ({r['scan_cpu_s']:.1f} CPU-s), peak {r['peak_mb']:.0f} MB, "
                      f"load {r['load']:.1f}", flush=True)
        print_table(results)
        load = os.getloadavg()
        print(f"load average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
        if args.append_docs:
            append_docs(args, index, results, load, cores)
    finally:
        broker.stop()
        if keep:
            shutil.rmtree(tmp / "var", ignore_errors=True)
            shutil.rmtree(tmp / "broker", ignore_errors=True)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


HEADER = ("| engine | sources | alerts scanned | kept | job s | set-up s | scan s | alerts/s/core, wall, whole job "
          "| alerts/s/core, wall, scan | CPU-s | alerts per CPU-s | scan CPU-s | alerts per CPU-s, scan "
          "| peak RSS of the job (MB) | JVM classes | load (1 min) |")


def table_rows(results) -> list[str]:
    lines = [HEADER, "|---|" + "---:|" * 13 + "---|---:|"]
    for r in sorted(results, key=lambda r: (r["sources"], r["engine"])):
        lines.append(f"| {r['engine']} | {r['sources']:,} | {r['scanned']:,} | {r['published']:,} | "
                     f"{r['job_s']:.1f} | {r['setup_s']:.1f} | {r['scan_s']:.1f} | {r['per_core']:,.0f} | "
                     f"{r['scan_per_core']:,.0f} | {r['cpu_s']:.1f} | {r['per_cpu_s']:,.0f} | {r['scan_cpu_s']:.1f} | "
                     f"{r['scan_per_cpu_s']:,.0f} | {r['peak_mb']:.0f} | {r['classes']} | "
                     f"{r['load']:.1f} |")
    return lines


def print_table(results) -> None:
    print("\n".join(table_rows(results)), flush=True)


def append_docs(args, index, results, load, cores) -> None:
    cmd = "python bench/xmatch.py " + " ".join(a for a in sys.argv[1:] if a != "--append-docs")
    lines = ["", "## Cross-match during the transfer (`bench/xmatch.py`)", "",
             f"Run {dt.date.today()} — `{cmd.strip()}`, {cores} cores shared with other work "
             f"(load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}). Radius 2\", lightcurve "
             f"content, {args.near_fraction:.0%} of the sources within 1\" of an alert (each archive alert file is "
             f"copied {args.copies} times, so a near source matches {args.copies}+ alerts). Fink's published figure: 75 k sources x 20 M "
             "alerts in 3.7 min on 32 cores = about 2 800 alerts scanned/s/core.", "",
             f"Bare index ({args.big_sources:,} sources, one process): built in {index['build_s']:.2f} s, "
             f"{index['alerts_per_s']:,.0f} alerts matched/s on one core (batches of 2 000), "
             f"peak RSS {index['peak_mb']:.0f} MB.", "",
             ] + table_rows(results)
    with open(ROOT / "docs" / "benchmarks.md", "a") as fh:
        fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
