"""Synthetic archive: layout, eras, one-schema reads over mixed eras (pyarrow, DuckDB, Spark), cutouts, CLI errors."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from engine import schemas
from engine.archive import layout, reader
from engine.errors import UserError
from tests.helpers import ROOT

D = dt.date
MIXED = [D(2021, 12, 31), D(2022, 1, 1), D(2023, 10, 20)]


def test_layout_and_eras(ztf_archive):
    assert reader.list_nights(ztf_archive) == MIXED
    assert (ztf_archive / "year=2021" / "month=12" / "day=31" / "part-0.parquet").exists()
    assert reader.night_dirs(ztf_archive, D(2022, 1, 1), D(2023, 12, 31))[0].name == "day=01"
    assert len(reader.night_dirs(ztf_archive, D(2021, 1, 1), D(2021, 12, 31))) == 1
    assert reader.eras_in(ztf_archive, MIXED) == {"2019-2021", "2022", "2023+"}
    assert reader.eras_in(ztf_archive, [D(2022, 1, 1), D(2022, 1, 5)]) == {"2022"}
    with pytest.raises(UserError):
        reader.night_dirs(ztf_archive, D(2022, 1, 2), D(2022, 1, 1))
    # the files really differ per era (the real-lake situation)
    old = pq.read_schema(layout.night_dir(ztf_archive, MIXED[0]) / "part-0.parquet")
    new = pq.read_schema(layout.night_dir(ztf_archive, MIXED[1]) / "part-0.parquet")
    assert pa.types.is_struct(old.field("mulens").type) and new.field("mulens").type == pa.float64()


def test_read_arrow_one_schema_over_three_eras(ztf_archive):
    table = reader.read_table(ztf_archive, MIXED)
    assert table.schema == schemas.unified_with_partitions("ztf")
    # 300 per night + 12 real 2021 lake alerts + 10 real 2026 alerts
    assert table.num_rows == 900 + 12 + 10
    days = table.column("day").to_pylist()
    assert days.count(31) == 312 and days.count(20) == 310
    dr3 = table.column("DR3Name")
    assert dr3.slice(0, 312).null_count == 312 and dr3.slice(312, 300).null_count == 0
    vsn = set(zip(table.column("year").to_pylist(), table.column("schemavsn").to_pylist()))
    assert (2021, "3.3") in vsn and (2023, "4.02") in vsn
    some = next(reader.read_arrow(ztf_archive, [D(2022, 1, 1)], columns=["objectId", "mulens"], batch_size=50))
    assert some.schema.names == ["objectId", "mulens", "year", "month", "day"] and some.num_rows == 50


def test_duckdb_view_one_schema_over_three_eras(ztf_archive):
    import duckdb

    con = duckdb.connect()
    reader.duckdb_view(con, ztf_archive, MIXED)
    rows = con.sql("SELECT year, month, day, count(*), count(DR3Name), count(lc_features_g), "
                   "typeof(any_value(mulens)), typeof(any_value(day)) FROM alerts GROUP BY ALL ORDER BY ALL").fetchall()
    assert [r[:4] for r in rows] == [(2021, 12, 31, 312), (2022, 1, 1, 300), (2023, 10, 20, 310)]
    assert rows[0][4] == 0 and rows[1][4] == 300 and rows[2][5] > 0
    assert {r[6] for r in rows} == {"DOUBLE"} and {r[7] for r in rows} == {"INTEGER"}
    cols = [r[0] for r in con.sql("DESCRIBE alerts").fetchall()]
    assert cols == schemas.unified_with_partitions("ztf").names
    n = con.sql("SELECT count(*) FROM alerts WHERE candidate.magpsf > 19 AND rf_snia_vs_nonia >= 0").fetchall()[0][0]
    assert 0 < n < 922


def test_real_lake_reads_with_one_schema(real_lake):
    nights = reader.list_nights(real_lake)
    assert nights == [D(2019, 9, 3), D(2021, 11, 22)]
    table = reader.read_table(real_lake, nights)
    assert table.num_rows == 2 + 57 + 67 and table.column("mulens").type == pa.float64()
    import duckdb
    con = duckdb.connect()
    reader.duckdb_view(con, real_lake, nights)
    assert con.sql("SELECT count(*), count(lc_features_g) FROM alerts").fetchall() == [(126, 2)]


def test_spark_read_one_schema_over_three_eras(spark, ztf_archive):
    df = reader.spark_read(spark, ztf_archive, MIXED)
    assert df.columns == schemas.unified_with_partitions("ztf").names
    assert df.schema["mulens"].dataType.typeName() == "double"
    assert df.schema["day"].dataType.typeName() == "integer"
    counts = {(r.year, r.day): r["count"] for r in df.groupBy("year", "day").count().collect()}
    assert counts == {(2021, 31): 312, (2022, 1): 300, (2023, 20): 310}
    assert df.filter("DR3Name IS NOT NULL AND year = 2021").count() == 0


def _build(tmp_path, name, seed, **kw):
    from engine.archive.generator import build_archive
    out = tmp_path / name
    build_archive("ztf", D(2022, 6, 1), 1, 150, out, seed=seed, progress=False, write_index=False, **kw)
    return pq.read_table(layout.night_dir(out, D(2022, 6, 1)) / "part-0.parquet")


def test_generator_is_deterministic(tmp_path):
    a, b, c = _build(tmp_path, "a", 5), _build(tmp_path, "b", 5), _build(tmp_path, "c", 6)
    assert a.equals(b)
    assert not a.column("candid").equals(c.column("candid"))


def test_cutouts_are_real_gzipped_fits_of_real_size(ztf_archive):
    from astropy.io import fits

    t = pq.read_table(layout.night_dir(ztf_archive, D(2022, 1, 1)) / "part-0.parquet",
                      columns=["candid", "cutoutScience", "cutoutTemplate", "cutoutDifference"])
    sizes = []
    for col in ("cutoutScience", "cutoutTemplate", "cutoutDifference"):
        data = pc.struct_field(t.column(col), "stampData").to_pylist()
        assert len(set(data)) == t.num_rows  # unique bytes per alert
        sizes += [len(d) for d in data]
        raw = gzip.decompress(data[0])
        assert len(raw) == 20160
        with fits.open(io.BytesIO(raw)) as hdul:
            assert hdul[0].data.shape == (63, 63)
            assert hdul[0].header["CANDID"] == t.column("candid")[0].as_py()
    name = pc.struct_field(t.column("cutoutScience"), "fileName")[0].as_py()
    assert name.startswith(f"candid{t.column('candid')[0].as_py()}_pid") and name.endswith("_targ_sci.fits.gz")
    assert 11_000 < np.median(sizes) < 15_500 and min(sizes) > 8_000


def test_histories_look_real(ztf_archive):
    t = pq.read_table(layout.night_dir(ztf_archive, D(2022, 1, 1)) / "part-0.parquet", columns=["prv_candidates", "candidate"])
    prv = t.column("prv_candidates").combine_chunks()
    lengths = pc.list_value_length(prv).to_numpy()
    assert 13 <= np.median(lengths) <= 21
    flat = prv.flatten()
    upper = pc.is_null(pc.struct_field(flat, "candid")).to_numpy(zero_copy_only=False)
    assert 0.5 < upper.mean() < 0.7
    assert pc.struct_field(flat, "magpsf").null_count == upper.sum()
    mag = pc.struct_field(t.column("candidate"), "magpsf").to_numpy()
    assert 17 < np.median(mag) < 19


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "cli", "archive", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args,needle", [
    (["build", "--survey", "hsc", "--start", "2022-01-01", "--out", "X"], "unknown survey"),
    (["build", "--survey", "lsst", "--start", "2022-01-01", "--out", "X"], "nights start on 2025-10-25"),
    (["build", "--survey", "ztf", "--start", "2022-01-01", "--nights", "0", "--out", "X"], "--nights"),
    (["build", "--survey", "ztf", "--start", "2022-02-30", "--out", "X"], "bad date"),
    (["build", "--survey", "ztf", "--start", "2022-01-01", "--alerts-per-night", "-5", "--out", "X"], "alerts-per-night"),
    (["info", "NOTANARCHIVE"], "not an archive"),
    (["index", "NOTANARCHIVE"], "not an archive"),
])
def test_cli_bad_input_one_line_exit_2(tmp_path, args, needle):
    args = [str(tmp_path / a) if a in ("X", "NOTANARCHIVE") else a for a in args]
    if "NOTANARCHIVE" in " ".join(args):
        (tmp_path / "NOTANARCHIVE").mkdir()
        (tmp_path / "NOTANARCHIVE" / "file.txt").write_text("x")
    proc = _cli(*args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in proc.stderr


def test_cli_build_and_info_elasticc(tmp_path):
    out = tmp_path / "el"
    proc = _cli("build", "--survey", "elasticc", "--start", "2026-01-10", "--nights", "2", "--alerts-per-night", "200",
                "--out", str(out), "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    assert "build elasticc: 100%" in proc.stderr and "400/400" in proc.stderr  # the bar saw every generated alert
    t = reader.read_table(out, reader.list_nights(out))
    assert t.num_rows == 420 and t.schema == schemas.unified_with_partitions("elasticc")
    assert t.column("classId").null_count == 20  # the real samples carry no truth class
    forced = pc.list_value_length(t.filter(pc.is_valid(t.column("classId"))).column("prvDiaForcedSources"))
    assert forced.null_count == 0 and 15 <= np.median(forced.to_numpy()) <= 40  # lognormal, median 27 (docs/archive.md)
    info = _cli("info", str(out))
    assert info.returncode == 0 and "survey: elasticc" in info.stdout and "alerts: 420" in info.stdout
    # a second build into the same directory is refused
    again = _cli("build", "--survey", "elasticc", "--start", "2026-01-10", "--out", str(out))
    assert again.returncode == 2 and "already holds an archive" in again.stderr
