"""The ZTF livestream filters (fink-filters ``ztf/livestream``) as condition expressions, with
the Jan-Jun 2025 coefficients of the ZTF portal. Not offered (they need the cutouts or
external catalogues): the hostless, kilonova, yso, simbad_grav and magnetic_cvs filters."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from engine.fink_filters import FinkFilter

COEFFS = Path(__file__).resolve().parent / "data" / "ztf_ffilters_2025_01_to_06_coeffs.parquet"
HOSTS = ("'Unknown'", "'Candidate_EB*'", "'Galaxy'", "'G'", "'GinCl'", "'GinGroup'", "'GinPair'", "'SN'",
         "'Seyfert'", "'Seyfert_1'", "'Seyfert_2'", "'LINER'", "'QSO'", "'AGN'", "'AGN_Candidate'",
         "'Candidate_SN*'", "'SN*_Candidate'", "'EmG'", "'BClG'", "'PartofG'", "'RadioG'", "'IG'")
SNN = "(snn_snia_vs_nonia > 0.5 OR snn_sn_vs_all > 0.5)"
CUTS = f"cdsxmatch IN ({', '.join(HOSTS)}) AND candidate.drb > 0.5 AND candidate.classtar > 0.4"

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
    "early_sn_candidates": ("filter_early_sn_candidates.filter.early_sn_candidates",
                            f"{SNN} AND {CUTS} AND rf_snia_vs_nonia > 0.5 AND candidate.ndethist <= 20",
                            "Early SN Ia candidates"),
}


@lru_cache(maxsize=None)
def catalog() -> dict[str, FinkFilter]:
    import pyarrow.parquet as pq

    table = pq.read_table(COEFFS).to_pydict()
    coeffs = {f.split("fink_filters.ztf.livestream.", 1)[-1]: c for f, c in zip(table["filter"], table["coeff"])}
    return {name: FinkFilter(name, (expr,), doc, "filter", coeffs.get(module, 1.0))
            for name, (module, expr, doc) in FILTERS.items()}
