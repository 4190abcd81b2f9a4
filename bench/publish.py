"""Benchmark: publish throughput of the job, Spark (local[*]) and local (DuckDB) engines.

    python bench/publish.py [--archive DIR] [--nights 4] [--alerts-per-night 50000]
                            [--engines spark,local] [--append-docs] [--raw]

Builds a synthetic ZTF archive in a temp dir (engine.archive.generator) unless --archive is
given, starts an embedded Apache Kafka broker on a free port, and runs real jobs end to end
(``launch_job`` -> job process -> topic + manifest): lightcurve over every night, full content
over the first night restricted to ``candid % 5 = 0`` (about 1 alert in 5: full alerts are
~47 KB each). Topics are deleted after each run.
Prints alerts/s and MB/s of the job (status started -> finished, Spark start-up included) and
the wall time from launch; ``--append-docs`` appends the table to docs/benchmarks.md. ``--raw``
also times, in the same run, raw produce of as many pre-encoded messages of the same average size
(bare ``Producer.produce`` and our ``PartitionWriter``, same producer settings): the transport limit.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def send_seconds(settings, job_id: str) -> float:
    """Seconds from the job log's "Starting to send data" line to its "alerts published" line
    (1 s resolution): the publishing itself, without engine start-up (Spark session, prepare)."""
    import datetime as _dt

    from engine.job.store import read_log

    stamps = {}
    for line in read_log(settings, job_id).splitlines():
        for key, marker in (("start", "Starting to send data"), ("end", "alerts published")):
            if marker in line and key not in stamps:
                stamps[key] = _dt.datetime.strptime(line[:19], "%Y-%m-%d %H:%M:%S")
    if len(stamps) < 2:
        return float("nan")
    return max(1.0, (stamps["end"] - stamps["start"]).total_seconds())


def run_case(settings, spec, engine, master=None):
    from kafka_io.topic_admin import delete_topic
    from engine.job.launcher import launch_job, wait_job

    t0 = time.time()
    rec = launch_job(settings, spec, engine=engine, master=master)
    rec = wait_job(settings, rec.job_id, timeout=3600, poll=0.2)
    wall = time.time() - t0
    if rec.state != "done":
        raise SystemExit(f"{engine} job {rec.job_id} {rec.state}: {rec.error}")
    job_s = rec.finished - rec.started
    send_s = send_seconds(settings, rec.job_id)
    try:
        delete_topic(settings, rec.topic)
    except Exception:
        pass
    return {"alerts": rec.published, "bytes": rec.bytes, "job_s": job_s, "wall_s": wall, "send_s": send_s}


def raw_produce(settings, n: int, size: int, through_writer: bool) -> dict:
    """The transport's own rate: ``n`` pre-encoded messages of ``size`` bytes, same producer settings
    (idempotence, acks=all), one process; bare ``Producer.produce`` or our ``PartitionWriter``."""
    import random

    from kafka_io.client_config import base_config, producer_config
    from kafka_io.producer import PartitionWriter, create_transfer_topics
    from kafka_io.topic_admin import delete_topic

    topic = f"ftransfer_ztf_2026-03-22_raw{random.randrange(10**6)}"
    create_transfer_topics(base_config(settings), topic)
    rng = random.Random(0)
    pool = [rng.randbytes(size) for _ in range(1000)]
    values = [pool[i % 1000] for i in range(n)]
    t0 = time.time()
    if through_writer:
        writer = PartitionWriter(producer_config(settings), topic, seed=1)
        for start in range(0, n, 2000):
            writer.send(values[start:start + 2000])
        writer.close()
    else:
        from confluent_kafka import Producer
        producer = Producer(producer_config(settings))
        key = topic.encode()
        for i, v in enumerate(values):
            while True:
                try:
                    producer.produce(topic, value=v, key=key, partition=i % 10)
                    break
                except BufferError:
                    producer.poll(0.05)
            if i % 2000 == 0:
                producer.poll(0)
        assert producer.flush(120) == 0
    elapsed = time.time() - t0
    try:
        delete_topic(settings, topic)
    except Exception:
        pass
    return {"alerts": n, "bytes": n * size, "job_s": elapsed, "wall_s": elapsed}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--archive")
    ap.add_argument("--start", default="2022-12-30")
    ap.add_argument("--nights", type=int, default=4)
    ap.add_argument("--alerts-per-night", type=int, default=50000)
    ap.add_argument("--engines", default="spark,local")
    ap.add_argument("--contents", default="lightcurve,full")
    ap.add_argument("--append-docs", action="store_true")
    ap.add_argument("--master", default=None, help="Spark master for the spark engine (e.g. local[2])")
    ap.add_argument("--raw", action="store_true",
                    help="also time raw produce of pre-encoded messages of each content's size (same run)")
    args = ap.parse_args()

    from engine.config import load_settings
    from kafka_io.broker import EmbeddedBroker

    tmp = Path(tempfile.mkdtemp(prefix="bench_publish_"))
    broker = EmbeddedBroker(tmp / "broker", port=0)
    try:
        if args.archive:
            archive = Path(args.archive)
        else:
            from engine.archive.generator import build_archive
            archive = tmp / "archive"
            t = time.time()
            build_archive("ztf", dt.date.fromisoformat(args.start), args.nights, args.alerts_per_night, archive,
                          progress=False)
            print(f"archive built in {time.time() - t:.0f} s: {archive}", flush=True)
        from engine.archive.reader import list_nights
        nights = [n.isoformat() for n in list_nights(archive)]
        broker.start()
        os.environ.update({"FINK_TRANSFER_DATA_DIR": str(tmp / "var"),
                           "FINK_TRANSFER_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap_servers,
                           "FINK_TRANSFER_ARCHIVES__ZTF": str(archive)})
        settings = load_settings()
        results = []
        for content in args.contents.split(","):
            spec = {"survey": "ztf", "start": nights[0], "stop": nights[-1], "classes": ["allclasses"],
                    "conditions": [], "content": content}
            if content == "full":
                spec.update(stop=nights[0], conditions=["candid % 5 = 0"])
            for engine in args.engines.split(","):
                r = run_case(settings, spec, engine, master=args.master if engine == "spark" else None)
                r.update(content=content, engine=engine)
                results.append(r)
                print(f"{content:10} {engine:6} {r['alerts']:>8} alerts  job {r['job_s']:6.1f} s  "
                      f"{r['alerts'] / r['job_s']:8.0f} alerts/s  {r['bytes'] / 1e6 / r['job_s']:6.1f} MB/s  "
                      f"(wall {r['wall_s']:.1f} s; sending {r['send_s']:.0f} s = "
                      f"{r['alerts'] / r['send_s']:.0f} alerts/s without start-up; load {os.getloadavg()[0]:.1f})",
                      flush=True)
            if args.raw and results:
                last = results[-1]
                size = max(1, round(last["bytes"] / max(1, last["alerts"])))
                for label, through in (("raw-bare", False), ("raw-writer", True)):
                    r = raw_produce(settings, last["alerts"], size, through)
                    r.update(content=content, engine=label)
                    results.append(r)
                    print(f"{content:10} {label:10} {r['alerts']:>8} msgs of {size} B  {r['job_s']:6.1f} s  "
                          f"{r['alerts'] / r['job_s']:8.0f} msgs/s  {r['bytes'] / 1e6 / r['job_s']:6.1f} MB/s  "
                          f"(load {os.getloadavg()[0]:.1f})", flush=True)
        load = os.getloadavg()
        print(f"load average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
        if args.append_docs:
            append_docs(args, results, load, len(nights))
    finally:
        broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def append_docs(args, results, load, nights) -> None:
    cmd = "python bench/publish.py " + " ".join(a for a in sys.argv[1:] if a != "--append-docs") + " --append-docs"
    lines = ["", "## Publish (job end to end: archive -> engine -> Kafka)", "",
             f"Run {dt.date.today()} — `{cmd.strip()}`", "",
             f"Archive: {nights} synthetic ZTF nights x {args.alerts_per_night} alerts; full content = first night, "
             f"`candid % 5 = 0`. Embedded Apache Kafka broker on the same 2 CPUs; load average at the end "
             f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (other work running). Job time = status started -> "
             "finished (includes Spark start-up for spark).", "",
             "| content | engine | alerts | job s | alerts/s | MB/s | wall s |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['content']} | {r['engine']} | {r['alerts']} | {r['job_s']:.1f} | "
                     f"{r['alerts'] / r['job_s']:.0f} | {r['bytes'] / 1e6 / r['job_s']:.1f} | {r['wall_s']:.1f} |")
    with open(ROOT / "docs" / "benchmarks.md", "a") as fh:
        fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
