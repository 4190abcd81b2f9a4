"""How long the live estimate takes per widget change on a 30-night archive (target: < 200 ms).

Measures two things:

1. the library call path the 'Define your query' page runs on every change (``components.services``:
   spec -> condition check -> estimate from the statistics index -> per-night chart), with the
   index already loaded as the app's cache holds it;
2. a full AppTest rerun of the page after a widget change (script + widgets + charts, no browser).

Usage::

    python bench/estimate_latency.py [--nights 30] [--alerts-per-night 2000] [--archive DIR]
                                     [--repeats 15] [--append-docs]
    python bench/estimate_latency.py --synthetic-index 1800   # five years, index only (target < 100 ms)

Without ``--archive`` a synthetic ZTF archive is built in a temporary folder (kept with
``--keep``). ``--append-docs`` appends the results to docs/benchmarks.md, section "Estimate latency".
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _ms(samples: list[float]) -> str:
    s = sorted(samples)
    p95 = s[min(len(s) - 1, int(round(0.95 * (len(s) - 1))))]
    return f"median {statistics.median(s) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, max {s[-1] * 1000:.1f} ms"


def build(data_dir: Path, nights: int, per_night: int, start: str) -> None:
    os.environ["FINK_TRANSFER_DATA_DIR"] = str(data_dir)
    from engine.archive.generator import build_archive
    from engine.config import load_settings

    out = load_settings().archive_dir("ztf")
    if (Path(out) / "_stats" / "index.parquet").is_file():
        return
    t0 = time.perf_counter()
    build_archive("ztf", dt.date.fromisoformat(start), nights, per_night, out, progress=False)
    print(f"built {nights} nights x {per_night} alerts in {time.perf_counter() - t0:.1f} s")


def synthesise(data_dir: Path, nights: int, start: str, classes: int) -> None:
    """An archive-scale statistics index (``nights`` x ``classes`` rows, engine.estimate.synthetic_index)
    and the night folders the app scans, each holding one empty data file: the archive itself need
    not exist for the estimate, which reads the index only."""
    os.environ["FINK_TRANSFER_DATA_DIR"] = str(data_dir)
    import pyarrow as pa
    import pyarrow.parquet as pq

    from engine.archive import layout
    from engine.config import load_settings
    from engine.estimate import synthetic_index
    from engine.stats import INDEX_PATH, INDEX_SCHEMA

    out = Path(load_settings().archive_dir("ztf"))
    first = dt.date.fromisoformat(start)
    index = synthetic_index(nights, classes=classes, start=first)
    index["era"] = [("2019-2021" if n[:4] <= "2021" else "2022" if n[:4] == "2022" else "2023+")
                    for n in index["night"]]
    (out / INDEX_PATH).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(index, schema=INDEX_SCHEMA, preserve_index=False), out / INDEX_PATH)
    for i in range(nights):
        night = layout.night_dir(out, first + dt.timedelta(days=i))
        night.mkdir(parents=True, exist_ok=True)
        (night / "part-0.parquet").touch()
    layout.write_meta(out, {"survey": "ztf", "nights": nights, "generator": "bench/estimate_latency.py (index only)"})
    print(f"synthesised an index of {nights} nights x {classes} classes = {len(index):,} rows")
    time.sleep(2.5)  # night folders settled, as in a real archive (layout.scan_nights re-lists fresh ones)


def library_path(repeats: int) -> dict:
    """Time the services calls of one widget change, index cached as in the app."""
    import warnings

    warnings.filterwarnings("ignore")
    from components import charts, services
    from engine.query import JobSpec

    settings = services.get_settings()
    t0 = time.perf_counter()
    nights = services.archive_nights(settings, "ztf")  # loads (and caches) the index
    first_load = time.perf_counter() - t0
    fink = services.class_groups("ztf")["Fink"]
    services.schema_fields("ztf")
    variants = []
    for i in range(repeats):
        lo = nights[i % max(1, len(nights) // 2)]
        classes = [] if i % 3 == 0 else [fink[1 + i % (len(fink) - 1)]]
        cond = "candidate.magpsf < 19.5" if i % 2 else "candidate.magpsf < 19.5\ncandidate.drb > 0.5"
        content = ("lightcurve", "cutouts", "full")[i % 3]
        variants.append((lo, nights[-1], classes, cond, content))
    samples = []
    for lo, hi, classes, cond, content in variants:
        t = time.perf_counter()
        spec = JobSpec(survey="ztf", start=lo, stop=hi, classes=classes or ["allclasses"], conditions=cond,
                       content=content)
        issues = services.condition_issues(cond, "ztf")
        est = services.estimate(settings, spec)
        services.eras_in(settings, "ztf", lo, hi)
        charts.alerts_per_night(est.per_night)
        samples.append(time.perf_counter() - t)
        assert not issues
    return {"first_load": first_load, "samples": samples, "nights": len(nights)}


def apptest_path(repeats: int) -> dict:
    """Time full reruns of the page after widget changes (AppTest, no browser)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app_pages" / "streamlit_app.py"), default_timeout=120)
    t = time.perf_counter()
    at.run()
    first = time.perf_counter() - t
    assert not at.exception, at.exception
    fink = at.multiselect(key="classes_ztf_Fink")
    options = [o for o in fink.options if o != "allclasses"]
    nights_widget = at.date_input(key="nights_ztf")
    lo, hi = nights_widget.min, nights_widget.max
    samples = []
    for i in range(repeats):
        step = i % 3
        if step == 0:
            at.multiselect(key="classes_ztf_Fink").set_value([options[i % len(options)]])
        elif step == 1:
            start = lo + dt.timedelta(days=i % 5)
            at.date_input(key="nights_ztf").set_value((start, hi))
        else:
            at.text_area(key="conditions_ztf").input(f"candidate.magpsf < {18 + i % 4}")
        t = time.perf_counter()
        at.run()
        samples.append(time.perf_counter() - t)
        assert not at.exception, at.exception
    return {"first": first, "samples": samples}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nights", type=int, default=30)
    ap.add_argument("--alerts-per-night", type=int, default=2000)
    ap.add_argument("--start", default="2021-12-20")
    ap.add_argument("--archive", help="data dir holding archive/ztf (default: a temporary one)")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    ap.add_argument("--synthetic-index", type=int, metavar="NIGHTS",
                    help="archive scale: synthesise an index of NIGHTS nights (e.g. 1800 = five years) instead "
                         "of building an archive; library path only")
    ap.add_argument("--classes", type=int, default=60, help="(finkclass, tnsclass) rows per night, synthetic index")
    ap.add_argument("--append-docs", action="store_true", help="append to docs/benchmarks.md")
    args = ap.parse_args(argv)

    tmp = None
    data_dir = Path(args.archive) if args.archive else Path(tempfile.mkdtemp(prefix="estlat-"))
    if not args.archive:
        tmp = data_dir
    os.environ["FINK_TRANSFER_DATA_DIR"] = str(data_dir)
    # the page checks the broker on each run: point it at a closed port so no broker is needed
    # (the check is cached for 5 s, as in the app)
    os.environ.setdefault("FINK_TRANSFER_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:9")
    try:
        if args.synthetic_index:
            synthesise(data_dir, args.synthetic_index, "2019-06-01", args.classes)
            lib = library_path(args.repeats)
            print(f"index of {lib['nights']} nights: library call path per widget change {_ms(lib['samples'])} over "
                  f"{len(lib['samples'])} changes (first index load {lib['first_load'] * 1000:.0f} ms); "
                  f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
            return 0
        build(data_dir, args.nights, args.alerts_per_night, args.start)
        lib = library_path(args.repeats)
        app = apptest_path(args.repeats)
    finally:
        if tmp and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    lines = [
        f"Archive: {lib['nights']} ZTF nights x {args.alerts_per_night} alerts; "
        f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), shared with other work.",
        f"* library call path per widget change (spec, condition check, estimate, eras, chart): "
        f"{_ms(lib['samples'])} over {len(lib['samples'])} changes "
        f"(first index load {lib['first_load'] * 1000:.0f} ms, then cached)",
        f"* AppTest full page rerun per widget change: {_ms(app['samples'])} over "
        f"{len(app['samples'])} changes (first run {app['first'] * 1000:.0f} ms)",
    ]
    print("\n".join(lines))
    if args.append_docs:
        doc = ROOT / "docs" / "benchmarks.md"
        cmd = ("python bench/estimate_latency.py --nights {0} --alerts-per-night {1} --repeats {2} "
               "--append-docs").format(args.nights, args.alerts_per_night, args.repeats)
        text = doc.read_text() if doc.exists() else "# Benchmarks\n"
        if "## Estimate latency" not in text:
            text = text.rstrip("\n") + ("\n\n## Estimate latency\n\nTarget: the estimate of the "
                                        "'Define your query' page updates in under 200 ms per "
                                        "widget change on a 30-night archive.\n")
        entry = f"\nRun {dt.date.today()} — `{cmd}`\n\n" + "\n".join(lines) + "\n"
        start = text.index("## Estimate latency")
        end = text.find("\n## ", start + 1)  # keep other sections intact: insert at our section's end
        end = len(text) if end < 0 else end + 1
        text = text[:end].rstrip("\n") + "\n" + entry + ("\n" + text[end:] if end < len(text) else "")
        doc.write_text(text)
        print(f"appended to {doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
