"""The ZTF livestream filters (fink-filters ``ztf/livestream``) as condition expressions, with
the Jan-Jun 2025 coefficients of the ZTF portal.

kn_candidates reads the kilonova classifier's score the lake already holds (``rf_kn_vs_nonkn``;
its Slack message is a side effect, not a cut); magnetic_cvs is a cone of 0.5 arcsec around
each of the 245 magnetic cataclysmic variables fink-filters ships (copied with its origin to
``data/magnetic_cataclysmic_variables.csv``), written as an OR of haversine tests.

Not offered (fink-filters 7.40):

* new_hostless, intra_night_hostless, inter_night_hostless: ``is_hostless_base`` measures the
  source on the science and template cutout images (``cutoutScience``/``cutoutTemplate`` pixel
  arrays): image analysis, no column holds it.
* early_kn_candidates, rate_based_kn_candidates: after the column cuts they query SDSS's
  SkyServer live (astroquery ``SDSS.query_region``, 5 arcsec) to drop stars and quasars, and
  search Mangrove galaxies within 2 deg (early) : the answer depends on a remote service.
* yso_spicy_candidates: it reads Fink's SPICY cross-match columns (``spicy_id``, ``spicy_class``),
  which our ZTF schema does not hold, and fink-filters ships no SPICY catalogue (only test
  alerts already carrying them); SPICY (Kuhn et al. 2021, VizieR J/ApJS/254/33) has 117 446
  sources, far beyond a cone OR as magnetic_cvs (245). Its r2 of a straight-line fit to the
  r-band history (``cmagpsfc`` against ``cjdc``, >= 5 points) needs sums over an array, which
  the condition language has not (no aggregate).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from engine.fink_filters import FinkFilter

COEFFS = Path(__file__).resolve().parent / "data" / "ztf_ffilters_2025_01_to_06_coeffs.parquet"
HOSTS = ("'Unknown'", "'Candidate_EB*'", "'Galaxy'", "'G'", "'GinCl'", "'GinGroup'", "'GinPair'", "'SN'",
         "'Seyfert'", "'Seyfert_1'", "'Seyfert_2'", "'LINER'", "'QSO'", "'AGN'", "'AGN_Candidate'",
         "'Candidate_SN*'", "'SN*_Candidate'", "'EmG'", "'BClG'", "'PartofG'", "'RadioG'", "'IG'")
# fink-utils return_list_of_eg_host(): SIMBAD labels of extragalactic hosts, unknown and failed matches
EG_HOSTS = ("Unknown", "Candidate_SN*", "SN", "Transient", "Fail", "Fail 504", "galaxy", "Galaxy", "EmG",
            "Seyfert", "Seyfert_1", "Seyfert_2", "BlueCompG", "StarburstG", "LSB_G", "HII_G", "High_z_G",
            "GinPair", "GinGroup", "BClG", "GinCl", "PartofG", "Compact_Gr_G", "IG", "PairG", "GroupG", "ClG",
            "SuperClG", "Void", "LINER", "Possible_ClG", "Possible_SClG", "GravLens_Candidate", "SN*_Candidate")
GRAV = ("Gravitation", "LensingEv", "GravLensSystem", "GravLens", "LensedImage", "LensedG", "LensedQ",
        "BlackHole", "GravWaveEvent")
YSO = ("Candidate_YSO", "Candidate_TTau*", "YSO_Candidate", "TTau*_Candidate")
MCVS = Path(__file__).resolve().parent / "data" / "magnetic_cataclysmic_variables.csv"
SNN = "(snn_snia_vs_nonia > 0.5 OR snn_sn_vs_all > 0.5)"
CUTS = f"cdsxmatch IN ({', '.join(HOSTS)}) AND candidate.drb > 0.5 AND candidate.classtar > 0.4"

def _quoted(labels) -> str:
    return ", ".join(f"'{x}'" for x in labels)


FILTERS = {  # name: (module, expression, description)
    "blazar": ("filter_blazar.filter.blazar",
               "cdsxmatch IN ('Blazar', 'BLLac', 'Blazar_Candidate', 'BLLac_Candidate')", "Known blazars"),
    "sso_ztf_candidates": ("filter_sso_ztf_candidates.filter.sso_ztf_candidates", "roid = 3",
                           "Known solar-system objects (MPC)"),
    "sso_fink_candidates": ("filter_sso_fink_candidates.filter.sso_fink_candidates", "roid = 2",
                            "New solar-system candidates (Fink)"),
    "microlensing_candidates": ("filter_microlensing_candidates.filter.microlensing_candidates", "mulens > 0",
                                "Microlensing candidates"),
    "tns_match": ("filter_tns_match.filter.tns_match",
                  "tnsclass <> 'Unknown' AND candidate.jd - candidate.jdstarthist <= 30",
                  "Young alerts with a TNS counterpart"),
    "vra": ("filter_vra.filter.vra", "cdsxmatch = 'Unknown' AND roid <> 3 AND candidate.magpsf > 19.5 "
            "AND candidate.drb > 0.5", "Unknown faint transients (VRA)"),
    "sn_candidates": ("filter_sn_candidates.filter.sn_candidates",
                      f"{SNN} AND {CUTS} AND candidate.jd - candidate.jdstarthist <= 90 "
                      "AND candidate.ndethist > 1 AND roid <> 3", "Supernova candidates"),
    "kn_candidates": ("filter_kn_candidates.filter.kn_candidates",
                      "rf_kn_vs_nonkn > 0.5 AND candidate.drb > 0.5 AND candidate.classtar > 0.4 "
                      "AND candidate.jd - candidate.jdstarthist < 5 AND candidate.ndethist < 20 AND roid <> 3 "
                      f"AND cdsxmatch IN ({_quoted(EG_HOSTS)})", "Kilonova candidates (kilonova classifier score)"),
    "yso_candidates": ("filter_yso_candidates.filter.yso_candidates", f"cdsxmatch IN ({_quoted(YSO)})",
                       "Young stellar objects (SIMBAD)"),
    "simbad_grav_candidates": ("filter_simbad_grav_candidates.filter.simbad_grav_candidates",
                               f"cdsxmatch IN ({_quoted(GRAV)})", "Gravitational lenses and events (SIMBAD)"),
    "early_sn_candidates": ("filter_early_sn_candidates.filter.early_sn_candidates",
                            f"{SNN} AND {CUTS} AND rf_snia_vs_nonia > 0.5 AND candidate.ndethist <= 20",
                            "Early SN Ia candidates"),
}


def magnetic_cvs() -> tuple[str, ...]:
    """Positive alerts within the radius (0.5 arcsec) of a catalogued magnetic CV (fink-filters
    ``magnetic_cvs_``: astropy nearest match, separation < radius), as haversine tests."""
    import math
    import warnings

    import pandas as pd
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    cat = pd.read_csv(MCVS)
    with warnings.catch_warnings():  # one entry reads "60.0" seconds: astropy carries it, as in fink-filters
        warnings.simplefilter("ignore")
        pos = SkyCoord(ra=cat["RA(J2000)"].to_numpy(), dec=cat["DEC(J2000)"].to_numpy(), unit=(u.hourangle, u.deg))
    cones = []
    for ra, dec, radius in zip(pos.ra.deg.tolist(), pos.dec.deg.tolist(), cat["Radius"].astype(float).tolist()):
        r = radius / 3600.0
        limit = math.sin(math.radians(r) / 2) ** 2
        cones.append(f"abs(candidate.dec - {dec!r}) < {r!r} AND pow(sin(radians(candidate.dec - {dec!r}) / 2), 2) "
                     f"+ cos(radians(candidate.dec)) * {math.cos(math.radians(dec))!r} "
                     f"* pow(sin(radians(candidate.ra - {ra!r}) / 2), 2) < {limit!r}")
    return ("candidate.isdiffpos IN ('t', '1')", _balanced_or(cones))


def _balanced_or(terms: list[str]) -> str:
    """``a OR b OR ...`` nested as a balanced tree (a flat chain of 245 nests as deep as it is long)."""
    if len(terms) == 1:
        return f"({terms[0]})"
    half = len(terms) // 2
    return f"({_balanced_or(terms[:half])} OR {_balanced_or(terms[half:])})"


@lru_cache(maxsize=None)
def catalog() -> dict[str, FinkFilter]:
    import pyarrow.parquet as pq

    table = pq.read_table(COEFFS).to_pydict()
    coeffs = {f.split("fink_filters.ztf.livestream.", 1)[-1]: c for f, c in zip(table["filter"], table["coeff"])}
    out = {name: FinkFilter(name, (expr,), doc, "filter", coeffs.get(module, 1.0))
           for name, (module, expr, doc) in FILTERS.items()}
    out["magnetic_cvs"] = FinkFilter("magnetic_cvs", magnetic_cvs(), "Known magnetic cataclysmic variables",
                                     "filter", coeffs.get("filter_magnetic_cvs.filter.magnetic_cvs", 1.0))
    return out
