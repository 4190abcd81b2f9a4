"""The Rubin Fink filters and ``b_*`` blocks as condition expressions (research/lsst_transfer.md §3,
fink-filters ``rubin/blocks.py`` and ``rubin/livestream``), with the portal's measured yields.

m = 31.4 - 2.5 log10(psfFlux [nJy]) (NULL for psfFlux <= 0, so every magnitude cut fails, as
the NaN of the real code). Age = midpointMjdTai - misc.firstDiaSourceMjdTaiFink. Not offered
(they need code beyond an expression: Monte-Carlo rates, cosmology, cutout shapes, per-band
history medians): b_mag_rate_mc_sampling, extragalactic_new_candidate, sn_near_galaxy_candidate,
fast_transient_gvom, faint_trails, mdwarf_flare.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

from engine.fink_filters import FinkFilter

YIELDS = Path(__file__).resolve().parent / "data" / "lsst_filters_and_blocks_yield.csv"
BANDS = "ugrizy"
MAG = "(31.4 - 2.5 * log10(diaSource.psfFlux))"
AGE = "(diaSource.midpointMjdTai - misc.firstDiaSourceMjdTaiFink)"
# sin(galactic latitude) from ICRS (north galactic pole at RA 192.85948, Dec 27.12825)
SIN_B = ("sin(radians(diaSource.dec)) * sin(radians(27.12825)) + cos(radians(diaSource.dec)) "
         "* cos(radians(27.12825)) * cos(radians(diaSource.ra - 192.85948))")
# fink_utils extragalactic host labels (SIMBAD): the main ones (the full list would push the
# negated compound blocks over the condition length limit)
GALAXY = ("'G'", "'Galaxy'", "'GinCl'", "'GinGroup'", "'GinPair'", "'PairG'", "'GroupG'", "'ClG'", "'EmG'",
          "'SBG'", "'RadioG'", "'AGN'", "'Seyfert'", "'LINER'", "'QSO'", "'BLLac'", "'Blazar'", "'G?'")
UNKNOWN = ("'Unknown'", "'Fail'", "'Fail 504'", "'NaN'", "'nan'")
VSX_STAR = ("'RRAB'", "'RRC'", "'DSCT'", "'EA'", "'EB'", "'EW'", "'M'", "'SR'", "'L'", "'CEP'", "'BY'",
            "'ROT'", "'UV'", "'UG'", "'YSO'")
VSX_OTHER = ("'AGN'", "'QSO'", "'BLLAC'", "'GAL'", "'SN'", "'SNIA'")
FLAGS = ("isDipole", "pixelFlags", "pixelFlags_bad", "pixelFlags_saturated", "pixelFlags_streakCenter",
         "pixelFlags_interpolated", "pixelFlags_cr", "pixelFlags_nodata", "pixelFlags_streak", "pixelFlags_edge",
         "psfFlux_flag", "apFlux_flag", "forced_PsfFlux_flag", "forced_PsfFlux_flag_edge", "shape_flag",
         "centroid_flag")


def _versus_mean(op: str) -> str:
    """Per band: |psfFlux - mean| > mean error and psfFlux <op> mean (b_is_rising / b_is_fading)."""
    whens = " ".join(f"WHEN diaSource.band = '{b}' THEN abs(diaSource.psfFlux - diaObject.{b}_psfFluxMean) > "
                     f"diaObject.{b}_psfFluxMeanErr AND diaSource.psfFlux {op} diaObject.{b}_psfFluxMean"
                     for b in BANDS)
    return f"CASE {whens} ELSE FALSE END"


def _blocks() -> dict[str, tuple[tuple[str, ...], str]]:
    galaxy = f"xm.simbad_otype IN ({', '.join(GALAXY)})"
    unknown = f"coalesce(xm.simbad_otype IN ({', '.join(UNKNOWN)}), TRUE)"
    mangrove = "xm.mangrove_lum_dist > 0"
    gaia_star = ("xm.gaiadr3_DR3Name NOT IN ('Unknown', 'Fail', 'nan', '') "
                 "AND xm.gaiadr3_Plx / xm.gaiadr3_e_Plx > 5")
    vsx_star = f"xm.vsx_Type IN ({', '.join(VSX_STAR)})"
    flags = " OR ".join(f"diaSource.{f}" for f in FLAGS)
    good = (f"NOT coalesce({flags}, FALSE)", "diaSource.psfFlux >= 0", "diaSource.psfFlux / diaSource.psfFluxErr >= 6")
    outside20 = f"abs({SIN_B}) > sin(radians(20.0))"
    legacy = f"coalesce(xm.legacydr8_zphot > 0 AND ({unknown} OR coalesce({galaxy}, FALSE)), FALSE)"
    common = good + (outside20, "NOT coalesce(pred.is_sso, FALSE)",
                     f"NOT coalesce({gaia_star}, FALSE) AND NOT coalesce({vsx_star}, FALSE)")
    hosts = f"coalesce({galaxy}, FALSE) OR coalesce({mangrove}, FALSE) OR {legacy}"
    return {
        "b_is_solar_system": (("pred.is_sso",), "Alerts from solar-system objects"),
        "b_outside_galactic_plane_20_deg": ((outside20,), "Alerts outside the Galactic plane (|b| > 20 deg)"),
        "b_outside_galactic_plane_5_deg": ((f"abs({SIN_B}) > sin(radians(5.0))",),
                                           "Alerts outside the Galactic plane (|b| > 5 deg)"),
        "b_xmatched_simbad_galaxy": ((galaxy,), "Cross-matched with a SIMBAD galaxy (extragalactic host)"),
        "b_xmatched_simbad_unknown": ((unknown,), "No SIMBAD counterpart"),
        "b_xmatched_mangrove": ((mangrove,), "Cross-matched with a Mangrove galaxy"),
        "b_xmatched_gaia_star": ((gaia_star,), "Cross-matched with a Gaia DR3 star (Plx/e_Plx > 5)"),
        "b_xmatched_vsx_star": ((vsx_star,), "Cross-matched with a VSX variable star"),
        "b_xmatched_vsx": ((f"xm.vsx_Type IN ({', '.join(VSX_STAR + VSX_OTHER)})",), "Cross-matched with VSX"),
        "b_is_rising": ((_versus_mean(">"),), "Flux above the object's mean in this band"),
        "b_is_fading": ((_versus_mean("<"),), "Flux below the object's mean in this band"),
        "b_is_new": (("diaSource.midpointMjdTai = misc.firstDiaSourceMjdTaiFink",), "First detection of the object"),
        "b_good_quality": (good, "No bad flags, positive flux, SNR >= 6"),
        "b_extragalactic_loose_candidate": (common + (f"{hosts} OR {unknown}",),
                                            "Loose extragalactic transient candidate"),
        "b_extragalactic_near_galaxy_candidate": (common + (hosts,), "Extragalactic transient near a known galaxy"),
    }


def _filters(blocks) -> dict[str, tuple[tuple[str, ...], str]]:
    b = {k: v[0] for k, v in blocks.items()}
    good = " AND ".join(f"coalesce({p}, FALSE)" for p in b["b_good_quality"])
    negated_quality = f"NOT ({good} AND NOT coalesce(diaSource.isNegative, FALSE))"
    return {
        "in_tns": (("xm.tns_fullname IS NOT NULL",), "Alerts with a TNS counterpart"),
        "uniform_sample": (("diaSourceId % 113 = 0",), "A uniform 1/113 sample of alerts"),
        "hostless_candidate": (b["b_good_quality"] + ("clf.elephant_kstest_template < 0.95",)
                               + b["b_outside_galactic_plane_20_deg"] + (f"{MAG} <= 21.5",),
                               "Hostless transient candidates (ELEPHANT)"),
        "extragalactic_lt20mag_candidate": (
            b["b_extragalactic_loose_candidate"] + (f"{MAG} < 20",) + b["b_is_rising"]
            + ("diaObject.nDiaSources > 4", f"{AGE} > 1"), "Rising extragalactic candidates brighter than 20 mag"),
        "extragalactic_svom": (b["b_extragalactic_near_galaxy_candidate"] + (f"{AGE} < 5", f"{MAG} < 24"),
                               "Young extragalactic candidates near a galaxy (SVOM)"),
        "most_likely_sn": (
            ("diaSource.snr > 10", "diaObject.nDiaSources >= 2", "clf.snnSnVsOthers_score >= 0.7",
             "clf.cats_class = 11", "clf.cats_score >= 0.9", "NOT coalesce(pred.is_sso, FALSE)", negated_quality),
            "Most likely supernovae (SNN and CATS), as written in fink-filters"),
        "remove_unlikely_transients": (
            ("NOT coalesce(pred.is_sso, FALSE)", "diaSource.snr > 10", "diaObject.nDiaSources >= 2", negated_quality),
            "Drop unlikely transients, as written in fink-filters"),
    }


@lru_cache(maxsize=None)
def catalog() -> dict[str, FinkFilter]:
    with open(YIELDS) as fh:
        yields = {r["name"].strip(): float(r["yield"]) for r in csv.DictReader(fh)}
    blocks = _blocks()
    out = {name: FinkFilter(name, parts, doc, "filter", yields.get(name, 1.0))
           for name, (parts, doc) in _filters(blocks).items()}
    out.update({name: FinkFilter(name, parts, doc, "block", yields.get(name, 1.0))
                for name, (parts, doc) in blocks.items()})
    return out
