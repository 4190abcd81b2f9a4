"""Synthetic night-partitioned archive that follows the real schemas, eras and class mix.

Every alert first gets a final label drawn from the real class frequencies (June-Aug 2022
portal coefficients, SIMBAD spellings of the night's era); the added values are then
generated so that ``engine.classification`` reproduces that label (e.g. roid=3 + ssnamenr
for Solar System MPC, cdsxmatch=label for SIMBAD classes, SNN/drb/classtar/ndethist above
the SN thresholds for SN candidates, a TNS catalogue entry at the position of alerts drawn
as ``(TNS) x``). Data are built column-wise with numpy, one row group (``CHUNK`` alerts) at a
time, so memory stays flat whatever the archive size. Deterministic for a given seed.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from engine import schemas, taxonomy
from engine.archive import cutouts, layout
from engine.archive.reader import era_of
from engine.errors import UserError
from engine.progress import progress_bar

CHUNK = 2000
SAMPLES_DIR = Path(__file__).resolve().parent / "samples"
JD_UNIX0 = 2440587.5
NID0 = dt.date(2017, 1, 1)
_LETTERS = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
FINK_VERSIONS = {"2019-2021": ("1.3", "0.4.8"), "2022": ("2.2", "2.0.0"), "2023+": ("2.9", "3.13.3")}


# --------------------------------------------------------------------------- helpers

def night_jd0(night: dt.date) -> float:
    """JD at 00:00 UTC of the date."""
    return night.toordinal() - dt.date(1970, 1, 1).toordinal() + JD_UNIX0


def jd_to_timestamp(jd: np.ndarray) -> pa.Array:
    us = np.round((jd - JD_UNIX0) * 86400e6).astype(np.int64)
    return pa.array(us, type=pa.timestamp("us"))


def object_ids(rng, n: int, yy: np.ndarray) -> list[str]:
    letters = _LETTERS[rng.integers(0, 26, size=(n, 7))].view("S7").ravel()
    return [f"ZTF{y:02d}{s.decode()}" for y, s in zip(yy, letters)]


def _arr(values: np.ndarray, typ: pa.DataType, null_mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(values, type=typ, mask=null_mask if null_mask is not None and null_mask.any() else None)


def _generic(rng, typ: pa.DataType, n: int, name: str) -> pa.Array:
    """Plausible filler for fields the classification and the UI do not look at."""
    if pa.types.is_floating(typ):
        return _arr(rng.normal(0.0, 1.0, n).astype(typ.to_pandas_dtype()), typ, rng.random(n) < 0.02)
    if pa.types.is_integer(typ):
        return _arr(rng.integers(0, 64, n).astype(typ.to_pandas_dtype()), typ)
    if pa.types.is_string(typ):
        return pa.array(np.full(n, name[:1] or "x", dtype=object), type=typ)
    if pa.types.is_boolean(typ):
        return pa.array(rng.random(n) < 0.5, type=typ)
    return pa.nulls(n, typ)


def _struct(rng, typ: pa.StructType, n: int, values: dict[str, pa.Array | np.ndarray]) -> pa.StructArray:
    arrays = []
    for f in typ:
        v = values.get(f.name)
        if v is None:
            arrays.append(_generic(rng, f.type, n, f.name))
        elif isinstance(v, pa.Array):
            arrays.append(v if v.type == f.type else v.cast(f.type))
        else:
            arrays.append(pa.array(v, type=f.type, from_pandas=True))
    return pa.StructArray.from_arrays(arrays, fields=list(typ))


def _binary(pieces: list[bytes]) -> pa.Array:
    lengths = np.fromiter((len(p) for p in pieces), dtype=np.int64, count=len(pieces))
    offsets = np.zeros(len(pieces) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.Array.from_buffers(pa.binary(), len(pieces), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(pieces))])


# --------------------------------------------------------------------------- label draw

def label_table(night: dt.date) -> tuple[list[str], np.ndarray]:
    """(labels, probabilities) for a night: real coefficients with the night's SIMBAD spellings."""
    freq = taxonomy.class_frequencies()
    merged: dict[str, float] = {}
    for label, p in freq.items():
        if label not in taxonomy.FINK_CLASSES and not label.startswith(taxonomy.TNS_PREFIX):
            label = taxonomy.simbad_label_for_night(label, night)
        merged[label] = merged.get(label, 0.0) + p
    labels = list(merged)
    p = np.array([merged[lb] for lb in labels])
    return labels, p / p.sum()


# --------------------------------------------------------------------------- ZTF

class ZtfNight:
    """Generates the alerts of one ZTF night chunk by chunk."""

    def __init__(self, night: dt.date, seed: int, bank: cutouts.StampBank):
        self.night = night
        self.era = era_of("ztf", night)
        self.schema = schemas.era_arrow_schema("ztf", self.era)
        self.bank = bank
        self.rng = np.random.default_rng([seed, night.toordinal()])
        self.labels, self.probs = label_table(night)
        self.nid = (night - NID0).days
        self.cand_type = self.schema.field("candidate").type
        self.prv_type = self.schema.field("prv_candidates").type.value_type
        self.tns_rows: list[tuple[float, float, str]] = []

    def chunk(self, start: int, n: int) -> pa.RecordBatch:
        rng = self.rng
        lab_idx = rng.choice(len(self.labels), size=n, p=self.probs)
        labels = np.array(self.labels, dtype=object)[lab_idx]
        is_tns = np.array([str(lb).startswith(taxonomy.TNS_PREFIX) for lb in labels])
        # TNS alerts: a transient whose Fink class is SN candidate (half of the SN types) or Unknown
        fink_label = labels.copy()
        sn_like = is_tns & np.array([str(lb).startswith("(TNS) SN") for lb in labels]) & (rng.random(n) < 0.5)
        fink_label[is_tns] = "Unknown"
        fink_label[sn_like] = "SN candidate"

        def eq(name):
            return fink_label == name

        simbad = np.array([lb not in taxonomy.FINK_CLASSES for lb in fink_label])
        tns_label = np.where(is_tns, labels, "Unknown")
        self.last_labels = (fink_label, tns_label)  # what the classifier must reproduce (tests)

        # ---- positions, times, ids
        ra = rng.uniform(0, 360, n)
        dec = np.degrees(np.arcsin(rng.uniform(np.sin(np.radians(-30)), 1.0, n)))
        jd = night_jd0(self.night) + rng.uniform(3 / 24, 13 / 24, n)
        pid = self.nid * 10**9 + rng.integers(0, 10**9, n)
        candid = pid * 10**6 + (start + np.arange(n))
        fid = np.where(rng.random(n) < 0.37, 1, 2).astype(np.int32)

        # ---- classification inputs (safe defaults: no flag fires)
        cdsxmatch = np.full(n, "Unknown", dtype=object)
        cdsxmatch[simbad] = fink_label[simbad]
        roid = np.where(rng.random(n) < 0.3, 1, 0).astype(np.int32)
        snn_ia = rng.uniform(0, 0.5, n)
        snn_sn = rng.uniform(0, 0.5, n)
        rf_snia = np.zeros(n)
        rf_kn = np.zeros(n)
        mulens = np.zeros(n)
        drb = rng.beta(5, 2, n)
        classtar = rng.uniform(0, 1, n)
        ndethist = np.maximum(1, rng.lognormal(np.log(170), 1.2, n)).astype(np.int32)
        age = rng.uniform(0, 1500, n)
        tracklet = np.full(n, None, dtype=object)
        ssnamenr = np.full(n, "null", dtype=object)
        ssdistnr = np.full(n, -999.0)
        magpsf = np.clip(rng.normal(17.9, 1.4, n), 13.0, 21.5)

        m = eq("SN candidate")
        snn_sn[m] = rng.uniform(0.55, 1, m.sum())
        drb[m] = rng.uniform(0.6, 1, m.sum())
        classtar[m] = rng.uniform(0.5, 1, m.sum())
        ndethist[m] = rng.integers(21, 80, m.sum())
        age[m] = rng.uniform(1, 85, m.sum())
        roid[m] = 0
        m = eq("Early SN Ia candidate")
        snn_ia[m] = rng.uniform(0.55, 1, m.sum())
        drb[m] = rng.uniform(0.6, 1, m.sum())
        classtar[m] = rng.uniform(0.5, 1, m.sum())
        ndethist[m] = rng.integers(2, 20, m.sum())
        rf_snia[m] = rng.uniform(0.55, 1, m.sum())
        age[m] = rng.uniform(1, 20, m.sum())
        roid[m] = 0
        m = eq("Kilonova candidate")
        rf_kn[m] = rng.uniform(0.55, 1, m.sum())
        drb[m] = rng.uniform(0.6, 1, m.sum())
        classtar[m] = rng.uniform(0.5, 1, m.sum())
        ndethist[m] = rng.integers(1, 15, m.sum())
        age[m] = rng.uniform(0, 4.5, m.sum())
        roid[m] = 0
        m = eq("Microlensing candidate") | eq("Ambiguous")
        mulens[m] = rng.uniform(0.2, 1, m.sum())
        roid[eq("Microlensing candidate")] = 0
        roid[eq("Solar System candidate") | eq("Ambiguous")] = 2
        m = eq("Tracklet")
        roid[m] = 0
        tracklet[m] = [f"TRCK_{self.night:%Y%m%d}_{i:06d}" for i in range(start, start + int(m.sum()))]
        m = eq("Solar System MPC")
        roid[m] = 3
        ssnamenr[m] = rng.integers(1, 700000, m.sum()).astype(str)
        ssdistnr[m] = rng.uniform(0, 5, m.sum())
        magpsf[m] = np.clip(rng.normal(19.2, 0.8, m.sum()), 15, 21.5)
        sso = eq("Solar System MPC") | eq("Solar System candidate") | eq("Ambiguous")
        ndethist[sso] = rng.integers(0, 3, sso.sum())
        age[sso] = 0
        jdstarthist = jd - age

        # real host context for transients (in the EG host list, not a SIMBAD match)
        transient = eq("SN candidate") | eq("Early SN Ia candidate") | eq("Kilonova candidate")
        gal = transient & (rng.random(n) < 0.1)
        cdsxmatch[gal] = "Galaxy"

        # TNS catalogue entries at the positions of the (TNS) alerts (offset < 0.5 arcsec)
        for i in np.flatnonzero(is_tns):
            off = rng.normal(0, 0.2 / 3600, 2)
            self.tns_rows.append((float(ra[i] + off[0] / max(np.cos(np.radians(dec[i])), 1e-3)),
                                  float(dec[i] + off[1]), str(labels[i])[len(taxonomy.TNS_PREFIX):]))

        sigmapsf = np.clip(rng.lognormal(np.log(0.11), 0.5, n), 0.01, 0.5)
        diffmaglim = np.maximum(magpsf + rng.uniform(0.05, 1.5, n), rng.normal(19.6, 0.5, n))
        object_yy = np.clip(self.night.year % 100 - (ndethist > 10) * rng.integers(0, 3, n), 17, 99)
        oids = object_ids(rng, n, object_yy)

        cand = _struct(rng, self.cand_type, n, {
            "jd": jd, "fid": fid, "pid": pid, "diffmaglim": diffmaglim.astype(np.float32),
            "pdiffimfilename": np.array([f"ztf_{self.night:%Y%m%d}_programid1_scimrefdiffimg.fits"] * n, dtype=object),
            "programpi": np.full(n, "Kulkarni", dtype=object), "programid": np.ones(n, np.int32),
            "candid": candid, "isdiffpos": np.where(rng.random(n) < 0.55, "t", "f").astype(object),
            "nid": np.full(n, self.nid, np.int32), "rcid": rng.integers(0, 64, n).astype(np.int32),
            "field": rng.integers(250, 880, n).astype(np.int32),
            "ra": ra, "dec": dec, "magpsf": magpsf.astype(np.float32), "sigmapsf": sigmapsf.astype(np.float32),
            "classtar": classtar.astype(np.float32), "nbad": np.zeros(n, np.int32),
            "rb": rng.uniform(0.55, 1, n).astype(np.float32), "drb": drb.astype(np.float32),
            "ssdistnr": ssdistnr.astype(np.float32), "ssnamenr": ssnamenr,
            "ssmagnr": np.where(ssdistnr >= 0, magpsf + 0.2, -999.0).astype(np.float32),
            "distnr": rng.uniform(0, 5, n).astype(np.float32),
            "magnr": np.clip(magpsf + rng.normal(0.5, 1.5, n), 12, 23).astype(np.float32),
            "ranr": ra, "decnr": dec, "ndethist": ndethist, "ncovhist": ndethist + rng.integers(0, 200, n).astype(np.int32),
            "jdstarthist": jdstarthist, "jdendhist": jd, "tooflag": np.zeros(n, np.int32),
            "rfid": rng.integers(600000000, 900000000, n), "jdstartref": jd - 1500, "jdendref": jd - 1200,
            "nframesref": rng.integers(15, 40, n).astype(np.int32), "rbversion": np.full(n, "t17_f5_c3", dtype=object),
            "drbversion": np.full(n, "d6_m7", dtype=object), "nmtchps": rng.integers(0, 10, n).astype(np.int32),
            "nmatches": rng.integers(100, 3000, n).astype(np.int32),
            "magzpsci": rng.normal(26.3, 0.1, n).astype(np.float32),
            "sgscore1": rng.uniform(0, 1, n).astype(np.float32),
            "distpsnr1": rng.uniform(0, 10, n).astype(np.float32),
            "objectidps1": rng.integers(10**16, 2 * 10**17, n),
            "objectidps2": rng.integers(10**16, 2 * 10**17, n),
            "objectidps3": rng.integers(10**16, 2 * 10**17, n),
            "exptime": np.full(n, 30.0, np.float32), "fwhm": rng.uniform(1.5, 4, n).astype(np.float32),
        })
        prv = self._prv(n, jd, ra, dec, magpsf, fid, pid)
        cut = self._cutouts(n, oids, candid, pid, jd)
        version = schemas.ztf_schemavsn(self.night)
        columns = {
            "schemavsn": pa.array([version] * n, pa.string()), "publisher": pa.array(["Fink"] * n, pa.string()),
            "objectId": pa.array(oids, pa.string()), "candid": pa.array(candid, pa.int64()),
            "candidate": cand, "prv_candidates": prv, **cut,
            "timestamp": jd_to_timestamp(jd), "cdsxmatch": pa.array(cdsxmatch, pa.string()),
            "rf_snia_vs_nonia": pa.array(rf_snia), "snn_snia_vs_nonia": pa.array(snn_ia),
            "snn_sn_vs_all": pa.array(snn_sn), "roid": pa.array(roid, pa.int32()),
            "nalerthist": pa.array(np.maximum(ndethist, 1), pa.int32()), "rf_kn_vs_nonkn": pa.array(rf_kn),
            "fink_broker_version": pa.array([FINK_VERSIONS[self.era][0]] * n, pa.string()),
            "fink_science_version": pa.array([FINK_VERSIONS[self.era][1]] * n, pa.string()),
            "tracklet": pa.array(tracklet, pa.string()),
        }
        if self.era == "2019-2021":
            ml = mulens > 0
            cls = np.where(ml, "ML", "").astype(object)
            columns["mulens"] = pa.StructArray.from_arrays(
                [pa.array(cls, pa.string()), pa.array(mulens), pa.array(cls, pa.string()), pa.array(mulens)],
                fields=list(schemas.MULENS_STRUCT))
        else:
            columns["mulens"] = pa.array(mulens)
            star = simbad & (rng.random(n) < 0.6)
            columns["DR3Name"] = pa.array(np.where(star, np.char.add("Gaia DR3 ", rng.integers(10**17, 6 * 10**18, n).astype(str)), "Unknown").astype(object), pa.string())
            columns["Plx"] = _arr(rng.lognormal(-0.5, 0.8, n).astype(np.float32), pa.float32(), ~star)
            columns["e_Plx"] = _arr(rng.uniform(0.01, 0.3, n).astype(np.float32), pa.float32(), ~star)
            columns["gcvs"] = pa.array(["Unknown"] * n, pa.string())
            columns["vsx"] = pa.array(np.where(star & (rng.random(n) < 0.5), "VAR", "Unknown").astype(object), pa.string())
        if self.era == "2023+":
            columns["x3hsp"] = pa.array(["Unknown"] * n, pa.string())
            columns["x4lac"] = pa.array(["Unknown"] * n, pa.string())
            keys = pa.array(["HyperLEDA_name", "2MASS_name", "lum_dist", "ang_dist"] * n, pa.string())
            items = pa.array(["None"] * (4 * n), pa.string())
            columns["mangrove"] = pa.MapArray.from_arrays(pa.array(np.arange(0, 4 * n + 1, 4, dtype=np.int32)), keys, items,
                                                          type=schemas.MANGROVE)
            few = ndethist < 3
            columns["anomaly_score"] = _arr(rng.normal(-0.45, 0.1, n), pa.float64(), few)
            for band in ("g", "r"):
                feats = {name: rng.normal(0, 1, n) for name in schemas.LC_FEATURE_NAMES}
                feats["mean"] = magpsf + rng.normal(0, 0.1, n)
                st = _struct(rng, schemas.LC_FEATURES, n, feats)
                columns[f"lc_features_{band}"] = pa.StructArray.from_arrays(
                    [st.field(i) for i in range(st.type.num_fields)], fields=list(schemas.LC_FEATURES),
                    mask=pa.array(few | (rng.random(n) < 0.2)))
        return pa.RecordBatch.from_arrays([columns[f.name] for f in self.schema], schema=self.schema)

    def _prv(self, n, jd, ra, dec, magpsf, fid, pid) -> pa.Array:
        rng = self.rng
        counts = np.clip(np.round(rng.normal(17, 8, n)), 0, 90).astype(np.int32)
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(counts, out=offsets[1:])
        total = int(offsets[-1])
        owner = np.repeat(np.arange(n), counts)
        dt_days = rng.uniform(0.6, 30, total)
        order = np.lexsort((-dt_days, owner))  # oldest first inside each alert
        dt_days = dt_days[order]
        pjd = jd[owner] - dt_days
        upper = rng.random(total) < 0.6
        pfid = np.where(rng.random(total) < 0.4, 1, 2).astype(np.int32)
        ppid = (((pjd - 2457754.5).astype(np.int64)) * 10**9 + rng.integers(0, 10**9, total))
        pcandid = ppid * 10**6 + rng.integers(0, 10**6, total)
        pmag = (magpsf[owner] + rng.normal(0, 0.3, total)).astype(np.float32)
        values = {
            "jd": pjd, "fid": pfid, "pid": ppid,
            "diffmaglim": rng.normal(19.6, 0.5, total).astype(np.float32),
            "programid": np.ones(total, np.int32), "rbversion": np.full(total, "t17_f5_c3", dtype=object),
        }
        arrays = []
        for f in self.prv_type:
            if f.name in values:
                arrays.append(pa.array(values[f.name], type=f.type))
                continue
            if f.name == "candid":
                v = pcandid
            elif f.name == "magpsf":
                v = pmag
            elif f.name == "sigmapsf":
                v = rng.uniform(0.03, 0.2, total).astype(np.float32)
            elif f.name == "ra":
                v = ra[owner] + rng.normal(0, 1e-5, total)
            elif f.name == "dec":
                v = dec[owner] + rng.normal(0, 1e-5, total)
            elif f.name == "isdiffpos":
                v = np.where(rng.random(total) < 0.55, "t", "f").astype(object)
            elif f.name in ("programpi",):
                v = np.full(total, "Kulkarni", dtype=object)
            elif f.name == "pdiffimfilename":
                v = np.full(total, "ztf_programid1_scimrefdiffimg.fits", dtype=object)
            else:
                if pa.types.is_string(f.type):
                    arrays.append(pa.array(np.where(upper, None, "x"), type=f.type))
                else:
                    g = _generic(rng, f.type, total, f.name)
                    mask = upper | g.is_null().to_numpy(zero_copy_only=False)
                    arrays.append(_arr(g.fill_null(0).to_numpy(zero_copy_only=False), f.type, mask))
                continue
            nullable_always = f.name in ("programpi", "pdiffimfilename")
            arrays.append(_arr(v, f.type, None if nullable_always else upper))
        struct = pa.StructArray.from_arrays(arrays, fields=list(self.prv_type))
        return pa.ListArray.from_arrays(pa.array(offsets), struct, type=pa.list_(self.prv_type))

    def _cutouts(self, n, oids, candid, pid, jd) -> dict:
        rng = self.rng
        picks = rng.integers(0, self.bank.size, (3, n))
        out = {}
        cut_type = self.schema.field("cutoutScience").type
        for k, (col, kind) in enumerate(zip(schemas.CUTOUT_COLUMNS, cutouts.KINDS)):
            pieces, names = [], []
            for i in range(n):
                c = int(candid[i])
                pieces.append(self.bank.stamp(kind, int(picks[k, i]), cutouts.unique_cards(oids[i], c, kind, float(jd[i]))))
                names.append(cutouts.file_names(c, int(pid[i]))[k])
            out[col] = pa.StructArray.from_arrays([pa.array(names, pa.string()), _binary(pieces)], fields=list(cut_type))
        return out


# --------------------------------------------------------------------------- ELASTICC

class ElasticcNight:
    """ELASTICC v0_9 rows + brokerIngestTimestamp, timestamp, classId (v1 taxonomy)."""

    BANDS = np.array(list("ugrizY"), dtype=object)

    def __init__(self, night: dt.date, seed: int):
        self.night = night
        self.era = "v0_9"
        self.schema = schemas.era_arrow_schema("elasticc", "v0_9")
        self.rng = np.random.default_rng([seed, night.toordinal(), 7])
        counts = taxonomy.elasticc_class_counts()
        self.class_ids = np.array(list(counts), dtype=np.int32)
        p = np.array(list(counts.values()), dtype=float)
        self.class_p = p / p.sum()
        self.mjd0 = night.toordinal() - dt.date(1858, 11, 17).toordinal()
        self.tns_rows: list = []

    def _sources(self, typ, n, mjd, ra, dec, obj, ids, extra=None):
        rng = self.rng
        flux = rng.lognormal(6, 1.2, n).astype(np.float32)
        err = (flux * rng.uniform(0.03, 0.3, n)).astype(np.float32)
        vals = {"diaSourceId": ids, "diaForcedSourceId": ids, "ccdVisitId": rng.integers(10**5, 10**7, n),
                "diaObjectId": obj, "parentDiaSourceId": pa.nulls(n, pa.int64()), "midPointTai": mjd,
                "filterName": self.BANDS[rng.integers(0, 6, n)], "ra": ra, "decl": dec,
                "psFlux": flux, "psFluxErr": err, "snr": (flux / err).astype(np.float32),
                "nobs": rng.integers(1, 300, n).astype(np.float32), "totFlux": flux * 1.1, "totFluxErr": err * 1.1,
                "diaNoise": err}
        vals.update(extra or {})
        return _struct(rng, typ, n, {f.name: vals[f.name] for f in typ if f.name in vals})

    def _history(self, typ, n, counts, mjd, ra, dec, obj, id_base):
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(counts, out=offsets[1:])
        total = int(offsets[-1])
        owner = np.repeat(np.arange(n), counts)
        pm = mjd[owner] - self.rng.uniform(0.5, 400, total)
        st = self._sources(typ, total, pm, ra[owner], dec[owner], obj[owner], id_base + np.arange(total))
        return pa.ListArray.from_arrays(pa.array(offsets), st, type=pa.list_(typ))

    def chunk(self, start: int, n: int) -> pa.RecordBatch:
        rng = self.rng
        t = {f.name: f.type for f in self.schema}
        ra = rng.uniform(0, 360, n)
        dec = np.degrees(np.arcsin(rng.uniform(-1, np.sin(np.radians(10)), n)))
        mjd = self.mjd0 + rng.uniform(0, 1, n)
        base = (self.night.toordinal() * 10**6 + start) * 10**3
        obj = rng.integers(10**6, 10**8, n)
        src_ids = base + np.arange(n)
        dia_src = self._sources(t["diaSource"], n, mjd, ra, dec, obj, src_ids)
        prv = self._history(t["prvDiaSources"].value_type, n, np.clip(rng.lognormal(np.log(8), 0.9, n), 0, 240).astype(np.int32),
                            mjd, ra, dec, obj, base + 10**8)
        forced = self._history(t["prvDiaForcedSources"].value_type, n, np.clip(rng.lognormal(np.log(27), 0.8, n), 0, 300).astype(np.int32),
                               mjd, ra, dec, obj, base + 2 * 10**8)
        nondet = self._history(t["prvDiaNondetectionLimits"].value_type, n, rng.integers(0, 5, n).astype(np.int32),
                               mjd, ra, dec, obj, base + 3 * 10**8)
        objtype = t["diaObject"]
        dia_obj = _struct(rng, objtype, n, {
            "diaObjectId": obj, "ra": ra, "decl": dec, "simVersion": np.full(n, "v1", dtype=object),
            **{f.name: rng.uniform(0, 1, n).astype(np.float32) for f in objtype if f.name.startswith(("mwebv", "z_final", "hostgal"))},
        })
        class_id = rng.choice(self.class_ids, size=n, p=self.class_p).astype(np.int32)
        ingest_us = int((dt.datetime(2022, 10, 1) - dt.datetime(1970, 1, 1)).total_seconds() * 1e6) + \
            (self.night.toordinal() % 100) * 86400 * 10**6 + rng.integers(0, 86400 * 10**6, n)
        columns = {
            "alertId": pa.array(src_ids, pa.int64()), "diaSource": dia_src, "prvDiaSources": prv,
            "prvDiaForcedSources": forced, "prvDiaNondetectionLimits": nondet, "diaObject": dia_obj,
            "cutoutDifference": pa.nulls(n, pa.binary()), "cutoutTemplate": pa.nulls(n, pa.binary()),
            "brokerIngestTimestamp": pa.array(ingest_us, pa.timestamp("us")),
            "timestamp": pa.array(np.round((mjd + 2400000.5 - JD_UNIX0) * 86400e6).astype(np.int64), pa.timestamp("us")),
            "classId": pa.array(class_id, pa.int32()),
        }
        return pa.RecordBatch.from_arrays([columns[f.name] for f in self.schema], schema=self.schema)


# --------------------------------------------------------------------------- real samples

def sample_batches(survey: str, era: str) -> tuple[list[pa.RecordBatch], list[tuple[float, float, str]]]:
    """Real alerts shipped in the repo for one era, conformed to the era's schema, + their TNS rows."""
    from engine.archive.unify import conform_batch

    files = {
        ("ztf", "2019-2021"): "ztf_lake_2021-11-22_fink1.3.parquet",
        ("ztf", "2023+"): "ztf_transfer_2026-03-22.parquet",
        ("elasticc", "v0_9"): "elasticc_sample_seed0.parquet",
    }
    name = files.get((survey, era))
    if not name or not (SAMPLES_DIR / name).exists():
        return [], []
    table = pq.read_table(SAMPLES_DIR / name)
    tns = []
    if "tnsclass" in table.column_names:
        for r, d, c in zip(table.column("candidate").combine_chunks().field("ra").to_pylist(),
                           table.column("candidate").combine_chunks().field("dec").to_pylist(),
                           table.column("tnsclass").to_pylist()):
            if c and c != "Unknown":
                tns.append((r, d, c[len(taxonomy.TNS_PREFIX):]))
    schema = schemas.era_arrow_schema(survey, era)
    return [conform_batch(table, schema)], tns


# --------------------------------------------------------------------------- build

def check_build_args(survey: str, start: dt.date, nights: int, per_night: int) -> None:
    schemas.check_survey(survey)
    if nights <= 0:
        raise UserError(f"--nights must be a positive number of nights (got {nights})")
    if per_night <= 0:
        raise UserError(f"--alerts-per-night must be positive (got {per_night})")
    if per_night >= 10**6:
        raise UserError("--alerts-per-night must be below 1 000 000 (candid numbering)")
    if survey == "ztf" and start < dt.date(2019, 1, 1):
        raise UserError(f"ZTF nights start in 2019 (got {start})")


def build_archive(survey: str, start: dt.date, nights: int, alerts_per_night: int, out_dir,
                  seed: int = 0, progress: bool = True, with_samples: bool = True,
                  write_index: bool = True) -> dict:
    """Write a synthetic archive of ``nights`` consecutive nights and return its metadata."""
    check_build_args(survey, start, nights, alerts_per_night)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"{str(out)!r} exists and is not a directory")
    if out.exists() and layout.scan_nights(out):
        raise UserError(f"{str(out)!r} already holds an archive; choose an empty directory")
    out.mkdir(parents=True, exist_ok=True)
    night_list = [start + dt.timedelta(days=i) for i in range(nights)]
    bar = progress_bar(nights * alerts_per_night, f"build {survey}") if progress else None
    bank = cutouts.StampBank(seed) if survey == "ztf" else None
    tns_rows: list = []
    samples_done: set[str] = set()
    total = 0
    for night in night_list:
        gen = ZtfNight(night, seed, bank) if survey == "ztf" else ElasticcNight(night, seed)
        path = layout.night_dir(out, night)
        path.mkdir(parents=True, exist_ok=True)
        tmp = path / ".part-0.parquet.tmp"
        writer = pq.ParquetWriter(tmp, gen.schema, compression="snappy", use_dictionary=_dictionary_columns(gen.schema),
                                  write_statistics=True)
        try:
            for begin in range(0, alerts_per_night, CHUNK):
                n = min(CHUNK, alerts_per_night - begin)
                writer.write_batch(gen.chunk(begin, n), row_group_size=CHUNK)
                total += n
                if bar:
                    bar.update(n)
            if with_samples and gen.era not in samples_done:
                batches, rows = sample_batches(survey, gen.era)
                for b in batches:
                    writer.write_batch(b, row_group_size=CHUNK)
                    total += b.num_rows
                tns_rows += rows
                samples_done.add(gen.era)
        finally:
            writer.close()
        tmp.replace(path / "part-0.parquet")
        tns_rows += gen.tns_rows
    if bar:
        bar.close()
    _write_tns(out, tns_rows, seed)
    meta = {"survey": survey, "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "seed": seed, "generator": "engine.archive.generator", "start": start.isoformat(),
            "nights": nights, "alerts_per_night": alerts_per_night, "alerts": total,
            "eras": sorted({era_of(survey, n) for n in night_list})}
    layout.write_meta(out, meta)
    if write_index:
        from engine.stats import build_index
        build_index(out, progress=progress)
    return meta


def _dictionary_columns(schema: pa.Schema) -> list[str]:
    """Dictionary-encode only low-cardinality strings; never the cutouts."""
    low = {"schemavsn", "publisher", "cdsxmatch", "fink_broker_version", "fink_science_version",
           "gcvs", "vsx", "x3hsp", "x4lac"}
    return [n for n in schema.names if n in low]


def _write_tns(out: Path, rows: list, seed: int) -> None:
    """``_catalogs/tns.parquet`` (ra, declination, type): the matched entries + unrelated ones."""
    rng = np.random.default_rng([seed, 99])
    extra = 200
    types = list(taxonomy.tns_types())
    ra = [r[0] for r in rows] + list(rng.uniform(0, 360, extra))
    dec = [r[1] for r in rows] + list(np.degrees(np.arcsin(rng.uniform(-1, 1, extra))))
    typ = [r[2] for r in rows] + [types[i] for i in rng.integers(0, len(types), extra)]
    (out / "_catalogs").mkdir(exist_ok=True)
    pq.write_table(pa.table({"ra": pa.array(ra, pa.float64()), "declination": pa.array(dec, pa.float64()),
                             "type": pa.array(typ, pa.string())}), out / "_catalogs" / "tns.parquet")
