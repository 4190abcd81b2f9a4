"""``finkclass`` and ``tnsclass`` per the real Fink rules, vectorised over Arrow record batches.

Shared by the Spark path (inside mapInArrow) and the single-machine path, so both select the
same rows. Rules (fink-filters ``extract_fink_classification``, data.md section 4): start with
``Unknown``; overwrite in order Microlensing -> SN -> Early SN Ia -> Kilonova -> Solar System
candidate -> Tracklet -> Solar System MPC; ``Ambiguous`` if more than one of {microlensing,
SN, roid==2, roid==3}; finally a real SIMBAD match makes the class the SIMBAD type itself.
``tnsclass`` = ``"(TNS) <type>"`` of the nearest TNS entry within 1.5 arcsec, else ``Unknown``
(the value format of the real transfer output). ELASTICC: ``finkclass`` = classId as a string
(the real service filters ELASTICC by classId), ``tnsclass`` = ``Unknown``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine import taxonomy

TNS_RADIUS_ARCSEC = 1.5
CLASS_COLUMNS = ("finkclass", "tnsclass")

# Order of the Fink classes in the index arrays below (0 = Unknown).
_LABELS = ["Unknown", "Microlensing candidate", "SN candidate", "Early SN Ia candidate",
           "Kilonova candidate", "Solar System candidate", "Tracklet", "Solar System MPC", "Ambiguous"]


# --------------------------------------------------------------------------- TNS catalogue

@dataclass
class TnsCatalog:
    """TNS positions sorted by declination, with their ``(TNS) <type>`` labels."""

    ra: np.ndarray
    dec: np.ndarray
    labels: np.ndarray  # object array of "(TNS) <type>"

    @classmethod
    def empty(cls) -> "TnsCatalog":
        return cls(np.zeros(0), np.zeros(0), np.zeros(0, dtype=object))

    @classmethod
    def from_arrays(cls, ra, dec, types) -> "TnsCatalog":
        ra, dec = np.asarray(ra, dtype=float), np.asarray(dec, dtype=float)
        labels = np.array([t if str(t).startswith(taxonomy.TNS_PREFIX) else taxonomy.TNS_PREFIX + str(t)
                           for t in types], dtype=object)
        order = np.argsort(dec, kind="stable")
        return cls(ra[order], dec[order], labels[order])

    def __len__(self) -> int:
        return len(self.ra)

    def match(self, ra: np.ndarray, dec: np.ndarray, radius_arcsec: float = TNS_RADIUS_ARCSEC) -> np.ndarray:
        """Index of the nearest catalogue entry within the radius for each position, -1 if none."""
        n = len(ra)
        out = np.full(n, -1, dtype=np.int64)
        if n == 0 or len(self) == 0:
            return out
        r = radius_arcsec / 3600.0
        ok = np.isfinite(ra) & np.isfinite(dec)
        lo = np.searchsorted(self.dec, np.where(ok, dec - r, np.inf), side="left")
        hi = np.searchsorted(self.dec, np.where(ok, dec + r, -np.inf), side="right")
        counts = np.clip(hi - lo, 0, None)
        total = int(counts.sum())
        if total == 0:
            return out
        alert = np.repeat(np.arange(n), counts)
        starts = np.repeat(np.cumsum(counts) - counts, counts)
        cat = np.repeat(lo, counts) + (np.arange(total) - starts)
        dra = (ra[alert] - self.ra[cat] + 180.0) % 360.0 - 180.0
        dra *= np.cos(np.radians(dec[alert]))
        sep = np.hypot(dra, dec[alert] - self.dec[cat])
        hit = sep <= r
        alert, cat, sep = alert[hit], cat[hit], sep[hit]
        order = np.lexsort((sep, alert))  # nearest first per alert
        alert, cat = alert[order], cat[order]
        first = np.ones(len(alert), dtype=bool)
        first[1:] = alert[1:] != alert[:-1]
        out[alert[first]] = cat[first]
        return out


def load_tns_catalog(archive_dir) -> TnsCatalog:
    """The archive's TNS dump ``_catalogs/tns.parquet`` (ra, declination, type); empty if absent."""
    path = Path(archive_dir) / "_catalogs" / "tns.parquet"
    if not path.exists():
        return TnsCatalog.empty()
    import pyarrow.parquet as pq

    t = pq.read_table(path)
    dec_col = "declination" if "declination" in t.column_names else "dec"
    return TnsCatalog.from_arrays(t.column("ra").to_numpy(zero_copy_only=False),
                                  t.column(dec_col).to_numpy(zero_copy_only=False),
                                  t.column("type").to_pylist())


# --------------------------------------------------------------------------- helpers

def _floats(arr) -> np.ndarray:
    """Arrow numeric array -> float64 numpy, nulls as NaN (NaN comparisons are False, as in pandas)."""
    if arr is None:
        return None
    return pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)


def _column(batch: pa.RecordBatch, name: str):
    i = batch.schema.get_field_index(name)
    return batch.column(i) if i >= 0 else None


def _candidate_field(batch: pa.RecordBatch, name: str):
    cand = _column(batch, "candidate")
    if cand is not None:
        return pc.struct_field(cand, name)
    return _column(batch, name)  # flattened content (e.g. a lightcurve projection)


def mulens_as_double(arr) -> pa.Array:
    """Unify ``mulens``: the 2019-2021 struct {class_1, ml_score_1, class_2, ml_score_2} -> double.

    Rule (documented in docs/archive.md): the mean of the two LIA scores when both bands are
    classified ``ML`` (the old Fink microlensing criterion), else 0.0; a null struct stays null.
    Doubles pass through. So ``mulens > 0`` selects the same alerts in every era.
    """
    if arr is None:
        return None
    if isinstance(arr, pa.ChunkedArray):
        return pa.chunked_array([mulens_as_double(c) for c in arr.chunks], type=pa.float64())
    if not pa.types.is_struct(arr.type):
        return pc.cast(arr, pa.float64())
    c1 = pc.struct_field(arr, "class_1")
    c2 = pc.struct_field(arr, "class_2")
    s1 = pc.fill_null(pc.cast(pc.struct_field(arr, "ml_score_1"), pa.float64()), 0.0)
    s2 = pc.fill_null(pc.cast(pc.struct_field(arr, "ml_score_2"), pa.float64()), 0.0)
    both = pc.fill_null(pc.and_(pc.equal(c1, "ML"), pc.equal(c2, "ML")), False)
    value = pc.if_else(both, pc.divide(pc.add(s1, s2), 2.0), 0.0)
    return pc.if_else(arr.is_valid(), value, pa.scalar(None, pa.float64()))


def _labels_from_codes(codes: np.ndarray, dictionary: list[str]) -> pa.Array:
    d = pa.DictionaryArray.from_arrays(pa.array(codes, type=pa.int32()), pa.array(dictionary, type=pa.string()))
    return d.dictionary_decode()


# --------------------------------------------------------------------------- classification

def fink_class_codes(batch: pa.RecordBatch) -> tuple[np.ndarray, list[str]]:
    """Vectorised extract_fink_classification: (codes, dictionary) for every row of a ZTF batch."""
    n = batch.num_rows
    cds = _column(batch, "cdsxmatch")
    if cds is None:
        cds = pa.nulls(n, pa.string())
    enc = pc.dictionary_encode(pc.fill_null(pc.cast(cds, pa.string()), "Unknown"))
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    cds_values = enc.dictionary.to_pylist()
    cds_idx = enc.indices.to_numpy(zero_copy_only=False)
    eg = set(taxonomy.EG_HOSTS)
    in_host = np.array([v in eg for v in cds_values], dtype=bool)[cds_idx] if cds_values else np.zeros(n, bool)
    simbad = np.array([taxonomy.is_simbad_match(v) for v in cds_values], dtype=bool)
    simbad_row = simbad[cds_idx] if cds_values else np.zeros(n, bool)

    def f(name, default=np.nan):
        col = _column(batch, name)
        return np.full(n, default) if col is None else _floats(col)

    roid = f("roid")
    mulens = _floats(mulens_as_double(_column(batch, "mulens"))) if _column(batch, "mulens") is not None else np.full(n, np.nan)
    snn = (f("snn_snia_vs_nonia") > 0.5) | (f("snn_sn_vs_all") > 0.5)
    rf_snia = f("rf_snia_vs_nonia")
    rf_kn = f("rf_kn_vs_nonkn")
    ndethist = _floats(_candidate_field(batch, "ndethist"))
    drb = _floats(_candidate_field(batch, "drb"))
    classtar = _floats(_candidate_field(batch, "classtar"))
    jd = _floats(_candidate_field(batch, "jd"))
    jdstarthist = _floats(_candidate_field(batch, "jdstarthist"))
    age = jd - jdstarthist
    tracklet_col = _column(batch, "tracklet")
    if tracklet_col is None:
        tracklet = np.zeros(n, bool)
    else:
        tracklet = pc.fill_null(pc.starts_with(pc.cast(tracklet_col, pa.string()), "TRCK_"), False).to_numpy(zero_copy_only=False)

    with np.errstate(invalid="ignore"):
        good = in_host & (drb > 0.5) & (classtar > 0.4)
        f_mulens = mulens > 0
        f_sn = snn & good & (age <= 90) & (ndethist > 1) & (roid != 3)
        f_early = snn & good & (ndethist <= 20) & (rf_snia > 0.5)
        f_kn = (rf_kn > 0.5) & good & (age < 5) & (ndethist < 20) & (roid != 3)
        f_ssc = roid == 2
        f_mpc = roid == 3

    codes = np.zeros(n, dtype=np.int32)
    for code, flag in ((1, f_mulens), (2, f_sn), (3, f_early), (4, f_kn), (5, f_ssc), (6, tracklet), (7, f_mpc)):
        codes[flag] = code
    nflags = f_mulens.astype(np.int8) + f_sn + f_ssc + f_mpc
    codes[nflags > 1] = 8
    dictionary = list(_LABELS)
    base = len(dictionary)
    dictionary += cds_values
    codes = np.where(simbad_row, base + cds_idx, codes).astype(np.int32)
    return codes, dictionary


def fink_classes(batch: pa.RecordBatch) -> pa.Array:
    """The ``finkclass`` string column of a ZTF batch."""
    codes, dictionary = fink_class_codes(batch)
    return _labels_from_codes(codes, dictionary)


def tns_classes(batch: pa.RecordBatch, tns: TnsCatalog | None) -> pa.Array:
    """The ``tnsclass`` column: ``(TNS) <type>`` of the nearest entry within 1.5 arcsec, else Unknown."""
    n = batch.num_rows
    if tns is None or len(tns) == 0 or n == 0:
        return _labels_from_codes(np.zeros(n, np.int32), ["Unknown"])
    ra = _floats(_candidate_field(batch, "ra"))
    dec = _floats(_candidate_field(batch, "dec"))
    hit = tns.match(ra, dec)
    uniq, inv = np.unique(np.where(hit >= 0, hit, -1), return_inverse=True)
    dictionary = ["Unknown" if u < 0 else tns.labels[u] for u in uniq]
    return _labels_from_codes(inv.astype(np.int32), dictionary)


def classify_batch(batch: pa.RecordBatch, tns: TnsCatalog | None = None) -> pa.RecordBatch:
    """Append (or replace) string columns ``finkclass`` and ``tnsclass``."""
    if isinstance(batch, pa.Table):
        batch = batch.combine_chunks().to_batches()[0] if batch.num_rows else pa.RecordBatch.from_pylist([], schema=batch.schema)
    n = batch.num_rows
    cid = _column(batch, "classId")
    if cid is not None and _column(batch, "candidate") is None:  # ELASTICC
        fink = pc.fill_null(pc.cast(cid, pa.string()), "Unknown")
        tnsc = pa.array(["Unknown"] * n, type=pa.string())
    else:
        fink = fink_classes(batch)
        tnsc = tns_classes(batch, tns)
    keep = [i for i, name in enumerate(batch.schema.names) if name not in CLASS_COLUMNS]
    arrays = [batch.column(i) for i in keep] + [fink, tnsc]
    fields = [batch.schema.field(i) for i in keep] + [pa.field("finkclass", pa.string()), pa.field("tnsclass", pa.string())]
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def selected_classes_mask(batch: pa.RecordBatch, fink_classes, tns_classes) -> pa.Array:
    """Rows of a classified batch whose finkclass OR tnsclass is selected (never null).

    The one class filter of the service: the job pipeline and the exact count both use it, with
    the values of ``taxonomy.split_class_selection``.
    """
    mask = None
    names = batch.schema.names
    if fink_classes and "finkclass" in names:
        mask = pc.is_in(batch.column("finkclass"), value_set=pa.array(list(fink_classes), pa.string()))
    if tns_classes and "tnsclass" in names:
        m = pc.is_in(batch.column("tnsclass"), value_set=pa.array(list(tns_classes), pa.string()))
        mask = m if mask is None else pc.or_(mask, m)
    if mask is None:
        return pa.array([False] * batch.num_rows)
    return pc.fill_null(mask, False)
