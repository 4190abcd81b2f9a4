"""Every Fink filter and block on hand-made alerts, one on each side of its threshold, through
the one condition compiler (DuckDB rendering, as the local engine and the exact count)."""

from __future__ import annotations

import copy
import datetime as dt

import pyarrow as pa
import pytest

from engine import fink_filters
from engine.conditions import compile_conditions
from engine.errors import UserError
from engine.job.pipeline import condition_mask
from engine.schemas import unified_arrow_schema
from engine.surveys.lsst_filters import FLAGS


@pytest.fixture(scope="module")
def lsst_row(tmp_path_factory):
    """One synthetic LSST alert made neutral: good quality, far from the plane, a SIMBAD galaxy,
    r-band flux 10000 nJy (m = 21.4) above its mean 5000 +- 100, age 2 days, 3 detections."""
    from engine.archive import reader
    from engine.archive.generator import build_archive

    out = tmp_path_factory.mktemp("lsst") / "a"
    build_archive("lsst", dt.date(2026, 3, 5), 1, 50, out, progress=False, with_samples=False, write_index=False)
    row = next(reader.read_arrow(out, reader.list_nights(out))).to_pylist()[0]
    src, obj = row["diaSource"], row["diaObject"] or {}
    src.update({f: False for f in FLAGS}, isNegative=False, psfFlux=10000.0, psfFluxErr=100.0, snr=100.0,
               band="r", ra=12.86, dec=-27.0, midpointMjdTai=61000.0)
    obj = {k: None for k in unified_arrow_schema("lsst").field("diaObject").type.names} | obj
    obj.update(r_psfFluxMean=5000.0, r_psfFluxMeanErr=100.0, nDiaSources=3)
    row["diaObject"] = obj
    row["ssSource"] = None
    row["diaSourceId"] = 113 * 1000 + 1
    row["pred"].update(is_sso=False)
    row["misc"] = {"firstDiaSourceMjdTaiFink": 60998.0}
    row["xm"] = {k: None for k in row["xm"]} | {"simbad_otype": "Galaxy"}
    row["clf"].update(snnSnVsOthers_score=0.1, cats_class=21, cats_score=0.1, elephant_kstest_template=0.99)
    return row


def _radec(l_deg, b_deg):
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    c = SkyCoord(l=l_deg * u.deg, b=b_deg * u.deg, frame="galactic").icrs
    return {"diaSource.ra": float(c.ra.deg), "diaSource.dec": float(c.dec.deg)}


def _prv(*points):
    """prvDiaSources of (band, midpointMjdTai, psfFlux[, psfFluxErr = 100]) points, the other fields null."""
    names = unified_arrow_schema("lsst").field("prvDiaSources").type.value_type.names
    return [{k: None for k in names} | {"band": p[0], "midpointMjdTai": p[1], "psfFlux": p[2],
                                         "psfFluxErr": p[3] if len(p) > 3 else 100.0} for p in points]


def _z_at_abs_mag(target: float, m: float = 31.4 - 2.5 * 4.0) -> float:
    """The redshift at which apparent magnitude m (flux 10000 nJy) is absolute magnitude ``target``
    (astropy FlatLambdaCDM H0=70, Om0=0.3, as fink-filters obs_to_abs_mag)."""
    from astropy.cosmology import FlatLambdaCDM
    from scipy.optimize import brentq

    cosmo = FlatLambdaCDM(H0=70, Om0=0.3)
    return brentq(lambda z: m - cosmo.distmod(z).value - target, 1e-4, 5)


class _ZAtAbsMag:
    """``_z_at_abs_mag(target)`` in a case table, computed when an alert is built, not when the
    module is collected (scipy and the root finding cost every collection)."""

    def __init__(self, target: float):
        self.target = target

    def value(self) -> float:
        return _z_at_abs_mag(self.target)


# the latest earlier r point sets the rate: 20000 nJy one day before 10000 nJy is +0.75 mag/day
NEW_FADING = {"diaObject.r_psfFluxNdata": 2, "prvDiaSources": _prv(("g", 60999.9, 10.0), ("r", 60999.0, 20000.0))}
NEW_SLOW = NEW_FADING | {"prvDiaSources": _prv(("r", 60999.0, 20000.0), ("r", 60999.5, 10500.0))}  # 0.11 mag/day
NO_MAX = {f"diaObject.{b}_psfFluxMax": None for b in "ugizy"} | {"diaObject.g_psfFluxMax": float("nan")}
SN_NEAR = NO_MAX | {"diaObject.nDiaSources": 6, "diaObject.r_psfFluxMax": 10000.0}
# b_mag_rate_mc_sampling at 10000 nJy: faster than (ln 10 / 2.5) 0.3 x 10000 = 2763 nJy/day, SNR > 3
MC_FAST = {"prvDiaSources": _prv(("r", 60999.0, 7000.0))}                  # 3000 nJy/day
GVOM = {"diaSource.psfFlux": 20000.0, "prvDiaSources": _prv(("r", 60999.0, 14000.0))}   # m 20.6, 6000 > 5526
MOST_LIKELY = {"clf.snnSnVsOthers_score": 0.71, "clf.cats_class": 11, "clf.cats_score": 0.95,
               "diaSource.isNegative": True}
LSST_CASES = {  # name: (passes, fails) as {dotted field: value} changes of the neutral alert
    "in_tns": ({"xm.tns_fullname": "2026abc"}, {}),
    "uniform_sample": ({"diaSourceId": 113 * 1000}, {}),
    "hostless_candidate": ({"clf.elephant_kstest_template": 0.5},
                           {"clf.elephant_kstest_template": 0.5, "diaSource.psfFlux": 9000.0}),
    "extragalactic_lt20mag_candidate": ({"diaSource.psfFlux": 40000.0, "diaObject.nDiaSources": 5},
                                        {"diaSource.psfFlux": 40000.0, "diaObject.nDiaSources": 4}),
    "extragalactic_new_candidate": (NEW_FADING, NEW_SLOW),
    "fast_transient_gvom": (GVOM, GVOM | {"prvDiaSources": _prv(("r", 60999.0, 14600.0))}),   # 5400 < 5526
    "b_mag_rate_mc_sampling": (MC_FAST, {"prvDiaSources": _prv(("r", 60999.0, 7300.0))}),    # 2700 < 2763
    "sn_near_galaxy_candidate": (SN_NEAR | {"xm.legacydr8_zphot": _ZAtAbsMag(-13.002)},
                                 SN_NEAR | {"xm.legacydr8_zphot": _ZAtAbsMag(-12.998)}),
    "extragalactic_svom": ({}, {"misc.firstDiaSourceMjdTaiFink": 60995.0}),
    "most_likely_sn": (MOST_LIKELY, MOST_LIKELY | {"clf.snnSnVsOthers_score": 0.69}),
    "remove_unlikely_transients": ({"diaSource.isNegative": True},
                                   {"diaSource.isNegative": True, "diaSource.snr": 10.0}),
    "b_is_solar_system": ({"pred.is_sso": True}, {}),
    "b_outside_galactic_plane_20_deg": (_radec(100, 20.5), _radec(100, 19.5)),
    "b_outside_galactic_plane_5_deg": (_radec(100, -5.5), _radec(100, -4.5)),
    "b_xmatched_simbad_galaxy": ({}, {"xm.simbad_otype": "Star"}),
    "b_xmatched_simbad_unknown": ({"xm.simbad_otype": None}, {}),
    "b_xmatched_mangrove": ({"xm.mangrove_lum_dist": 10.0}, {"xm.mangrove_lum_dist": 0.0}),
    "b_xmatched_gaia_star": ({"xm.gaiadr3_DR3Name": "Gaia DR3 1", "xm.gaiadr3_Plx": 5.1, "xm.gaiadr3_e_Plx": 1.0},
                             {"xm.gaiadr3_DR3Name": "Gaia DR3 1", "xm.gaiadr3_Plx": 4.9, "xm.gaiadr3_e_Plx": 1.0}),
    "b_xmatched_vsx_star": ({"xm.vsx_Type": "RRAB"}, {"xm.vsx_Type": "AGN"}),
    "b_xmatched_vsx": ({"xm.vsx_Type": "AGN"}, {"xm.vsx_Type": "XYZ"}),
    "b_is_rising": ({"diaObject.r_psfFluxMean": 9899.0}, {"diaObject.r_psfFluxMean": 9901.0}),
    "b_is_fading": ({"diaObject.r_psfFluxMean": 10101.0}, {"diaObject.r_psfFluxMean": 10099.0}),
    "b_is_new": ({"misc.firstDiaSourceMjdTaiFink": 61000.0}, {}),
    "b_good_quality": ({"diaSource.psfFluxErr": 10000 / 6.01}, {"diaSource.psfFluxErr": 10000 / 5.99}),
    "b_extragalactic_loose_candidate": ({"xm.simbad_otype": None}, {"xm.simbad_otype": None, "pred.is_sso": True}),
    "b_extragalactic_near_galaxy_candidate": ({}, {"xm.simbad_otype": None}),
}


def _alert(base, changes):
    row = copy.deepcopy(base)
    for name, value in changes.items():
        *path, leaf = name.split(".")
        node = row
        for p in path:
            node = node[p]
        node[leaf] = value.value() if isinstance(value, _ZAtAbsMag) else value
    return row


def _passes(survey, rows, labels, schema):
    batch = pa.RecordBatch.from_pylist(rows, schema=schema)
    compiled = compile_conditions(fink_filters.expressions(survey, labels), unified_arrow_schema(survey))
    return condition_mask(batch, [c.duckdb_sql for c in compiled]).to_pylist()


def test_every_lsst_filter_has_a_case():
    assert set(LSST_CASES) == {f.name for f in fink_filters.options("lsst")}


@pytest.mark.parametrize("name", sorted(LSST_CASES))
def test_lsst_filter_both_sides_of_its_threshold(name, lsst_row):
    passes, fails = LSST_CASES[name]
    schema = pa.schema([f for f in unified_arrow_schema("lsst")])
    rows = [_alert(lsst_row, passes), _alert(lsst_row, fails)]
    assert _passes("lsst", rows, [name], schema) == [True, False]
    assert _passes("lsst", rows, [f"NOT {name}"], schema) == [False, True]


ZTF_SN = {"snn_snia_vs_nonia": 0.6, "cdsxmatch": "Unknown", "candidate.drb": 0.6, "candidate.classtar": 0.5,
          "roid": 0, "candidate.jdstarthist": 2460000.0, "candidate.jd": 2460010.0}
def _mcv(offset_arcsec, isdiffpos="t"):
    """At ``offset_arcsec`` north of the first catalogued magnetic CV (V479 And)."""
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    c = SkyCoord("00 18 56.9", "+34 54 44", unit=(u.hourangle, u.deg))
    return {"candidate.ra": float(c.ra.deg), "candidate.dec": float(c.dec.deg) + offset_arcsec / 3600,
            "candidate.isdiffpos": isdiffpos}


ZTF_KN = {"rf_kn_vs_nonkn": 0.6, "candidate.drb": 0.6, "candidate.classtar": 0.5, "candidate.jdstarthist": 2460000.0,
          "candidate.jd": 2460004.9, "candidate.ndethist": 19, "roid": 0, "cdsxmatch": "GinPair"}
ZTF_CASES = {
    "kn_candidates": (ZTF_KN, ZTF_KN | {"candidate.ndethist": 20}),
    "yso_candidates": ({"cdsxmatch": "TTau*_Candidate"}, {"cdsxmatch": "TTau*"}),
    "simbad_grav_candidates": ({"cdsxmatch": "LensedQ"}, {"cdsxmatch": "Lensed"}),
    "magnetic_cvs": (_mcv(0.49), _mcv(0.51)),
    "blazar": ({"cdsxmatch": "Blazar"}, {"cdsxmatch": "Star"}),
    "sso_ztf_candidates": ({"roid": 3}, {"roid": 2}),
    "sso_fink_candidates": ({"roid": 2}, {"roid": 3}),
    "microlensing_candidates": ({"mulens": 0.1}, {"mulens": 0.0}),
    "tns_match": ({"tnsclass": "(TNS) SN Ia", "candidate.jdstarthist": 2460000.0, "candidate.jd": 2460030.0},
                  {"tnsclass": "(TNS) SN Ia", "candidate.jdstarthist": 2460000.0, "candidate.jd": 2460030.5}),
    "vra": ({"cdsxmatch": "Unknown", "roid": 0, "candidate.magpsf": 19.6, "candidate.drb": 0.6},
            {"cdsxmatch": "Unknown", "roid": 0, "candidate.magpsf": 19.4, "candidate.drb": 0.6}),
    "sn_candidates": (ZTF_SN | {"candidate.ndethist": 2}, ZTF_SN | {"candidate.ndethist": 1}),
    "early_sn_candidates": (ZTF_SN | {"rf_snia_vs_nonia": 0.6, "candidate.ndethist": 20},
                            ZTF_SN | {"rf_snia_vs_nonia": 0.6, "candidate.ndethist": 21}),
}


@pytest.fixture(scope="module")
def ztf_row():
    from engine.archive.generator import sample_batches

    row = sample_batches("ztf", "2023+")[0][0].to_pylist()[0]
    row.update(cdsxmatch="Star", roid=0, mulens=0.0, snn_snia_vs_nonia=0.0, snn_sn_vs_all=0.0,
               rf_snia_vs_nonia=0.0, finkclass="Unknown", tnsclass="Unknown")
    row["candidate"].update(drb=0.0, classtar=0.0, magpsf=18.0, ndethist=1)
    return row


def test_every_ztf_filter_has_a_case():
    assert set(ZTF_CASES) == {f.name for f in fink_filters.options("ztf")}


@pytest.mark.parametrize("name", sorted(ZTF_CASES))
def test_ztf_filter_both_sides_of_its_threshold(name, ztf_row):
    passes, fails = ZTF_CASES[name]
    schema = pa.schema(list(unified_arrow_schema("ztf")) + [pa.field("finkclass", pa.string()),
                                                             pa.field("tnsclass", pa.string())])
    rows = [_alert(ztf_row, passes), _alert(ztf_row, fails)]
    assert _passes("ztf", rows, [name], schema) == [True, False]
    assert _passes("ztf", rows, [f"NOT {name}"], schema) == [False, True]


def test_labels_yields_and_errors():
    assert fink_filters.normalise("lsst", ["in_tns", "not  b_is_new", "in_tns"]) == ["in_tns", "NOT b_is_new"]
    y = {f.name: f.yield_ for f in fink_filters.options("lsst")}
    assert fink_filters.yield_factor("lsst", ["in_tns", "NOT b_is_new"]) == pytest.approx(
        y["in_tns"] * (1 - y["b_is_new"]))
    assert y["b_is_solar_system"] == pytest.approx(0.04639412713566963)
    assert y["sn_near_galaxy_candidate"] == pytest.approx(0.0461, rel=1e-2)   # the portal's stats file
    assert y["fast_transient_gvom"] == 1.0                                     # unmeasured: the portal's rule
    z = {f.name: f.yield_ for f in fink_filters.options("ztf")}
    assert z["vra"] == pytest.approx(0.0504, rel=1e-2) and z["kn_candidates"] == pytest.approx(7.0e-6, rel=1e-2)
    with pytest.raises(UserError, match="did you mean 'b_is_new'"):
        fink_filters.normalise("lsst", ["b_is_nwe"])



def test_the_length_limit_bounds_user_text_not_vetted_filters():
    """A negated compound filter is longer than a user may type; it still compiles (the same
    compiler and checks), while user text of that length is refused."""
    from engine.conditions import MAX_LENGTH, ConditionError

    schema = unified_arrow_schema("lsst")
    negated = fink_filters.expressions("lsst", ["NOT extragalactic_lt20mag_candidate"])
    assert len(negated) == 1 and len(negated[0]) > MAX_LENGTH
    compile_conditions(negated, schema)
    with pytest.raises(ConditionError, match=f"longer than {MAX_LENGTH} characters"):
        compile_conditions([str(negated[0])], schema)
    with pytest.raises(ConditionError, match="unknown column"):  # vetted text is still checked
        compile_conditions([type(negated[0])("diaSource.nope > 1")], schema)


def test_new_candidate_rising_and_sn_bright_edge(lsst_row):
    """The rest of the thresholds: rising (< -0.2 mag/day) only while younger than 3 days; g fades
    at 0.5 mag/day; the bright edge of the SN absolute magnitude (-23)."""
    schema = pa.schema([f for f in unified_arrow_schema("lsst")])
    rising = NEW_FADING | {"prvDiaSources": _prv(("r", 60999.0, 8000.0))}          # -0.24 mag/day
    g_band = NEW_FADING | {"diaSource.band": "g", "diaObject.g_psfFluxNdata": 2,
                           "prvDiaSources": _prv(("g", 60999.0, 15000.0))}         # +0.44 mag/day
    rows = [_alert(lsst_row, c) for c in (rising, rising | {"misc.firstDiaSourceMjdTaiFink": 60996.9}, g_band,
                                          g_band | {"prvDiaSources": _prv(("g", 60999.0, 16500.0))})]
    assert _passes("lsst", rows, ["extragalactic_new_candidate"], schema) == [True, False, False, True]
    rows = [_alert(lsst_row, SN_NEAR | {"xm.legacydr8_zphot": _z_at_abs_mag(m)}) for m in (-22.998, -23.002)]
    assert _passes("lsst", rows, ["sn_near_galaxy_candidate"], schema) == [True, False]


@pytest.mark.spark
def test_every_filter_selects_the_same_rows_in_spark(spark, lsst_row, ztf_row, tmp_path):
    """The Spark rendering of each filter and its NOT, on the same hand-made alerts (both sides)."""
    import pyarrow.parquet as pq
    from pyspark.sql import functions as F

    for survey, base, cases in (("lsst", lsst_row, LSST_CASES), ("ztf", ztf_row, ZTF_CASES)):
        schema = condition_schema_of(survey)
        rows = [_alert(base, c) for name in sorted(cases) for c in cases[name]]
        path = tmp_path / f"{survey}.parquet"
        pq.write_table(pa.Table.from_batches([pa.RecordBatch.from_pylist(rows, schema=schema)]), path)
        df = spark.read.parquet(str(path)).withColumn("_i", F.monotonically_increasing_id())
        for name in sorted(cases):
            for label in (name, f"NOT {name}"):
                compiled = compile_conditions(fink_filters.expressions(survey, [label]), unified_arrow_schema(survey))
                selected = df
                for c in compiled:
                    selected = selected.filter(c.spark_sql)
                got = sorted(r["_i"] for r in selected.select("_i").collect())
                want = [i for i, keep in enumerate(_passes(survey, rows, [label], schema)) if keep]
                assert got == want, (survey, label)


def condition_schema_of(survey):
    extra = [pa.field("finkclass", pa.string()), pa.field("tnsclass", pa.string())] if survey == "ztf" else []
    return pa.schema(list(unified_arrow_schema(survey)) + extra)


def test_mc_rate_significance_and_gvom_as_written(lsst_row):
    """The rate's SNR edge (sqrt(100^2 + e^2) / 1 day against 3000 nJy/day: e = 980 passes, 1000
    fails); the last same-band source counts, not an earlier faster one; fast_transient_gvom
    keeps a Gaia star (fink-filters passes e_Plx for Plx), the loose block drops it."""
    schema = pa.schema([f for f in unified_arrow_schema("lsst")])
    rows = [_alert(lsst_row, {"prvDiaSources": _prv(("r", 60999.0, 7000.0, e))}) for e in (980.0, 1000.0)]
    rows.append(_alert(lsst_row, {"prvDiaSources": _prv(("r", 60998.0, 1000.0), ("r", 60999.0, 7300.0))}))
    assert _passes("lsst", rows, ["b_mag_rate_mc_sampling"], schema) == [True, False, False]
    star = {"xm.gaiadr3_DR3Name": "Gaia DR3 1", "xm.gaiadr3_Plx": 9.0, "xm.gaiadr3_e_Plx": 1.0}
    rows = [_alert(lsst_row, GVOM | star)]
    assert _passes("lsst", rows, ["fast_transient_gvom"], schema) == [True]
    assert _passes("lsst", rows, ["b_extragalactic_loose_candidate"], schema) == [False]


def test_distance_modulus_matches_astropy():
    """sn_near_galaxy_candidate's LambdaCDM distance modulus (Simpson's rule) against astropy."""
    import duckdb
    import numpy as np
    from astropy.cosmology import FlatLambdaCDM

    from engine.surveys.lsst_filters import _distance_modulus

    z = [0.001, 0.01, 0.1, 0.5, 1.0, 2.0, 5.0]
    con = duckdb.connect()
    try:
        got = [con.execute(f"SELECT {_distance_modulus('z')} FROM (SELECT {v}::DOUBLE AS z)").fetchall()[0][0]
               for v in z]
    finally:
        con.close()
    assert np.abs(np.array(got) - FlatLambdaCDM(H0=70, Om0=0.3).distmod(z).value).max() < 1e-5


def test_kn_and_magnetic_cvs_other_cuts(ztf_row):
    schema = condition_schema_of("ztf")
    rows = [_alert(ztf_row, ZTF_KN | {"candidate.jd": 2460005.0}), _alert(ztf_row, ZTF_KN | {"cdsxmatch": "Star"}),
            _alert(ztf_row, ZTF_KN | {"roid": 3})]
    assert _passes("ztf", rows, ["kn_candidates"], schema) == [False, False, False]
    rows = [_alert(ztf_row, _mcv(0.0, "f")), _alert(ztf_row, _mcv(0.0, "1")), _alert(ztf_row, _mcv(-0.49))]
    assert _passes("ztf", rows, ["magnetic_cvs"], schema) == [False, True, True]


def _pachon():
    from astropy import units as u
    from astropy.coordinates import EarthLocation

    from engine.surveys.lsst_filters import PACHON_LAT, PACHON_LON

    return EarthLocation(lat=PACHON_LAT * u.deg, lon=PACHON_LON * u.deg, height=2715 * u.m)


def _astropy_secz(ra, dec, mjd):
    """fink-filters coord_to_airmass (AltAz secz, no refraction), the IERS tables as shipped."""
    import warnings

    import numpy as np
    from astropy import units as u
    from astropy.coordinates import AltAz, SkyCoord
    from astropy.time import Time
    from astropy.utils import iers

    t = Time(np.atleast_1d(mjd), format="mjd", scale="tai")
    c = SkyCoord(ra=np.atleast_1d(ra) * u.deg, dec=np.atleast_1d(dec) * u.deg)
    # offline, past the shipped IERS tables: UT1 = UTC and the mean polar motion (< 1 s, < 1")
    with iers.conf.set_temp("auto_download", False), iers.conf.set_temp("auto_max_age", None), \
            iers.conf.set_temp("iers_degraded_accuracy", "ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return c.transform_to(AltAz(obstime=t, location=_pachon())).secz.value


def _at_airmass(target, dec=-30.0, mjd=61000.0):
    """diaSource ra/dec (east of the meridian) where astropy's airmass at ``mjd`` is ``target``."""
    from astropy.time import Time
    from scipy.optimize import brentq

    lst = Time(mjd, format="mjd", scale="tai").sidereal_time("mean", longitude=_pachon().lon).deg
    h = brentq(lambda h: _astropy_secz(lst - h, dec, mjd)[0] - target, 0.0, 80.0)
    return {"diaSource.ra": (lst - h) % 360, "diaSource.dec": dec, "diaSource.midpointMjdTai": mjd}


def _prv_t(*points):
    """prvDiaSources of (band, midpointMjdTai, templateFlux) points."""
    return [p | {"templateFlux": t[2]} for p, t in zip(_prv(*((t[0], t[1], 100.0) for t in points)), points)]


# a g-band flare at airmass 1.35, psfFlux / templateFlux = 0.2, not new, no earlier source
MDWARF = {"diaSource.band": "g", "diaSource.templateFlux": 50000.0, "prvDiaSources": None} | _at_airmass(1.35)
# quiescent medians (nJy): r 1000, i 1630 (r-i = 0.530), z 2140 (i-z = 0.296): the z edge decides
RIZ = (("r", 60990.0, 900.0), ("r", 60990.1, 1100.0), ("i", 60990.0, 1630.0), ("z", 60990.0, 2140.0),
       ("z", 60989.0, 9000.0), ("z", 60988.0, 10.0))
LSST_CASES["mdwarf_flare"] = (MDWARF, MDWARF | _at_airmass(1.29))


def test_mdwarf_flare_airmass_matches_astropy():
    """The closed-form airmass against astropy's AltAz secz (what fink-filters calls) over the
    sky and 2024-2036: within 5e-4 below airmass 1.5 (the cut is at 1.3), 2e-3 below 3, the sign
    below the horizon."""
    import duckdb
    import numpy as np

    from engine.surveys.lsst_filters import AIRMASS_COS_Z

    rng = np.random.default_rng(1)
    ra, dec, mjd = rng.uniform(0, 360, 400), rng.uniform(-90, 10, 400), rng.uniform(60310, 64700, 400)
    want = _astropy_secz(ra, dec, mjd)
    con = duckdb.connect()
    try:
        rows = con.execute(f"SELECT 1 / {AIRMASS_COS_Z} FROM (SELECT unnest($r) AS r, unnest($d) AS d, unnest($m) AS m) "
                           "t, LATERAL (SELECT {'ra': r, 'dec': d, 'midpointMjdTai': m} AS diaSource)",
                           {"r": ra.tolist(), "d": dec.tolist(), "m": mjd.tolist()}).fetchall()
    finally:
        con.close()
    got = np.array([r[0] for r in rows])
    near = (want > 1) & (want < 3)
    assert near.sum() > 50
    assert np.abs(got[near] - want[near]).max() < 2e-3
    near_cut = (want > 1) & (want < 1.5)
    assert near_cut.sum() > 50 and np.abs(got[near_cut] - want[near_cut]).max() < 5e-4
    assert (np.sign(got) == np.sign(want)).all()


def _mdwarf_cases():
    """(changes of MDWARF, passes) for every cut on both sides: the airmass (astropy 1.305 /
    1.295), the band, the 10 % excursion, the 4-48 h isolation, a new object only as a Gaia star,
    good quality, the quiescent colours (medians, even counts averaged; no colour when a band is
    missing, NaN or not positive)."""
    gaia = {"xm.gaiadr3_DR3Name": "Gaia DR3 1", "xm.gaiadr3_Plx": 5.1, "xm.gaiadr3_e_Plx": 1.0}
    new = {"misc.firstDiaSourceMjdTaiFink": MDWARF["diaSource.midpointMjdTai"]}
    hours = [MDWARF["diaSource.midpointMjdTai"] - h / 24 for h in (3.9, 4.1, 47.9, 48.1)]
    cases = [
        (_at_airmass(1.305), True), (_at_airmass(1.295), False), (_at_airmass(1.7, dec=-80.0), True),
        ({"diaSource.band": "u"}, True), ({"diaSource.band": "r"}, False),
        ({"diaSource.templateFlux": 10000 / 0.101}, True), ({"diaSource.templateFlux": 10000 / 0.099}, False),
        ({"diaSource.templateFlux": -50000.0}, False),
        ({"prvDiaSources": _prv_t(("r", hours[0], 1.0))}, True), ({"prvDiaSources": _prv_t(("r", hours[1], 1.0))}, False),
        ({"prvDiaSources": _prv_t(("r", hours[2], 1.0))}, False), ({"prvDiaSources": _prv_t(("r", hours[3], 1.0))}, True),
        (new, False), (new | gaia, True), (new | gaia | {"xm.gaiadr3_Plx": 4.9}, False),
        ({"diaSource.psfFluxErr": 10000 / 5.99}, False),
        ({"prvDiaSources": _prv_t(*RIZ)}, False),                                   # i-z = 0.296
        ({"prvDiaSources": _prv_t(*RIZ[:3], ("z", 60990.0, 2160.0), *RIZ[4:])}, True),   # i-z = 0.306
        ({"prvDiaSources": _prv_t(("r", 60990.0, 900.0), ("r", 60990.1, 1140.0), *RIZ[2:3],
                                  ("z", 60990.0, 2160.0), *RIZ[4:])}, False),         # r median 1020: r-i 0.509 (900 alone passes)
        ({"prvDiaSources": _prv_t(*RIZ[:3], ("z", 60990.0, 2140.0))}, False),        # z median 2140
        ({"prvDiaSources": _prv_t(*RIZ[:2])}, True),                                 # no i, z: no colour
        ({"prvDiaSources": _prv_t(*RIZ, ("i", 60990.0, float("nan")))}, True),       # numpy median NaN
        ({"prvDiaSources": _prv_t(("r", 60990.0, -5.0), *RIZ[2:])}, True),           # r mag NaN
        ({"prvDiaSources": _prv_t(*RIZ[:2], ("i", 60990.0, None), *RIZ[2:])}, False),   # None skipped
    ]
    return cases


def test_mdwarf_flare_other_cuts(lsst_row):
    schema = pa.schema([f for f in unified_arrow_schema("lsst")])
    cases = _mdwarf_cases()
    rows = [_alert(lsst_row, MDWARF | c) for c, _ in cases]
    got = _passes("lsst", rows, ["mdwarf_flare"], schema)
    assert [(i, g) for i, (g, (_, w)) in enumerate(zip(got, cases)) if g != w] == []
    assert _astropy_secz(MDWARF["diaSource.ra"], -30.0, 61000.0)[0] == pytest.approx(1.35)


@pytest.mark.spark
def test_mdwarf_flare_same_rows_in_spark(spark, lsst_row, tmp_path):
    """The Spark rendering of mdwarf_flare and its NOT on the same cases (medians and lambdas)."""
    import pyarrow.parquet as pq
    from pyspark.sql import functions as F

    schema = condition_schema_of("lsst")
    cases = _mdwarf_cases()
    rows = [_alert(lsst_row, MDWARF | c) for c, _ in cases]
    path = tmp_path / "mdwarf.parquet"
    pq.write_table(pa.Table.from_batches([pa.RecordBatch.from_pylist(rows, schema=schema)]), path)
    df = spark.read.parquet(str(path)).withColumn("_i", F.monotonically_increasing_id())
    for label, want in (("mdwarf_flare", [w for _, w in cases]), ("NOT mdwarf_flare", [not w for _, w in cases])):
        selected = df
        for c in compile_conditions(fink_filters.expressions("lsst", [label]), unified_arrow_schema("lsst")):
            selected = selected.filter(c.spark_sql)
        assert sorted(r["_i"] for r in selected.select("_i").collect()) == [i for i, w in enumerate(want) if w], label


def test_mdwarf_flare_is_offered_unmeasured():
    f = {f.name: f for f in fink_filters.options("lsst")}["mdwarf_flare"]
    assert f.kind == "filter" and f.yield_ == 1.0   # not in Fink's stats file: the portal's rule
