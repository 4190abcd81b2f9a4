"""Statistics index: exact counts per (night, finkclass, tnsclass), realistic Avro bytes, real lakes too."""

from __future__ import annotations

import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq

from engine import stats
from engine.archive import reader
from engine.classification import classify_batch, load_tns_catalog
from tests.helpers import ROOT


def test_index_layout_and_exact_counts(ztf_archive):
    idx = pq.read_table(ztf_archive / "_stats" / "index.parquet")
    assert idx.schema == stats.index_schema("ztf")
    df = idx.to_pandas()
    assert df.groupby("night").n_alerts.sum().to_dict() == {"2021-12-31": 312, "2022-01-01": 300, "2023-10-20": 310}
    assert set(df.era) == {"2019-2021", "2022", "2023+"}
    assert not df.duplicated(["night", "finkclass", "tnsclass"]).any()
    # the counts are those of the classifier over the unified read
    tns = load_tns_catalog(ztf_archive)
    got = {}
    for b in reader.read_arrow(ztf_archive, reader.list_nights(ztf_archive)):
        c = classify_batch(b, tns)
        for f, t in zip(c.column("finkclass").to_pylist(), c.column("tnsclass").to_pylist()):
            got[(f, t)] = got.get((f, t), 0) + 1
    assert df.groupby(["finkclass", "tnsclass"]).n_alerts.sum().to_dict() == got
    # the real 2026 transfer alerts keep their real classes, TNS included
    sn = df[(df.night == "2023-10-20") & (df.finkclass == "SN candidate")]
    assert {"(TNS) SN Ia", "(TNS) SN II"} <= set(sn.tnsclass)


def test_bytes_per_content_are_realistic(ztf_archive):
    df = pq.read_table(ztf_archive / "_stats" / "index.parquet").to_pandas()
    per = df.groupby("era")[["n_alerts", "bytes_lightcurve", "bytes_cutouts", "bytes_full"]].sum()
    full = per.bytes_full / per.n_alerts
    cut = per.bytes_cutouts / per.n_alerts
    light = per.bytes_lightcurve / per.n_alerts
    assert ((full > 38_000) & (full < 60_000)).all(), full      # real: 39-65 KB, median 49 KB
    assert ((cut > 36_000) & (cut < 50_000)).all(), cut         # real: ~41 KB
    assert (light < 2_000).all() and light["2023+"] > light["2022"] > light["2019-2021"] > 100


def test_index_of_a_real_fink_lake(real_lake):
    proc = subprocess.run([sys.executable, "-m", "cli", "archive", "index", str(real_lake), "--quiet"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    df = pq.read_table(real_lake / "_stats" / "index.parquet").to_pandas()
    assert df.groupby("night").n_alerts.sum().to_dict() == {"2019-09-03": 2, "2021-11-22": 124}
    assert set(df.tnsclass) == {"Unknown"}  # no TNS dump beside a real lake
    assert (df.bytes_full > df.bytes_lightcurve).all()
    assert "Early SN Ia candidate" in set(df.finkclass) and "Solar System MPC" in set(df.finkclass)
    info = subprocess.run([sys.executable, "-m", "cli", "archive", "info", str(real_lake)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert info.returncode == 0 and "alerts: 126" in info.stdout and "eras: 2019-2021 " in info.stdout


def test_read_index_builds_when_missing(tmp_path, real_lake):
    import shutil
    copy = tmp_path / "lake"
    shutil.copytree(real_lake, copy, ignore=shutil.ignore_patterns("_stats"))
    table = stats.read_index(copy)
    assert isinstance(table, pa.Table) and table.num_rows > 0
    assert (copy / "_stats" / "index.parquet").exists()
