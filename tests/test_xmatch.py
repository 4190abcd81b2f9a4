"""engine.xmatch without a broker: reading catalogues, the HEALPix join against astropy, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import UserError
from engine.xmatch import Catalogue, CatalogueIndex, check_options, load_catalogue, read_stored, store_catalogue
from tests import xmatch_data


def _random_sky(rng, n):
    ra = rng.uniform(0, 360, n)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    k = n // 4
    ra[:k] = np.mod(rng.normal(0, 0.3, k), 360)           # around RA = 0/360
    dec[k:2 * k] = 90 - np.abs(rng.normal(0, 0.3, k))      # north pole
    dec[2 * k:3 * k] = -90 + np.abs(rng.normal(0, 0.3, k))  # south pole
    return ra, dec


@pytest.mark.parametrize("radius", [0.5, 2.0, 30.0, 900.0])
def test_index_equals_astropy_match_coordinates_sky(radius):
    import astropy.units as u
    from astropy.coordinates import SkyCoord, match_coordinates_sky

    rng = np.random.default_rng(int(radius * 10))
    cra, cdec = _random_sky(rng, 3000)
    pick = rng.integers(0, 3000, 6000)
    src = SkyCoord(cra[pick] * u.deg, cdec[pick] * u.deg)
    alerts = src.directional_offset_by(rng.uniform(0, 360, 6000) * u.deg, rng.uniform(0, 2, 6000) * radius * u.arcsec)
    ara, adec = alerts.ra.deg, alerts.dec.deg
    cat = Catalogue(ids=np.array([f"s{i}" for i in range(3000)], dtype=object), ra=cra, dec=cdec)

    rows, found, sep = CatalogueIndex(cat, radius).match(ara, adec)

    idx, ref_sep, _ = match_coordinates_sky(alerts, SkyCoord(cra * u.deg, cdec * u.deg))
    near = np.flatnonzero(ref_sep.arcsec <= radius)
    assert 1000 < near.size < 6000  # both kinds of alerts are present
    assert np.array_equal(rows, near)
    index = CatalogueIndex(cat, radius)
    assert index.id_of(found).to_pylist() == list(cat.ids[idx[near]])
    assert np.allclose(sep, ref_sep.arcsec[near], atol=1e-6)


def test_cells_stored_with_the_catalogue_give_the_same_matches(tmp_path):
    rng = np.random.default_rng(5)
    ra, dec = _random_sky(rng, 2000)
    cat = Catalogue(ids=np.array([f"s{i}" for i in range(2000)], dtype=object), ra=ra, dec=dec)
    stored = read_stored(store_catalogue(cat, tmp_path / "c.parquet", radius_arcsec=2.0))
    assert stored.depth == CatalogueIndex(cat, 2.0).depth and stored.cells.shape == (2000,)
    assert stored.ids.to_pylist() == list(cat.ids)  # file order kept
    pick = rng.integers(0, 2000, 3000)
    ara, adec = np.mod(ra[pick] + rng.normal(0, 1e-4, 3000), 360), np.clip(dec[pick] + rng.normal(0, 1e-4, 3000), -90, 90)
    for radius in (2.0, 30.0):  # 30": another depth, so the stored cells are not used
        want = CatalogueIndex(cat, radius)
        got = CatalogueIndex(stored, radius)
        (r1, s1, d1), (r2, s2, d2) = want.match(ara, adec), got.match(ara, adec)
        assert np.array_equal(r1, r2) and want.id_of(s1).to_pylist() == got.id_of(s2).to_pylist()
        assert np.array_equal(d1, d2) and r1.size > 1000


def test_nan_alert_positions_are_never_matched():
    cat = Catalogue(ids=np.array(["a"], dtype=object), ra=np.array([10.0]), dec=np.array([10.0]))
    rows, _, _ = CatalogueIndex(cat, 5).match([10.0, np.nan, 10.0], [10.0, 10.0, np.nan])
    assert rows.tolist() == [0]


@pytest.fixture(scope="module")
def catalogue():
    rng = np.random.default_rng(0)
    import pandas as pd

    cat = pd.DataFrame({"ra": rng.uniform(0, 360, 40), "dec": rng.uniform(-89, 89, 40)})
    cat.loc[0, ["ra", "dec"]] = [359.99999, -89.5]
    cat["name"] = [f"T{i}" for i in range(len(cat))]
    return cat


def _write(cat, fmt, path):
    from astropy.table import Table

    if fmt == "csv":
        return xmatch_data.write_csv(cat, path.with_suffix(".csv"))
    if fmt == "sexagesimal":
        return xmatch_data.write_csv(xmatch_data.sexagesimal(cat), path.with_suffix(".csv"))
    table = Table.from_pandas(cat[["name", "ra", "dec"]])
    target = path.with_suffix({"parquet": ".parquet", "votable": ".xml", "fits": ".fits"}[fmt])
    table.write(str(target), format={"parquet": "parquet", "votable": "votable", "fits": "fits"}[fmt])
    return target


@pytest.mark.parametrize("fmt", ["csv", "sexagesimal", "parquet", "votable", "fits"])
def test_every_format_reads_the_same_catalogue(fmt, catalogue, tmp_path):
    path = _write(catalogue, fmt, tmp_path / "cat")
    cat = load_catalogue(path, "ra", "dec", "name")
    assert list(cat.ids) == list(catalogue["name"])
    tol = 1e-6 if fmt == "sexagesimal" else 1e-9  # 'ss.sssss' keeps 0.15 mas
    assert np.allclose(cat.ra, catalogue["ra"] % 360, atol=tol) or np.allclose(
        np.mod(cat.ra - catalogue["ra"] + 180, 360) - 180, 0, atol=tol)
    assert np.allclose(cat.dec, catalogue["dec"], atol=tol)
    stored = read_stored(store_catalogue(cat, tmp_path / "stored.parquet"))
    assert stored.ids.to_pylist() == list(cat.ids) and np.array_equal(stored.ra, cat.ra)


@pytest.mark.parametrize("content, columns, message", [
    ("name,ra,dec\nA,10,nan\n", ("ra", "dec", "name"), "NaN"),
    ("name,ra,dec\nA,10,\nB,1,2\n", ("ra", "dec", "name"), "NaN"),
    ("name,ra,dec\nA,10,5\n", ("alpha", "dec", "name"), "no RA column 'alpha'"),
    ("name,ra,dec\nA,10,5\n", ("name", "dec", "ra"), "not coordinates"),
    ("name,ra,dec\nA,10,95\n", ("ra", "dec", "name"), "not a declination"),
])
def test_bad_catalogue_is_one_line(tmp_path, content, columns, message):
    path = tmp_path / "cat.csv"
    path.write_text(content)
    with pytest.raises(UserError, match=message) as err:
        load_catalogue(path, *columns)
    assert "\n" not in str(err.value)


def test_unreadable_unknown_and_too_large(tmp_path, monkeypatch):
    bad = tmp_path / "cat.fits"
    bad.write_bytes(b"not a fits file at all")
    with pytest.raises(UserError, match="cannot read catalogue cat.fits"):
        load_catalogue(bad, "ra", "dec", "id")
    with pytest.raises(UserError, match="format not recognised"):
        load_catalogue(tmp_path / "cat.xlsx", "ra", "dec", "id")
    big = tmp_path / "big.csv"
    big.write_text("id,ra,dec\n" + "".join(f"{i},1,2\n" for i in range(11)))
    monkeypatch.setattr("engine.xmatch.MAX_ROWS", 10)
    with pytest.raises(UserError, match="catalogue too large: 11 rows"):
        load_catalogue(big, "ra", "dec", "id")


@pytest.mark.parametrize("radius", [0, -1, 3600.5, "abc"])
def test_radius_bounds(radius):
    with pytest.raises(UserError, match="radius"):
        check_options({"path": "x.csv", "ra": "ra", "dec": "dec", "id": "id", "radius_arcsec": radius})


@pytest.mark.parametrize("name", ["xmatch", "dataset"])
def test_option_mappings_reject_other_shapes_and_unknown_keys(name):
    from engine import dataset, xmatch

    check = {"xmatch": xmatch.check_options, "dataset": dataset.check_options}[name]
    assert check(None) is None and check({}) is None
    with pytest.raises(UserError, match=f"^{name} must be a mapping \\("):
        check(["path"])
    with pytest.raises(UserError, match=f"^unknown {name} key\\(s\\): colour, size$"):
        check({"size": 1, "colour": "red"})


def test_catalogue_stored_with_the_job_and_deleted_at_topic_expiry(tmp_path, catalogue):
    import json
    import time
    from types import SimpleNamespace

    from engine.xmatch import STORED_NAME, attach_to_job, purge_expired

    settings = SimpleNamespace(jobs_dir=tmp_path / "jobs", kafka=SimpleNamespace(retention_days=7))
    path = xmatch_data.write_csv(catalogue, tmp_path / "targets.csv")
    jobs = {}
    for name, age_days in (("old", 8), ("new", 1)):
        directory = settings.jobs_dir / name
        directory.mkdir(parents=True)
        (directory / "status.json").write_text(json.dumps({"created": time.time() - age_days * 86400}))
        spec = attach_to_job(directory, {"xmatch": {"path": str(path), "ra": "ra", "dec": "dec", "id": "name",
                                                    "radius_arcsec": 2}})
        assert spec["xmatch"]["path"] == str(directory / STORED_NAME)
        assert read_stored(spec["xmatch"]["path"]).ids.to_pylist() == list(catalogue["name"])
        jobs[name] = directory / STORED_NAME
    assert purge_expired(settings) == [jobs["old"]]
    assert not jobs["old"].exists() and jobs["new"].exists()


def test_lsst_data_set_keys_come_from_the_registry():
    """On the real LSST sample: a solar-system source's object is its ssObjectId (Rubin writes
    diaObjectId = 0 there), so the split hashes by object for both kinds; the class cap's default
    column is the one the job adds (tns_type_recomputed) and an unknown one names the survey's."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from engine import dataset, surveys
    from engine.errors import UserError

    batch = pa.Table.from_batches(surveys.get("lsst").sample_batches("v10_0")[0]).combine_chunks().to_batches()[0]
    src = batch.column("diaSource")
    dia = pc.struct_field(src, "diaObjectId").to_pylist()
    sso = pc.struct_field(src, "ssObjectId").to_pylist()
    assert 0 in dia and any(sso)  # the sample holds both kinds
    assert dataset.object_ids(batch, "lsst") == [d if d else s for d, s in zip(dia, sso)]
    assert 0 not in dataset.object_ids(batch, "lsst")
    assert dataset.class_column("lsst", None) == "tns_type_recomputed"
    dataset.check_class_column("lsst", {"max_per_class": 5})
    with pytest.raises(UserError, match="tns_type_recomputed"):
        dataset.check_class_column("lsst", {"max_per_class": 5, "class_column": "finkclass"})
    assert dataset.alert_id_column("lsst") == "diaSourceId"
