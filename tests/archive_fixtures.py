"""Small archives shared by the archive/stats tests (built once per test session)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from tests.conftest import REFERENCE


@pytest.fixture(scope="session")
def ztf_archive(tmp_path_factory) -> Path:
    """Two ZTF nights across the 2021/2022 era boundary and one 2023-10 night (4.02), real samples included."""
    from engine.archive.generator import build_archive

    out = tmp_path_factory.mktemp("ztf") / "archive"
    build_archive("ztf", dt.date(2021, 12, 31), 2, 300, out, seed=7, progress=False, write_index=False)
    # a third night in the 2023+ era, written beside the others
    extra = tmp_path_factory.mktemp("ztf23") / "a"
    build_archive("ztf", dt.date(2023, 10, 20), 1, 300, extra, seed=7, progress=False, write_index=False)
    shutil.copytree(extra / "year=2023", out / "year=2023")
    import pyarrow as pa
    import pyarrow.parquet as pq
    tns = [pq.read_table(d / "_catalogs" / "tns.parquet") for d in (out, extra)]
    pq.write_table(pa.concat_tables(tns), out / "_catalogs" / "tns.parquet")
    from engine.stats import build_index
    build_index(out)
    return out


@pytest.fixture(scope="session")
def real_lake(tmp_path_factory) -> Path:
    """The real Fink lake samples laid out as year=/month=/day= (two schemas in one night)."""
    root = tmp_path_factory.mktemp("lake") / "science"
    src = REFERENCE / "samples" / "fink_datalake"
    night = root / "year=2021" / "month=11" / "day=22"
    night.mkdir(parents=True)
    shutil.copy(src / "science_2021-11-22_fink1.3_mulens_struct.parquet", night / "part-00003.parquet")
    shutil.copy(src / "science_2021-11-22_portal_archive.parquet", night / "part-00002.parquet")
    old = root / "year=2019" / "month=09" / "day=03"
    old.mkdir(parents=True)
    shutil.copy(src / "science_2019-09-03_fink2.9.parquet", old / "part-00000.parquet")
    return root
