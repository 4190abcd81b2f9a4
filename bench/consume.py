"""Consumer benchmark: our downloader vs the official fink-client (``finkctl transfer`` 12.3.0).

Produces a lightcurve-like topic (about 40 flat columns, a ``mangrove`` map and two
``lc_features`` records of 26 doubles; ~1.4 KB per alert) on a fresh embedded Apache Kafka
broker (its start-up time is printed), then reads it raw (confluent-kafka, no decoding, same
number of processes: the transport's own limit) and downloads it with both clients, same
machine, same number of processes, fresh consumer groups, no partitioning, Parquet output. Reports wall time AND steady-state throughput
(alerts/s between 10 % and 90 % of the rows on disk, measured the same way for both by reading
Parquet footers as files appear). The official client waits ``maxtimeout`` at the end of each
partition (10 partitions over N processes): that is in its wall time, not in its steady state.
It runs unmodified.

    .venv/bin/python bench/consume.py --alerts 200000 --processes 2
    .venv/bin/python bench/consume.py --alerts 10000 --processes 2 --content full --skip-official

Peak resident memory of every process of each client is sampled (psutil) and printed.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FEATURES = ["mean", "weighted_mean", "standard_deviation", "median", "amplitude", "beyond_1_std", "cusum",
            "inter_percentile_range_10", "kurtosis", "linear_trend", "linear_trend_sigma", "linear_trend_noise",
            "linear_fit_slope", "linear_fit_slope_sigma", "linear_fit_reduced_chi2",
            "magnitude_percentage_ratio_40_5", "magnitude_percentage_ratio_20_10", "maximum_slope",
            "median_absolute_deviation", "median_buffer_range_percentage_10", "percent_amplitude",
            "mean_variance", "anderson_darling_normal", "chi2", "skew", "stetson_K"]
FLAT = [("objectId", "string"), ("candid", "long"), ("magpsf", "float"), ("sigmapsf", "float"), ("fid", "int"),
        ("jd", "double"), ("ra", "double"), ("dec", "double"), ("finkclass", "string"), ("tnsclass", "string"),
        ("cdsxmatch", "string"), ("roid", "int"), ("mulens", "double"), ("DR3Name", "string"), ("Plx", "float"),
        ("e_Plx", "float"), ("gcvs", "string"), ("vsx", "string"), ("snn_snia_vs_nonia", "double"),
        ("snn_sn_vs_all", "double"), ("rf_snia_vs_nonia", "double"), ("rf_kn_vs_nonkn", "double"),
        ("tracklet", "string"), ("x4lac", "string"), ("x3hsp", "string"), ("t2_AGN", "float"), ("t2_EB", "float"),
        ("t2_KN", "float"), ("t2_M_dwarf", "float"), ("t2_Mira", "float"), ("t2_RRL", "float"),
        ("t2_SLSN_I", "float"), ("t2_SNII", "float"), ("t2_SNIa", "float"), ("t2_SNIa_91bg", "float"),
        ("t2_SNIax", "float"), ("t2_SNIbc", "float"), ("t2_TDE", "float"), ("t2_mu_Lens_Single", "float"),
        ("anomaly_score", "double"), ("is_transient", "boolean")]
CLASSES = ["SN candidate", "Early SN Ia candidate", "Solar System MPC", "Unknown", "QSO", "Ambiguous"]


def lightcurve_schema() -> dict:
    fields = [{"name": n, "type": [t, "null"]} for n, t in FLAT]
    fields.insert(25, {"name": "mangrove", "type": [{"type": "map", "values": ["string", "null"]}, "null"]})
    for band in "gr":
        fields.append({"name": f"lc_features_{band}", "type": {
            "type": "record", "name": f"topLevelRecord.lc_features_{band}",
            "fields": [{"name": f, "type": ["double", "null"]} for f in FEATURES]}})
    return {"type": "record", "name": "topLevelRecord", "fields": fields}


def lightcurve_record(i: int, rng: random.Random) -> dict:
    r = {}
    for name, kind in FLAT:
        if kind == "string":
            r[name] = f"{name}-{rng.getrandbits(96):024x}"
        elif kind in ("int", "long"):
            r[name] = rng.randrange(100000)
        elif kind == "boolean":
            r[name] = rng.random() < 0.5
        else:
            r[name] = rng.random()
    r.update(objectId=f"ZTF26{i % 100000:07d}", candid=3_000_000_000_000 + i, jd=2461000.5 + rng.random() * 30,
             finkclass=rng.choice(CLASSES), tnsclass="Unknown")
    r["mangrove"] = {"HyperLEDA_name": f"PGC{rng.randrange(10**7)}", "2MASS_name": "None",
                     "lum_dist": f"{rng.random() * 100:.6f}", "ang_dist": f"{rng.random():.6f}"}
    for band in "gr":
        r[f"lc_features_{band}"] = {f: rng.random() for f in FEATURES}
    return r


def lightcurve_chunks(n: int):
    import fastavro

    schema = lightcurve_schema()
    parsed = fastavro.parse_schema(schema)
    rng = random.Random(0)

    def chunks():
        for start in range(0, n, 10000):
            chunk = []
            for i in range(start, min(n, start + 10000)):
                buf = io.BytesIO()
                fastavro.schemaless_writer(buf, parsed, lightcurve_record(i, rng))
                chunk.append(buf.getvalue())
            yield chunk
    return schema, chunks()


def full_chunks(n: int, work: Path):
    """Full ZTF packets (~47 KB, cutouts included) from a synthetic one-night archive."""
    import datetime as dt

    from engine.archive import reader
    from engine.archive.generator import build_archive
    from engine.avro.encoder import encode_batch
    from engine.content import output_avro_schema, project

    archive = work / "archive"
    build_archive("ztf", dt.date(2023, 6, 1), 1, n, archive, seed=1, progress=False, write_index=False)
    schema = output_avro_schema("ztf", "full")

    def chunks():
        left = n
        for batch in reader.read_arrow(archive, reader.list_nights(archive), batch_size=2000):
            batch = batch.slice(0, left)
            left -= batch.num_rows
            if batch.num_rows:
                yield encode_batch(project(batch, "ztf", "full"), schema)
            if left <= 0:
                break
    return schema, chunks()


def produce(settings, topic: str, n: int, content: str = "lightcurve", work: Path | None = None) -> float:
    from kafka_io.client_config import base_config, producer_config
    from kafka_io.manifest import Manifest, publish_manifest
    from kafka_io.producer import PartitionWriter, create_transfer_topics, merge_reports, publish_schema

    schema, chunks = lightcurve_chunks(n) if content == "lightcurve" else full_chunks(n, work)
    create_transfer_topics(base_config(settings), topic)
    pconf = producer_config(settings)
    publish_schema(pconf, topic, json.dumps(schema), copies=100)
    writer = PartitionWriter(pconf, topic, seed=1)
    size = 0
    for chunk in chunks:
        size += sum(map(len, chunk))
        writer.send(chunk)
    totals = merge_reports([writer.close()])
    publish_manifest(pconf, Manifest(topic=topic, status="done", partitions=totals, total=n))
    return size / n


def _raw_reader(bootstrap: str, topic: str, partitions: list[int], want: int, queue) -> None:
    from confluent_kafka import Consumer, TopicPartition

    conf = {"bootstrap.servers": bootstrap, "group.id": f"raw-{os.getpid()}", "enable.auto.commit": False}
    if not os.environ.get("RAW_DEFAULTS"):
        conf.update({"fetch.max.bytes": 52_428_800, "max.partition.fetch.bytes": 10_485_760})
    c = Consumer(conf)
    c.assign([TopicPartition(topic, p, 0) for p in partitions])
    n, first = 0, None
    while n < want:
        msgs = c.consume(min(int(os.environ.get("RAW_N", 10000)), want - n), 5.0)  # never wait for more
        if not msgs:
            break
        if first is None:
            first = time.time()
        n += sum(1 for m in msgs if m.error() is None)
    last = time.time()
    c.close()
    queue.put((n, first, last))


def raw_consume(bootstrap: str, topic: str, processes: int, total: int) -> tuple[float, float]:
    """Seconds for ``processes`` plain consumers to read every message of ``topic`` (the transport
    limit): wall (process start included) and from the first message received to the last."""
    import multiprocessing as mp

    from confluent_kafka import Consumer, TopicPartition

    probe = Consumer({"bootstrap.servers": bootstrap, "group.id": "raw-probe"})
    counts = {}
    for p in probe.list_topics(topic, timeout=10).topics[topic].partitions:
        low, high = probe.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        counts[p] = high - low
    probe.close()
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    groups = [sorted(counts)[i::processes] for i in range(processes)]
    t0 = time.monotonic()
    procs = [ctx.Process(target=_raw_reader, args=(bootstrap, topic, g, sum(counts[p] for p in g), queue))
             for g in groups]
    for proc in procs:
        proc.start()
    results = [queue.get() for _ in procs]
    for proc in procs:
        proc.join()
    elapsed = time.monotonic() - t0
    got = sum(r[0] for r in results)
    assert got == total, f"raw reader got {got} of {total}"
    return elapsed, max(r[2] for r in results) - min(r[1] for r in results)


class RowWatcher(threading.Thread):
    """Counts rows on disk over time (Parquet footers of new files), the same way for both clients."""

    def __init__(self, outdir: Path):
        super().__init__(daemon=True)
        self.outdir, self.samples, self.seen, self.rows, self.halt = outdir, [], set(), 0, threading.Event()

    def run(self) -> None:
        import pyarrow.parquet as pq
        while not self.halt.is_set():
            self.scan(pq)
            time.sleep(0.25)
        self.scan(pq)

    def scan(self, pq) -> None:
        for path in self.outdir.rglob("*.parquet"):
            if path.name.startswith((".", "compact-")) or path in self.seen:  # compacted: rows seen already
                continue
            try:
                self.rows += pq.read_metadata(path).num_rows
                self.seen.add(path)
            except Exception:
                continue  # still being written
        self.samples.append((time.monotonic(), self.rows))

    def steady_rate(self, total: int) -> float:
        lo = next((t for t, r in self.samples if r >= 0.1 * total), None)
        hi = next((t for t, r in self.samples if r >= 0.9 * total), None)
        if lo is None or hi is None or hi <= lo:
            return float("nan")
        return 0.8 * total / (hi - lo)


class MemoryWatcher(threading.Thread):
    """Peak resident memory of each process of a client's tree (psutil, sampled every 0.1 s)."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.halt = pid, {}, threading.Event()

    def run(self) -> None:
        import psutil
        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self.halt.is_set():
            try:
                procs = [root] + root.children(recursive=True)
            except psutil.NoSuchProcess:
                return
            for p in procs:
                try:
                    rss = p.memory_info().rss
                    name = "coordinator" if p.pid == self.pid else f"child {p.pid}"
                    self.peak[name] = max(self.peak.get(name, 0), rss)
                except psutil.NoSuchProcess:
                    continue
            time.sleep(0.1)

    def summary(self) -> str:
        children = [v for k, v in self.peak.items() if k != "coordinator"]
        top = max(children) / 1e6 if children else float("nan")
        return (f"peak RSS coordinator {self.peak.get('coordinator', 0) / 1e6:.0f} MB, "
                f"largest of {len(children)} child processes {top:.0f} MB")


def timed(cmd: list[str], outdir: Path, env: dict, total: int, cwd: str) -> dict:
    watcher = RowWatcher(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    watcher.start()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    memory = MemoryWatcher(proc.pid)
    memory.start()
    stdout, stderr = proc.communicate()
    wall = time.monotonic() - t0
    memory.halt.set()
    watcher.halt.set()
    watcher.join()
    memory.join()
    if proc.returncode != 0:
        print(stdout[-2000:], stderr[-2000:], file=sys.stderr)
    return {"wall_s": wall, "rows": watcher.rows, "steady_alerts_s": watcher.steady_rate(total),
            "returncode": proc.returncode, "memory": memory.summary()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--alerts", type=int, default=200_000)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--official-maxtimeout", type=float, default=10.0)
    ap.add_argument("--official-batchsize", type=int, default=None,
                    help="-batchsize for finkctl (default: its own, 100)")
    ap.add_argument("--skip-official", action="store_true")
    ap.add_argument("--content", choices=("lightcurve", "full"), default="lightcurve",
                    help="lightcurve-like alerts (~1 KB) or full ZTF packets (~47 KB, synthetic archive)")
    ap.add_argument("--batchsize", type=int, default=None, help="-batchsize for ours (default: its own)")
    ap.add_argument("--partitionby", default=None, help="-partitionby for ours (e.g. finkclass: small files)")
    ap.add_argument("--raw-repeats", type=int, default=2, help="raw reads (the best is the reference)")
    args = ap.parse_args()

    from engine.config import load_settings
    from kafka_io.broker import EmbeddedBroker

    work = Path(tempfile.mkdtemp(prefix="bench-consume-"))
    broker = EmbeddedBroker(work / "broker", port=0)
    t_start = time.monotonic()
    broker.start()
    print(f"embedded Kafka broker ready in {time.monotonic() - t_start:.1f} s (first start: storage formatted)")
    try:
        env = dict(os.environ, FINK_TRANSFER_KAFKA__BOOTSTRAP_SERVERS=broker.bootstrap_servers,
                   FINK_TRANSFER_DATA_DIR=str(work / "var"), HOME=str(work / "home_ours"))
        settings = load_settings(env=env)
        topic = f"ftransfer_ztf_2026-03-22_{random.randrange(10**6)}"
        t0 = time.monotonic()
        avg = produce(settings, topic, args.alerts, args.content, work)
        print(f"produced {args.alerts:,} alerts of {avg:,.0f} B on {topic} in {time.monotonic() - t0:.1f} s")

        print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        raws = [raw_consume(broker.bootstrap_servers, topic, args.processes, args.alerts)
                for _ in range(max(1, args.raw_repeats))]
        raw, raw_stream = min(r[0] for r in raws), min(r[1] for r in raws)
        print(f"raw:      {args.alerts:,} messages, wall {raw:.1f} s ({args.alerts / raw:,.0f} messages/s, process "
              f"start included), streaming {raw_stream:.1f} s ({args.alerts / raw_stream:,.0f} messages/s, first "
              f"to last message); {args.processes} processes, no decoding, best of {args.raw_repeats}")
        ours = timed([sys.executable, "-m", "cli", "download", "-topic", topic, "-outdir", str(work / "ours"),
                      "-nconsumers", str(args.processes)]
                     + (["-batchsize", str(args.batchsize)] if args.batchsize else [])
                     + (["-partitionby", args.partitionby] if args.partitionby else []),
                     work / "ours", env, args.alerts, str(ROOT))
        print(f"ours:     {ours['rows']:,} alerts, wall {ours['wall_s']:.1f} s "
              f"({args.alerts / ours['wall_s']:,.0f} alerts/s), steady {ours['steady_alerts_s']:,.0f} alerts/s; "
              f"wall = {100 * raw / ours['wall_s']:.0f} % of the raw wall rate, steady = "
              f"{100 * ours['steady_alerts_s'] * raw_stream / args.alerts:.0f} % of the raw streaming rate; "
              f"{ours['memory']}")
        print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        comp = json.loads((work / "ours" / f"_manifest_{topic}.json").read_text())
        files = [f for f in (work / "ours").rglob("*.parquet") if not f.name.startswith(".")]
        if "compaction" in comp:
            c = comp["compaction"]
            print(f"files:    {c['files_before']:,} before compaction ({args.alerts / max(1, c['files_before']):,.0f} "
                  f"alerts/file), {len(files):,} after ({args.alerts / max(1, len(files)):,.0f} alerts/file) in "
                  f"{c['folders']} folders, compaction {c.get('seconds', float('nan')):.1f} s")
        else:
            print(f"files:    {len(files):,} ({args.alerts / max(1, len(files)):,.0f} alerts/file)")
        if args.skip_official:
            return
        home = work / "home_official"
        (home / ".finkclient").mkdir(parents=True)
        (home / ".finkclient" / "ztf_credentials.yml").write_text(
            f"survey: ztf\nusername: bench\ngroupid: bench-{random.randrange(10**9)}\n"
            f"servers: {broker.bootstrap_servers}\nmaxtimeout: {args.official_maxtimeout}\n")
        official_env = dict(env, HOME=str(home))
        finkctl = str(Path(sys.executable).with_name("finkctl"))
        theirs = timed([finkctl, "transfer", "-survey", "ztf", "-topic", topic, "-outdir", str(work / "official"),
                        "-nconsumers", str(args.processes)]
                       + (["-batchsize", str(args.official_batchsize)] if args.official_batchsize else []),
                       work / "official", official_env, args.alerts,
                       str(work))
        print(f"official: {theirs['rows']:,} alerts, wall {theirs['wall_s']:.1f} s "
              f"({args.alerts / theirs['wall_s']:,.0f} alerts/s), steady {theirs['steady_alerts_s']:,.0f} alerts/s "
              f"(maxtimeout {args.official_maxtimeout:g} s); {theirs['memory']}")
        print(f"ratio ours/official: wall {theirs['wall_s'] / ours['wall_s']:.2f}x, "
              f"steady {ours['steady_alerts_s'] / theirs['steady_alerts_s']:.2f}x "
              f"({args.processes} processes each)")
    finally:
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
