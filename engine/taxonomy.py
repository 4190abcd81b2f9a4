"""The one place for class labels: Fink classes, SIMBAD labels (old/new), TNS types, ELASTICC classIds.

Labels in a job's class list follow the real portal: plain Fink classes (``SN candidate``),
``(SIMBAD) <otype>`` (matched on ``finkclass`` with the prefix stripped, because a SIMBAD match
makes the SIMBAD type the Fink class), ``(TNS) <type>`` (matched verbatim on ``tnsclass``,
whose values carry the ``(TNS) `` prefix as in the real transfer output), ``allclasses``.
ELASTICC classes are classIds (``111`` or ``111: SN Ia``), matched on ``classId``.
Data files (copied from the portal assets and fink-utils) live in ``engine/taxonomy_data``.
"""

from __future__ import annotations

import csv
import datetime as dt
from functools import lru_cache
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "taxonomy_data"

ALL_CLASSES = "allclasses"
UNKNOWN = "Unknown"
SIMBAD_PREFIX = "(SIMBAD) "
TNS_PREFIX = "(TNS) "

# Fink classes produced by the classification rules (plus SLSN candidate, listed by the portal).
FINK_CLASSES = (
    "Unknown", "Early SN Ia candidate", "SN candidate", "Kilonova candidate", "SLSN candidate",
    "Microlensing candidate", "Tracklet", "Solar System MPC", "Solar System candidate", "Ambiguous",
)

# SIMBAD types that are no "real" counterpart: the Fink class is decided by the science modules.
SIMBAD_NON_MATCH = ("Unknown", "Transient", "Fail", "Fail 504")

# Extragalactic/unknown hosts allowed for SN/KN candidates (fink_utils.xmatch.simbad.return_list_of_eg_host).
EG_HOSTS = (
    "Unknown", "Candidate_SN*", "SN*_Candidate", "SN", "Transient", "Fail", "Fail 504",
    "galaxy", "Galaxy", "EmG", "Seyfert", "Seyfert_1", "Seyfert_2", "BlueCompG", "StarburstG",
    "LSB_G", "HII_G", "High_z_G", "GinPair", "GinGroup", "BClG", "GinCl", "PartofG",
    "Compact_Gr_G", "IG", "PairG", "GroupG", "ClG", "SuperClG", "Void", "LINER", "Possible_ClG",
    "Possible_SClG", "GravLens_Candidate",
)

# Since mid-2022 SIMBAD returns the new labels (Fink did not rewrite older alerts).
SIMBAD_NEW_LABELS_FROM = dt.date(2022, 7, 1)

ELASTICC_V1_NAMES = {
    111: "SN Ia", 112: "SN Ib/c", 113: "SN II", 114: "SN Iax", 115: "SN Ia-91bg",
    121: "KN", 122: "M-dwarf flare", 123: "Dwarf nova", 124: "uLens",
    131: "SLSN", 132: "TDE", 133: "ILOT", 134: "CART", 135: "PISN",
    211: "Cepheid", 212: "RR Lyrae", 213: "Delta Scuti", 214: "EB", 215: "LPV/Mira", 221: "AGN",
}


def _lines(name: str) -> list[str]:
    return [ln.strip() for ln in (DATA_DIR / name).read_text().splitlines() if ln.strip()]


@lru_cache(maxsize=None)
def simbad_old_new() -> dict[str, str]:
    """SIMBAD old label -> new label (CDS otypes table shipped by fink-utils)."""
    table = {}
    for ln in _lines("simbad_otypes_old_new_labels.txt"):
        parts = [p.strip() for p in ln.strip("|").split("|")]
        if len(parts) == 3 and parts[0] != "otype" and not ln.startswith("-"):
            table[parts[1]] = parts[2]
    # transitional spellings seen in 2022 (fclass coeffs): Candidate_X -> X_Candidate
    return table


@lru_cache(maxsize=None)
def simbad_new_old() -> dict[str, str]:
    return {new: old for old, new in simbad_old_new().items() if new != old}


@lru_cache(maxsize=None)
def tns_types() -> tuple[str, ...]:
    return tuple(_lines("tns_types.csv"))


@lru_cache(maxsize=None)
def class_frequencies() -> dict[str, float]:
    """Real fraction of processed alerts per final label, June-August 2022 (238 labels, sum 1)."""
    import pyarrow.parquet as pq

    t = pq.read_table(DATA_DIR / "fclass_2022_060708_coeffs.parquet", columns=["fclass", "coeff"])
    return dict(zip(t.column("fclass").to_pylist(), t.column("coeff").to_pylist()))


@lru_cache(maxsize=None)
def simbad_labels() -> tuple[str, ...]:
    """Every SIMBAD label old and new (portal list + otypes table + labels seen in the coeffs)."""
    labels = set(_lines("simbad_types.csv"))
    for old, new in simbad_old_new().items():
        labels.update((old, new))
    for label in class_frequencies():
        if label not in FINK_CLASSES and not label.startswith(TNS_PREFIX):
            labels.add(label)
    return tuple(sorted(lb for lb in labels if is_simbad_match(lb)))


def is_simbad_match(label: str) -> bool:
    """True if this cdsxmatch value is a real SIMBAD counterpart (then it becomes the Fink class)."""
    return not (label in SIMBAD_NON_MATCH or label.startswith("Fail") or label.startswith("Galaxy"))


def simbad_label_for_night(label: str, night: dt.date) -> str:
    """The spelling SIMBAD returned on that night: old labels before mid-2022, new ones from 2023."""
    if night < SIMBAD_NEW_LABELS_FROM:
        return simbad_new_old().get(label, label)
    if night.year >= 2023:
        return simbad_old_new().get(label, label)
    return label  # second half of 2022: both spellings, as in the real coeffs


@lru_cache(maxsize=None)
def elasticc_class_counts() -> dict[int, int]:
    """Alert counts per truth classId in Fink's ELASTICC v1 lake."""
    with open(DATA_DIR / "elasticc_v1_classes.csv") as fh:
        return {int(r["classId"]): int(r["count"]) for r in csv.DictReader(fh)}


@lru_cache(maxsize=None)
def elasticc_night_counts() -> dict[str, int]:
    """Alert counts per (simulated) night of ELASTICC v1, keyed YYYY-MM-DD."""
    with open(DATA_DIR / "elasticc_v1_dates.csv") as fh:
        out = {}
        for r in csv.DictReader(fh):
            d = r["date"]
            out[f"{d[:4]}-{d[4:6]}-{d[6:]}"] = int(r["count"])
        return dict(sorted(out.items()))


def class_options(survey: str) -> dict[str, list[str]]:
    """Labels for the UI multiselect, grouped as in the real portal (declared per survey)."""
    from engine import surveys

    return surveys.get(survey).class_options()


def split_class_selection(labels: list[str] | tuple[str, ...], survey: str | None = None):
    """Selected labels -> (finkclass values, tnsclass values); ``None`` means no class filter.

    The rules are the survey's (``engine.surveys.<survey>.split_class_selection``): ZTF
    ``(SIMBAD) x`` -> finkclass ``x``, ``(TNS) x`` -> tnsclass; ELASTICC classIds. A row matches
    if finkclass OR tnsclass matches. An unknown label is a UserError, so a typo never silently
    selects nothing.
    """
    from engine import surveys

    labels = [str(lb).strip() for lb in labels if str(lb).strip()]
    return surveys.get(survey or surveys.DEFAULT).split_class_selection(labels)
