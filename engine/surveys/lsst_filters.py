"""The Rubin Fink filters and ``b_*`` blocks as condition expressions (research/lsst_transfer.md §3,
fink-filters ``rubin/blocks.py`` and ``rubin/livestream``), with the portal's measured yields.

m = 31.4 - 2.5 log10(psfFlux [nJy]) (NULL for psfFlux <= 0, so every magnitude cut fails, as
the NaN of the real code). Age = midpointMjdTai - misc.firstDiaSourceMjdTaiFink. The latest
earlier source of the alert's band is a lambda over ``prvDiaSources`` with no later one
(``LATEST_SAME_BAND``); the luminosity distance of sn_near_galaxy_candidate is flat LambdaCDM
by Simpson's rule (``_distance_modulus``); b_mag_rate_mc_sampling is the expectation of its
Monte-Carlo estimate (``MC_RATE``). mdwarf_flare's airmass at Cerro Pachon is closed-form
spherical astronomy (``AIRMASS_COS_Z``: IAU 1976 precession and GMST; astropy's ``AltAz`` secz
within 2e-4 below airmass 1.5, 1e-3 below 3, tests/test_fink_filters.py), its per-band median
``templateFlux`` (numpy's, even counts averaged) is bound by order-statistic lambdas
(``_quiescent_colour_fails``).

Not offered (fink-filters 7.40, ``rubin/livestream``):

* faint_trails: its last cut is the elongation (> 2) of the source measured on the decoded FITS
  science cutout (``compute_elongation_from_image``): image analysis, no column holds it.
"""

from __future__ import annotations

import csv
import math
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


def _per_band(template: str, default: str = "FALSE") -> str:
    """``CASE WHEN diaSource.band = 'u' THEN <template with {b} = u> ... ELSE default END``."""
    whens = " ".join(f"WHEN diaSource.band = '{b}' THEN {template.format(b=b)}" for b in BANDS)
    return f"CASE {whens} ELSE {default} END"


def _mag(flux: str) -> str:
    return f"(31.4 - 2.5 * log10({flux}))"


def _distance_modulus(z: str, steps: int = 32) -> str:
    """5 log10(D_L / 10 pc) of flat LambdaCDM, H0 = 70, Om0 = 0.3 (fink-filters ``obs_to_abs_mag``,
    astropy's FlatLambdaCDM without radiation): the comoving integral by Simpson's rule on
    ``steps`` intervals, within 1e-5 mag of astropy up to z = 5 (tests/test_fink_filters.py)."""
    terms = []
    for k in range(steps + 1):
        w = 1 if k in (0, steps) else (4 if k % 2 else 2)
        x = f"(1 + {k / steps!r} * {z})"
        terms.append(f"{w} / sqrt(0.3 * {x} * {x} * {x} + 0.7)")
    integral = f"({z} / {3 * steps} * ({' + '.join(terms)}))"
    # D_L [pc] = (1 + z) c / H0 * integral; c / H0 = 299792.458 / 70 Mpc
    return f"(5 * log10((1 + {z}) * {299792.458 / 70 * 1e6 / 10!r} * {integral}))"


def _versus_mean(op: str) -> str:
    """Per band: |psfFlux - mean| > mean error and psfFlux <op> mean (b_is_rising / b_is_fading)."""
    return _per_band(f"abs(diaSource.psfFlux - diaObject.{{b}}_psfFluxMean) > diaObject.{{b}}_psfFluxMeanErr "
                     f"AND diaSource.psfFlux {op} diaObject.{{b}}_psfFluxMean")


# The latest earlier detection in the alert's band (fink-filters get_latest_source_same_band): a
# previous source x of that band with no later one of that band.
LATEST_SAME_BAND = ("x.band = diaSource.band AND NOT exists(prvDiaSources, y -> y.band = diaSource.band "
                    "AND y.midpointMjdTai > x.midpointMjdTai)")
RATE = f"(({MAG} - {_mag('x.psfFlux')}) / (diaSource.midpointMjdTai - x.midpointMjdTai))"   # mag/day
# fink-filters extract_max_flux: the largest {b}_psfFluxMax over the bands, NaN skipped (pandas max)
MAX_FLUX = "greatest({})".format(", ".join(f"if(isnan(diaObject.{b}_psfFluxMax), NULL, diaObject.{b}_psfFluxMax)"
                                           for b in "giruzy"))
# b_mag_rate_mc_sampling: the flux rate against that source and its spread. The real block draws
# 1000 unseeded normal samples of both fluxes (fink-filters compute_mc_sampling_flux_rate) and
# takes their mean and standard deviation: estimates of exactly these two (a difference of two
# Gaussians is Gaussian), so this is the value its draws scatter around (+-3 % of the spread).
DT = "(diaSource.midpointMjdTai - x.midpointMjdTai)"
FLUX_RATE = f"((diaSource.psfFlux - x.psfFlux) / {DT})"   # nJy/day
FLUX_RATE_STD = f"(sqrt(diaSource.psfFluxErr * diaSource.psfFluxErr + x.psfFluxErr * x.psfFluxErr) / abs({DT}))"
# -0.3 mag/day (brightening) as a flux rate at the current flux: (ln 10 / 2.5) * 0.3 * psfFlux
MC_RATE = (f"diaSource.psfFlux > 0 AND exists(prvDiaSources, x -> {LATEST_SAME_BAND} AND {FLUX_RATE} > "
           f"{math.log(10) / 2.5 * 0.3!r} * diaSource.psfFlux AND abs({FLUX_RATE}) / ({FLUX_RATE_STD} + 1e-10) > 3)")
GAIA_STAR = "xm.gaiadr3_DR3Name NOT IN ('Unknown', 'Fail', 'nan', '') AND xm.gaiadr3_Plx / xm.gaiadr3_e_Plx > 5"
NOT_GAIA_STAR = f"NOT coalesce({GAIA_STAR}, FALSE)"
ZPHOT = "xm.legacydr8_zphot"
PEAK_ABS_MAG = f"({_mag(MAX_FLUX)} - {_distance_modulus(ZPHOT)})"


# mdwarf_flare's airmass (fink-filters coord_to_airmass: astropy AltAz secz at "Cerro Pachon", no
# refraction): cos z = sin(lat) sin(dec_date) + cos(lat) cos(dec_date) cos(LST - ra_date). The
# position of date is ICRS precessed (IAU 1976 zeta, z, theta); with A, B, C its rotated
# components, cos(dec_date) cos(H) = B cos(LST - z) + A sin(LST - z), so no atan2 is needed. LST
# is GMST (IAU 1982, UT1 taken as TAI - 37 s) plus the east longitude. Left out: nutation
# (<= 17"), annual aberration (<= 20"), UT1 - UTC (< 0.9 s): below 1e-3 in secz at 1.3.
PACHON_LAT, PACHON_LON = -30.24075, -70.736693   # astropy's "Cerro Pachon" site (degrees)
_MJD = "diaSource.midpointMjdTai"
_T = f"(({_MJD} - 51544.5) / 36525)"                    # Julian centuries from J2000 (TT ~ TAI)
_ZETA = f"radians((2306.2181 * {_T} + 0.30188 * {_T} * {_T}) / 3600)"
_ZA = f"radians((2306.2181 * {_T} + 1.09468 * {_T} * {_T}) / 3600)"
_THETA = f"radians((2004.3109 * {_T} - 0.42665 * {_T} * {_T}) / 3600)"
_GMST = f"(280.46061837 + 360.98564736629 * ({_MJD} - {37 / 86400!r} - 51544.5) + 0.000387933 * {_T} * {_T})"
_RA = f"(radians(diaSource.ra) + {_ZETA})"
_DEC = "radians(diaSource.dec)"
_A = f"(cos({_DEC}) * sin({_RA}))"
_B = f"(cos({_THETA}) * cos({_DEC}) * cos({_RA}) - sin({_THETA}) * sin({_DEC}))"
_C = f"(sin({_THETA}) * cos({_DEC}) * cos({_RA}) + cos({_THETA}) * sin({_DEC}))"
_LST = f"(radians({_GMST} + {PACHON_LON!r}) - {_ZA})"
AIRMASS_COS_Z = (f"({math.sin(math.radians(PACHON_LAT))!r} * {_C} + {math.cos(math.radians(PACHON_LAT))!r} "
                 f"* ({_B} * cos({_LST}) + {_A} * sin({_LST})))")


def _band_fluxes(b: str) -> str:
    """The earlier sources of band b with a templateFlux (fink-filters quiescent_colors skips None)."""
    return f"filter(prvDiaSources, s -> s.band = '{b}' AND s.templateFlux IS NOT NULL)"


def _is_median_end(var: str, b: str, lower: bool) -> str:
    """``var`` is the lower (upper) median of band b's templateFlux: of the n values, fewer than
    n/2 (at most n/2) lie below it and at most n/2 (fewer than n/2) above it."""
    arr, n = _band_fluxes(b), f"size({_band_fluxes(b)})"
    below = f"2e0 * size(filter({arr}, y -> y.templateFlux < {var}.templateFlux))"
    above = f"2e0 * size(filter({arr}, y -> y.templateFlux > {var}.templateFlux))"
    return f"{below} {'<' if lower else '<='} {n} AND {above} {'<=' if lower else '<'} {n}"


def _quiescent_colour_fails() -> str:
    """True when the quiescent colours exist and fail (r-i > 0.53 and i-z > 0.3 not both true).
    The median of band b is (lo + hi) / 2 (numpy's median) with lo, hi bound by nested filters;
    a colour exists when each band has a source, no NaN flux (numpy's median would be NaN) and
    a positive median (flux_to_apparent_mag is NaN at <= 0)."""
    med = {b: f"((lo{b}.templateFlux + hi{b}.templateFlux) / 2)" for b in "riz"}
    # m_r - m_i > 0.53 <=> F_r < 10^(-0.53 / 2.5) F_i for positive fluxes (no log10 to render)
    cut = (f"{med['r']} > 0 AND {med['i']} > 0 AND {med['z']} > 0 AND NOT ({med['r']} < {10 ** (-0.53 / 2.5)!r} "
           f"* {med['i']} AND {med['i']} < {10 ** (-0.3 / 2.5)!r} * {med['z']})")
    # size(filter(...)) > 0, not exists (whose rendering repeats its body: 3^6 nested copies),
    # and if(), not AND, so the inner levels only run for the one or two median elements (DuckDB
    # evaluates both sides of an AND in a lambda, only the taken branch of a CASE)
    for b in "zir":
        hi = f"size(filter({_band_fluxes(b)}, hi{b} -> if({_is_median_end(f'hi{b}', b, False)}, {cut}, FALSE))) > 0"
        cut = f"size(filter({_band_fluxes(b)}, lo{b} -> if({_is_median_end(f'lo{b}', b, True)}, {hi}, FALSE))) > 0"
    nan = "exists(prvDiaSources, s -> s.band IN ('r', 'i', 'z') AND isnan(s.templateFlux))"
    return f"NOT coalesce({nan}, FALSE) AND {cut}"


def _blocks() -> dict[str, tuple[tuple[str, ...], str]]:
    galaxy = f"xm.simbad_otype IN ({', '.join(GALAXY)})"
    unknown = f"coalesce(xm.simbad_otype IN ({', '.join(UNKNOWN)}), TRUE)"
    mangrove = "xm.mangrove_lum_dist > 0"
    gaia_star = GAIA_STAR
    vsx_star = f"xm.vsx_Type IN ({', '.join(VSX_STAR)})"
    flags = " OR ".join(f"diaSource.{f}" for f in FLAGS)
    good = (f"NOT coalesce({flags}, FALSE)", "diaSource.psfFlux >= 0", "diaSource.psfFlux / diaSource.psfFluxErr >= 6")
    outside20 = f"abs({SIN_B}) > sin(radians(20.0))"
    legacy = f"coalesce(xm.legacydr8_zphot > 0 AND ({unknown} OR coalesce({galaxy}, FALSE)), FALSE)"
    common = good + (outside20, "NOT coalesce(pred.is_sso, FALSE)", NOT_GAIA_STAR, f"NOT coalesce({vsx_star}, FALSE)")
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
        "b_mag_rate_mc_sampling": ((MC_RATE,), "Brightening faster than 0.3 mag/day against the last same-band "
                                               "source, rate SNR > 3 (the expectation of the Monte-Carlo block)"),
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
        "extragalactic_new_candidate": (
            b["b_extragalactic_near_galaxy_candidate"] + (
                f"{AGE} < 5", f"{MAG} < 24", _per_band("diaObject.{b}_psfFluxNdata >= 2"),
                f"exists(prvDiaSources, x -> {LATEST_SAME_BAND} AND ({RATE} < -0.2 AND {AGE} < 3 "
                f"OR diaSource.band IN ('r', 'i') AND {RATE} > 0.2 OR diaSource.band IN ('g', 'u') AND {RATE} > 0.5))"),
            "New (< 5 days) extragalactic candidates near a galaxy, brighter than 24 mag, rising or fading fast"),
        "fast_transient_gvom": (
            # as written in fink-filters: its call passes gaiadr3_e_Plx as gaiadr3_Plx, so the Gaia-star
            # exclusion (e_Plx / e_Plx > 5) never applies
            tuple(p for p in b["b_extragalactic_loose_candidate"] if p != NOT_GAIA_STAR)
            + (f"{AGE} < 5", f"{MAG} < 21") + b["b_mag_rate_mc_sampling"],
            "Young, bright (m < 21), fast-brightening extragalactic candidates (GVOM)"),
        "sn_near_galaxy_candidate": (
            b["b_extragalactic_near_galaxy_candidate"] + (
                "diaObject.nDiaSources > 5", f"{ZPHOT} > 0 AND NOT isnan({ZPHOT})",
                f"{PEAK_ABS_MAG} > -23", f"{PEAK_ABS_MAG} < -13"),
            "Near a galaxy, peak absolute magnitude (photo-z) of a supernova"),
        "mdwarf_flare": (
            (f"NOT coalesce({b['b_is_new'][0]}, FALSE) OR {GAIA_STAR}",) + b["b_good_quality"] + (
                "diaSource.band IN ('u', 'g')", f"NOT coalesce({_quiescent_colour_fails()}, FALSE)",
                f"{AIRMASS_COS_Z} > 0 AND 1.3 * {AIRMASS_COS_Z} < 1",
                "diaSource.templateFlux > 0 AND diaSource.psfFlux / diaSource.templateFlux >= 0.10",
                f"NOT coalesce(exists(prvDiaSources, s -> ({_MJD} - s.midpointMjdTai) * 24 >= 4 "
                f"AND ({_MJD} - s.midpointMjdTai) * 24 <= 48), FALSE)"),
            "M-dwarf flare candidates in u or g at airmass > 1.3 (DCR temperature inference)"),
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
