"""Synthetic night-partitioned archive that follows the real schemas, eras and class mix.

Alerts come from sources (``engine.archive.objects``): each night, labels are drawn from the
real class frequencies (June-Aug 2022 portal coefficients, SIMBAD spellings of the night's
era), tonight's detections of the active sources of each label become its alerts and new
sources are created for the rest; the alert's ``candidate`` is tonight's point and its
history (``prv_candidates``; ELASTICC ``prvDiaSources`` / ``prvDiaForcedSources``) the
source's earlier epochs, so later alerts carry the earlier ones. The added values are then
generated so that ``engine.classification`` reproduces the label (e.g. roid=3 + ssnamenr for
Solar System MPC, cdsxmatch=label for SIMBAD classes, SNN/drb/classtar above the SN
thresholds for SN candidates, a TNS catalogue entry at the position of ``(TNS) x`` sources).
Data are built column-wise with numpy, one row group (``CHUNK`` alerts) at a time, so memory
stays flat whatever the archive size. Deterministic for a given seed and arguments.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from engine import schemas, taxonomy
from engine.archive import cutouts, layout, objects, sky
from engine.archive.reader import era_of
from engine.errors import UserError
from engine.progress import progress_bar
from engine.surveys import ztf as ztf_survey

CHUNK = 2000
SAMPLES_DIR = Path(__file__).resolve().parent / "samples"
JD_UNIX0 = 2440587.5
NID0 = dt.date(2017, 1, 1)
_LETTERS = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
FINK_VERSIONS = {"2019-2021": ("1.3", "0.4.8"), "2022": ("2.2", "2.0.0"), "2023+": ("2.9", "3.13.3")}


# --------------------------------------------------------------------------- helpers

def jd_to_timestamp(jd: np.ndarray) -> pa.Array:
    us = np.round((jd - JD_UNIX0) * 86400e6).astype(np.int64)
    return pa.array(us, type=pa.timestamp("us"))


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


# --------------------------------------------------------------------------- ZTF

def epoch_jd(night, slot, u) -> np.ndarray:
    """JD of an exposure: slot 0 in the first half of the night (03-08 UTC), slot 1 in the second (08-13)."""
    night = np.asarray(night, dtype=np.int64)
    return (night - _ORD_1970) + JD_UNIX0 + 3 / 24 + (np.asarray(slot) + u) * (5 / 24)


_ORD_1970 = dt.date(1970, 1, 1).toordinal()


def ztf_population(seed: int) -> objects.Population:
    """The sources of a ZTF build: canonical labels of the real class table, ZTF footprint."""
    freq = taxonomy.class_frequencies()
    return objects.Population(list(freq), np.array(list(freq.values())), seed,
                              sky=lambda rng, kinds: sky.draw(rng, kinds, sky.ZTF_DEC), epoch_jd=epoch_jd,
                              min_dec=sky.ZTF_DEC[0] + 0.01)


def ztf_ids(keys: np.ndarray, yy: np.ndarray) -> list[str]:
    """``ZTFyy`` + 7 letters, derived from the source key (same source, same objectId)."""
    keys = np.asarray(keys, dtype=np.uint64)
    letters = np.stack([(keys >> np.uint64(5 * i + 3)) % np.uint64(26) for i in range(7)], axis=1).astype(np.uint8)
    letters = _LETTERS[letters].view("S7").ravel()
    return [f"ZTF{y:02d}{s.decode()}" for y, s in zip(yy, letters)]


def _digits(key, night, slot, stream, ndigits) -> np.ndarray:
    return (objects.hash64(key, night, slot, stream) % np.uint64(10**ndigits)).astype(np.int64)


def _jd_year(jd: np.ndarray) -> np.ndarray:
    return 1970 + np.floor((jd - JD_UNIX0) / 365.25).astype(np.int64)


class ZtfNight:
    """Generates the alerts of one ZTF night, chunk by chunk, from the sources of a population.

    Without a population (tests of the class rules) the night gets a fresh one of its own.
    """

    def __init__(self, night: dt.date, seed: int, bank: cutouts.StampBank, population: objects.Population | None = None):
        self.night = night
        self.era = era_of("ztf", night)
        self.schema = schemas.era_arrow_schema("ztf", self.era)
        self.bank = bank
        self.rng = np.random.default_rng([seed, night.toordinal()])
        self.pop = population if population is not None else ztf_population(seed)
        self.nid = (night - NID0).days
        self.ordinal = night.toordinal()
        self.cand_type = self.schema.field("candidate").type
        self.prv_type = self.schema.field("prv_candidates").type.value_type
        self.tns_rows: list[tuple[float, float, str]] = []
        spelled = []
        for label in self.pop.labels:
            if label not in taxonomy.FINK_CLASSES and not label.startswith(taxonomy.TNS_PREFIX):
                label = taxonomy.simbad_label_for_night(label, night)
            spelled.append(label)
        self.spelled = np.array(spelled, dtype=object)
        self.plan = None

    def plan_night(self, n_alerts: int) -> int:
        """Choose the night's alerts (sources and slots), in time order; returns their number."""
        rows, slots = self.pop.plan_night(self.rng, self.ordinal, n_alerts)
        obs = self.pop.observe(rows, self.ordinal, slots)
        assert len(obs["idx"]) == len(rows) and obs["detected"].all()  # every planned alert is a detection
        order = np.argsort(obs["jd"], kind="stable")
        self.plan = (rows[order], slots[order], {k: v[order] for k, v in obs.items()})
        new = np.concatenate(self.pop.new_rows) if self.pop.new_rows else np.zeros(0, np.int64)
        self.pop.new_rows = []
        self._tns_for(new)
        return len(rows)

    def _tns_for(self, rows: np.ndarray) -> None:
        """A TNS catalogue entry (offset < 0.5 arcsec) at the position of each new (TNS) source."""
        for i in rows:
            label = self.pop.labels[self.pop.a["label"][i]]
            if label.startswith(taxonomy.TNS_PREFIX):
                ra, dec = self.pop.a["ra"][i], self.pop.a["dec"][i]
                off = self.rng.normal(0, 0.2 / 3600, 2)
                self.tns_rows.append((float(ra + off[0] / max(np.cos(np.radians(dec)), 1e-3)), float(dec + off[1]),
                                      label[len(taxonomy.TNS_PREFIX):]))

    def chunk(self, start: int, n: int) -> pa.RecordBatch:
        if self.plan is None:
            self.plan_night(n)
            start = 0
        rows, slots, obs = self.plan
        sl = slice(start, start + n)
        return self._alerts(rows[sl], slots[sl], {k: v[sl] for k, v in obs.items()})

    def _alerts(self, rows, slots, obs) -> pa.RecordBatch:
        rng = self.rng
        pop, a = self.pop, self.pop.a
        n = len(rows)
        kind = a["kind"][rows]
        canon = np.array(pop.labels, dtype=object)[a["label"][rows]]
        labels = self.spelled[a["label"][rows]]
        is_tns = np.char.startswith(canon.astype(str), taxonomy.TNS_PREFIX)
        fink_label = labels.copy()
        fink_label[is_tns] = np.where(a["tns_sn"][rows][is_tns], "SN candidate", "Unknown")

        def eq(name):
            return fink_label == name

        simbad = np.array([lb not in taxonomy.FINK_CLASSES for lb in fink_label])
        tns_label = np.where(is_tns, labels, "Unknown")
        self.last_labels = (fink_label, tns_label)  # what the classifier must reproduce (tests)

        # ---- this night's point
        jd = obs["jd"]
        sso_kind = kind == objects.SSO
        keys = a["key"][rows]
        alert_key = np.where(sso_kind, objects.hash64(keys, self.ordinal, 0, objects.PRV), keys)  # an SSO: new position each night
        ra, dec = pop.position(rows, jd)
        ra = (ra + 0.06 / 3600 * objects.gauss(keys, self.ordinal, slots, objects.POS) / np.cos(np.radians(dec))) % 360
        dec = dec + 0.06 / 3600 * objects.gauss(keys, self.ordinal, slots, objects.POS3)
        fid = np.where(obs["band"] == 1, 1, 2).astype(np.int32)
        pid = self.nid * 10**9 + _digits(keys, self.ordinal, slots, objects.PID, 9)
        candid = pid * 10**6 + _digits(keys, self.ordinal, slots, objects.CAND, 6)
        magpsf = obs["mag"]
        sigmapsf = obs["sigma"]
        diffmaglim = obs["lim"]
        isdiffpos = np.where((obs["true_mag"] <= a["m0"][rows] + np.where(obs["band"] == 1, a["color"][rows], 0))
                             | np.isin(kind, [objects.SN, objects.KN, objects.ML, objects.SSO, objects.ONEOFF]), "t", "f")

        # ---- the history: the source's epochs of the previous 30 nights (+ the first slot of tonight)
        hist = self._history(rows, slots, jd, alert_key, sso_kind)
        prv, h_owner, h_det, h_mag, h_fid = hist
        ndet_prv = np.bincount(h_owner[h_det], minlength=n)
        nobs_prv = np.bincount(h_owner, minlength=n)
        first_night = a["first_night"][rows]
        older = np.where(first_night < self.ordinal - self.pop.window,
                         1 + ((self.ordinal - self.pop.window - first_night) * objects.SLOTS * objects.P_OBS * 0.5).astype(np.int64), 0)
        older = np.where(np.isin(kind, [objects.SN, objects.KN, objects.ML]), older, 0)
        ndethist = (a["prior_ndet"][rows] + ndet_prv + 1 + older).astype(np.int32)
        ndethist = np.where(sso_kind, 1 + (objects.unit(alert_key, self.ordinal, 0, objects.DIFF) < 0.3), ndethist).astype(np.int32)
        ncovhist = (ndethist + (nobs_prv - ndet_prv) + (a["prior_ndet"][rows] * 1.6).astype(np.int64)).astype(np.int32)
        jdstarthist = np.where(sso_kind, jd, np.minimum(a["jdstart"][rows], jd))

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
        tracklet = np.full(n, None, dtype=object)
        ssnamenr = np.full(n, "null", dtype=object)
        ssdistnr = np.full(n, -999.0)

        def passes_cuts(m, score, *more_scores):
            """Alerts of a transient class: its score(s) above 0.5, real (drb), extended enough
            (classtar), not an asteroid; draws in a fixed order so a seed gives the same archive."""
            score[m] = rng.uniform(0.55, 1, m.sum())
            drb[m] = rng.uniform(0.6, 1, m.sum())
            classtar[m] = rng.uniform(0.5, 1, m.sum())
            for other in more_scores:
                other[m] = rng.uniform(0.55, 1, m.sum())
            roid[m] = 0

        passes_cuts(eq("SN candidate"), snn_sn)
        passes_cuts(eq("Early SN Ia candidate"), snn_ia, rf_snia)
        passes_cuts(eq("Kilonova candidate"), rf_kn)
        m = eq("Microlensing candidate") | eq("Ambiguous")
        mulens[m] = rng.uniform(0.2, 1, m.sum())
        roid[eq("Microlensing candidate")] = 0
        roid[eq("Solar System candidate") | eq("Ambiguous")] = 2
        m = eq("Tracklet")
        roid[m] = 0
        tracklet[m] = [f"TRCK_{self.night:%Y%m%d}_{int(k) % 10**6:06d}" for k in keys[m]]
        m = eq("Solar System MPC")
        roid[m] = 3
        ssnamenr[m] = a["ssnum"][rows][m].astype(str)
        ssdistnr[m] = rng.uniform(0, 5, m.sum())

        # real host context for transients (in the EG host list, not a SIMBAD match)
        transient = eq("SN candidate") | eq("Early SN Ia candidate") | eq("Kilonova candidate")
        cdsxmatch[transient & a["host_gal"][rows]] = "Galaxy"

        yy = np.clip(_jd_year(jdstarthist) % 100, 17, 99)
        oids = ztf_ids(alert_key, yy)

        cand = _struct(rng, self.cand_type, n, {
            "jd": jd, "fid": fid, "pid": pid, "diffmaglim": diffmaglim.astype(np.float32),
            "pdiffimfilename": np.array([f"ztf_{self.night:%Y%m%d}_programid1_scimrefdiffimg.fits"] * n, dtype=object),
            "programpi": np.full(n, "Kulkarni", dtype=object), "programid": np.ones(n, np.int32),
            "candid": candid, "isdiffpos": isdiffpos.astype(object),
            "nid": np.full(n, self.nid, np.int32), "rcid": rng.integers(0, 64, n).astype(np.int32),
            "field": rng.integers(250, 880, n).astype(np.int32),
            "ra": ra, "dec": dec, "magpsf": magpsf.astype(np.float32), "sigmapsf": sigmapsf.astype(np.float32),
            "classtar": classtar.astype(np.float32), "nbad": np.zeros(n, np.int32),
            "rb": rng.uniform(0.55, 1, n).astype(np.float32), "drb": drb.astype(np.float32),
            "ssdistnr": ssdistnr.astype(np.float32), "ssnamenr": ssnamenr,
            "ssmagnr": np.where(ssdistnr >= 0, magpsf + 0.2, -999.0).astype(np.float32),
            "distnr": rng.uniform(0, 5, n).astype(np.float32),
            "magnr": np.clip(a["m0"][rows] + rng.normal(0.5, 1.0, n), 12, 23).astype(np.float32),
            "ranr": ra, "decnr": dec, "ndethist": ndethist, "ncovhist": ncovhist,
            "jdstarthist": jdstarthist, "jdendhist": jd, "tooflag": np.zeros(n, np.int32),
            "rfid": rng.integers(600000000, 900000000, n), "jdstartref": jd - 1500, "jdendref": jd - 1200,
            "nframesref": rng.integers(15, 40, n).astype(np.int32), "rbversion": np.full(n, "t17_f5_c3", dtype=object),
            "drbversion": np.full(n, "d6_m7", dtype=object), "nmtchps": rng.integers(0, 10, n).astype(np.int32),
            "nmatches": rng.integers(100, 3000, n).astype(np.int32),
            "magzpsci": rng.normal(26.3, 0.1, n).astype(np.float32),
            "sgscore1": np.where(np.isin(kind, objects.STELLAR), rng.uniform(0.7, 1, n), rng.uniform(0, 0.5, n)).astype(np.float32),
            "distpsnr1": rng.uniform(0, 10, n).astype(np.float32),
            "objectidps1": rng.integers(10**16, 2 * 10**17, n),
            "objectidps2": rng.integers(10**16, 2 * 10**17, n),
            "objectidps3": rng.integers(10**16, 2 * 10**17, n),
            "exptime": np.full(n, 30.0, np.float32), "fwhm": rng.uniform(1.5, 4, n).astype(np.float32),
        })
        cut = self._cutouts(n, oids, candid, pid, jd)
        version = ztf_survey.ztf_schemavsn(self.night)
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
                fields=list(ztf_survey.MULENS_STRUCT))
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
            mkeys = pa.array(["HyperLEDA_name", "2MASS_name", "lum_dist", "ang_dist"] * n, pa.string())
            items = pa.array(["None"] * (4 * n), pa.string())
            columns["mangrove"] = pa.MapArray.from_arrays(pa.array(np.arange(0, 4 * n + 1, 4, dtype=np.int32)), mkeys, items,
                                                          type=ztf_survey.MANGROVE)
            few = ndethist < 3
            columns["anomaly_score"] = _arr(rng.normal(-0.45, 0.1, n), pa.float64(), few)
            for band_fid, band in ((1, "g"), (2, "r")):
                feats = {name: rng.normal(0, 1, n) for name in ztf_survey.LC_FEATURE_NAMES}
                # the mean magnitude of the band over the light curve (history detections + tonight)
                hm = h_det & (h_fid == band_fid)
                tot = np.bincount(h_owner[hm], weights=h_mag[hm], minlength=n) + np.where(fid == band_fid, magpsf, 0)
                cnt = np.bincount(h_owner[hm], minlength=n) + (fid == band_fid)
                feats["mean"] = np.where(cnt > 0, tot / np.maximum(cnt, 1), magpsf)
                st = _struct(rng, ztf_survey.LC_FEATURES, n, feats)
                columns[f"lc_features_{band}"] = pa.StructArray.from_arrays(
                    [st.field(i) for i in range(st.type.num_fields)], fields=list(ztf_survey.LC_FEATURES),
                    mask=pa.array(few | (cnt < 2)))
        return pa.RecordBatch.from_arrays([columns[f.name] for f in self.schema], schema=self.schema)

    def _history(self, rows, slots, jd, alert_key, sso_kind):
        """``prv_candidates`` of each alert: the observed epochs of its source over the 30 previous
        nights (and tonight's first slot), oldest first; detections with their measurements,
        the other epochs as upper limits (null candid/magpsf/sigmapsf/ra/dec, diffmaglim set).

        Returns (list array, owner, detected, magpsf, fid) of the flattened entries."""
        n = len(rows)
        win = self.pop.window
        # epoch grid per alert: nights N-30 .. N, both slots -> (n, 2 * (win + 1))
        back = np.repeat(np.arange(win, -1, -1), objects.SLOTS)
        eslot = np.tile(np.arange(objects.SLOTS), win + 1)
        e_night = self.ordinal - back
        before = (back > 0) | (eslot < slots[:, None])
        owner = np.repeat(np.arange(n), len(back)).reshape(n, -1)[before]
        e_night = np.broadcast_to(e_night, (n, len(back)))[before]
        e_slot = np.broadcast_to(eslot, (n, len(back)))[before]
        e_rows = rows[owner]
        key = np.where(sso_kind[owner], alert_key[owner], self.pop.a["key"][e_rows])
        ob = self.pop.observe(e_rows, e_night, e_slot, key=key)
        i = ob["idx"]
        owner, e_night, e_slot, e_rows = owner[i], e_night[i], e_slot[i], e_rows[i]
        keep = ob["jd"] > jd[owner] - win
        owner, e_night, e_slot, e_rows = owner[keep], e_night[keep], e_slot[keep], e_rows[keep]
        ob = {k: v[keep] for k, v in ob.items() if k != "idx"}
        det = ob["detected"] & ~sso_kind[owner]     # an asteroid was elsewhere on earlier nights
        total = len(owner)
        counts = np.bincount(owner, minlength=n)
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(counts, out=offsets[1:])
        pkey = ob["key"]
        nid = (e_night - NID0.toordinal()).astype(np.int64)
        ppid = nid * 10**9 + _digits(pkey, e_night, e_slot, objects.PID, 9)
        pcandid = ppid * 10**6 + _digits(pkey, e_night, e_slot, objects.CAND, 6)
        pra, pdec = self.pop.position(e_rows, ob["jd"])
        pra = (pra + 0.06 / 3600 * objects.gauss(pkey, e_night, e_slot, objects.POS) / np.cos(np.radians(pdec))) % 360
        pdec = pdec + 0.06 / 3600 * objects.gauss(pkey, e_night, e_slot, objects.POS3)
        pfid = np.where(ob["band"] == 1, 1, 2).astype(np.int32)
        upper = ~det
        a = self.pop.a
        positive = (ob["true_mag"] <= a["m0"][e_rows] + np.where(ob["band"] == 1, a["color"][e_rows], 0)) | \
            np.isin(a["kind"][e_rows], [objects.SN, objects.KN, objects.ML, objects.ONEOFF])
        values = {
            "jd": ob["jd"], "fid": pfid, "pid": ppid, "diffmaglim": ob["lim"].astype(np.float32),
            "programid": np.ones(total, np.int32), "rbversion": np.full(total, "t17_f5_c3", dtype=object),
            "programpi": np.full(total, "Kulkarni", dtype=object),
            "pdiffimfilename": np.full(total, "ztf_programid1_scimrefdiffimg.fits", dtype=object),
        }
        masked = {"candid": pcandid, "magpsf": ob["mag"].astype(np.float32), "sigmapsf": ob["sigma"].astype(np.float32),
                  "ra": pra, "dec": pdec, "isdiffpos": np.where(positive, "t", "f").astype(object),
                  "nid": nid.astype(np.int32)}
        rng = self.rng
        arrays = []
        for f in self.prv_type:
            if f.name in values:
                arrays.append(pa.array(values[f.name], type=f.type))
            elif f.name in masked:
                arrays.append(_arr(masked[f.name], f.type, upper))
            elif pa.types.is_string(f.type):
                arrays.append(pa.array(np.where(upper, None, "x"), type=f.type))
            else:
                g = _generic(rng, f.type, total, f.name)
                mask = upper | g.is_null().to_numpy(zero_copy_only=False)
                arrays.append(_arr(g.fill_null(0).to_numpy(zero_copy_only=False), f.type, mask))
        struct = pa.StructArray.from_arrays(arrays, fields=list(self.prv_type))
        prv = pa.ListArray.from_arrays(pa.array(offsets), struct, type=pa.list_(self.prv_type))
        return prv, owner, det, ob["mag"], pfid

    def _cutouts(self, n, oids, candid, pid, jd) -> dict:
        """The three stamps of each alert; the per-alert header cards are formatted once per alert
        (same bytes as ``cutouts.unique_cards``), the images come from the seeded bank."""
        rng = self.rng
        picks = rng.integers(0, self.bank.size, (3, n)).tolist()
        cut_type = self.schema.field("cutoutScience").type
        kinds = cutouts.KINDS
        typ = [cutouts._card("STAMPTYP", f"'{kind:<8}'") for kind in kinds]
        pieces = ([], [], [])
        names = ([], [], [])
        for i, (oid, c, p, t) in enumerate(zip(oids, candid.tolist(), pid.tolist(), jd.tolist())):
            head = cutouts._card("OBJECT", f"'{oid}'") + cutouts._card("CANDID", str(c))
            tail = cutouts._card("OBSJD", f"{t:.6f}")
            files = cutouts.file_names(c, p)
            for k in range(3):
                pieces[k].append(self.bank.stamp(kinds[k], picks[k][i], head + typ[k] + tail))
                names[k].append(files[k])
        return {col: pa.StructArray.from_arrays([pa.array(names[k], pa.string()), _binary(pieces[k])], fields=list(cut_type))
                for k, col in enumerate(ztf_survey.CUTOUT_COLUMNS)}


# --------------------------------------------------------------------------- ELASTICC

class ElasticcNight:
    """ELASTICC v0_9 rows + brokerIngestTimestamp, timestamp, classId (v1 taxonomy), from a population.

    The same ``diaObjectId`` comes back night after night; ``diaSource`` is tonight's detection,
    ``prvDiaSources`` the source's earlier detections and ``prvDiaForcedSources`` the forced
    photometry of every earlier epoch (detected or not) of the history window.
    """

    BANDS = np.array(list("ugrizY"), dtype=object)
    ZP = 27.5  # ELASTICC FLUXCAL zero point: flux = 10 ** (-0.4 * (mag - 27.5))

    def __init__(self, night: dt.date, seed: int, population: objects.Population | None = None):
        self.night = night
        self.era = "v0_9"
        self.schema = schemas.era_arrow_schema("elasticc", "v0_9")
        self.rng = np.random.default_rng([seed, night.toordinal(), 7])
        self.pop = population if population is not None else elasticc_population(seed)
        self.ordinal = night.toordinal()
        self.tns_rows: list = []
        self.plan = None

    def plan_night(self, n_alerts: int) -> int:
        rows, slots = self.pop.plan_night(self.rng, self.ordinal, n_alerts)
        self.pop.new_rows = []
        obs = self.pop.observe(rows, self.ordinal, slots)
        order = np.argsort(obs["jd"], kind="stable")
        self.plan = (rows[order], slots[order], {k: v[order] for k, v in obs.items()})
        return len(rows)

    def _ids(self, key, night, slot) -> np.ndarray:
        return (objects.hash64(key, night, slot, objects.CAND) >> np.uint64(12)).astype(np.int64)

    def _flux(self, mag, sigma_mag, key, night, slot):
        """Fluxes of an epoch: the model flux + a Gaussian error (can be negative, as forced photometry)."""
        true = 10 ** (-0.4 * (np.minimum(mag, 40) - self.ZP))
        err = np.maximum(true * sigma_mag / 1.0857, 10 ** (-0.4 * (self.pop.depth + 1.5 - self.ZP)))
        flux = true + err * objects.gauss(key, night, slot, objects.NOISE2)
        return flux.astype(np.float32), err.astype(np.float32)

    def _sources(self, typ, n, ids, obj, mjd, band, ra, dec, flux, err):
        rng = self.rng
        vals = {"diaSourceId": ids, "diaForcedSourceId": ids, "ccdVisitId": rng.integers(10**5, 10**7, n),
                "diaObjectId": obj, "parentDiaSourceId": pa.nulls(n, pa.int64()), "midPointTai": mjd,
                "filterName": self.BANDS[band], "ra": ra, "decl": dec,
                "psFlux": flux, "psFluxErr": err, "snr": (flux / err).astype(np.float32),
                "nobs": rng.integers(1, 300, n).astype(np.float32), "totFlux": flux * 1.1, "totFluxErr": err * 1.1,
                "diaNoise": err}
        return _struct(rng, typ, n, {f.name: vals[f.name] for f in typ if f.name in vals})

    def chunk(self, start: int, n: int) -> pa.RecordBatch:
        parts = self.history_parts(start, n)
        return self.assemble(parts)

    def history_parts(self, start: int, n: int) -> dict:
        """Tonight's sources and their histories (shared with the LSST generator, same model)."""
        if self.plan is None:
            self.plan_night(n)
            start = 0
        rows, slots, obs = self.plan
        sl = slice(start, start + n)
        rows, slots, obs = rows[sl], slots[sl], {k: v[sl] for k, v in obs.items()}
        n = len(rows)
        rng, pop, a = self.rng, self.pop, self.pop.a
        t = {f.name: f.type for f in self.schema}
        keys = a["key"][rows]
        obj = (keys >> np.uint64(34)).astype(np.int64) + 10**6
        mjd = obs["jd"] - 2400000.5
        ra, dec = pop.position(rows, obs["jd"])
        src_ids = self._ids(keys, self.ordinal, slots)
        flux, err = self._flux(obs["true_mag"], obs["sigma"], keys, self.ordinal, slots)
        dia_src = self._sources(t["diaSource"], n, src_ids, obj, mjd, obs["band"], ra, dec, flux, err)

        # history: every earlier epoch of the window (forced photometry), detections also as sources
        win = pop.window
        back = np.repeat(np.arange(win, -1, -1), objects.SLOTS)
        eslot = np.tile(np.arange(objects.SLOTS), win + 1)
        before = (back > 0) | (eslot < slots[:, None])
        owner = np.repeat(np.arange(n), len(back)).reshape(n, -1)[before]
        e_night = np.broadcast_to(self.ordinal - back, (n, len(back)))[before]
        e_slot = np.broadcast_to(eslot, (n, len(back)))[before]
        ob = pop.observe(rows[owner], e_night, e_slot)
        i = ob["idx"]
        owner, e_night, e_slot = owner[i], e_night[i], e_slot[i]
        e_rows = rows[owner]
        started = e_night >= a["first_night"][e_rows] - 5     # forced photometry starts near the first detection
        keep = np.isin(a["kind"][e_rows], [objects.SN, objects.KN, objects.ML]) & ~started
        keep = ~keep
        owner, e_night, e_slot, e_rows = owner[keep], e_night[keep], e_slot[keep], e_rows[keep]
        ob = {k: v[keep] for k, v in ob.items() if k != "idx"}
        pkey = ob["key"]
        pflux, perr = self._flux(ob["true_mag"], ob["sigma"], pkey, e_night, e_slot)
        pmjd = ob["jd"] - 2400000.5
        pra, pdec = pop.position(e_rows, ob["jd"])
        pids = self._ids(pkey, e_night, e_slot)

        def hist(typ, sel):
            counts = np.bincount(owner[sel], minlength=n)
            offsets = np.zeros(n + 1, dtype=np.int32)
            np.cumsum(counts, out=offsets[1:])
            st = self._sources(typ, int(sel.sum()), pids[sel], obj[owner[sel]], pmjd[sel], ob["band"][sel],
                               pra[sel], pdec[sel], pflux[sel], perr[sel])
            return pa.ListArray.from_arrays(pa.array(offsets), st, type=pa.list_(typ))

        prv = hist(t["prvDiaSources"].value_type, ob["detected"])
        forced = hist(t["prvDiaForcedSources"].value_type, np.ones(len(owner), bool))
        first_mjd = np.full(n, np.inf)
        det = ob["detected"]
        np.minimum.at(first_mjd, owner[det], pmjd[det])
        return dict(n=n, rows=rows, slots=slots, obs=obs, keys=keys, obj=obj, mjd=mjd, ra=ra, dec=dec,
                    src_ids=src_ids, flux=flux, err=err, dia_src=dia_src, prv=prv, forced=forced, t=t,
                    first_mjd=np.minimum(first_mjd, mjd), n_prv=np.bincount(owner[det], minlength=n))

    def assemble(self, p: dict) -> pa.RecordBatch:
        n, rows, keys, obj, mjd, src_ids = p["n"], p["rows"], p["keys"], p["obj"], p["mjd"], p["src_ids"]
        dia_src, prv, forced, t = p["dia_src"], p["prv"], p["forced"], p["t"]
        rng, pop, a = self.rng, self.pop, self.pop.a
        nondet_t = t["prvDiaNondetectionLimits"].value_type
        nondet = pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, np.int32)), _struct(rng, nondet_t, 0, {}),
                                          type=pa.list_(nondet_t))
        objtype = t["diaObject"]
        host = {f.name: objects.unit(keys, -1 - k, 0, objects.POS4).astype(np.float32)  # per source, not per alert
                for k, f in enumerate(f for f in objtype if f.name.startswith(("mwebv", "z_final", "hostgal")))}
        dia_obj = _struct(rng, objtype, n, {"diaObjectId": obj, "ra": a["ra"][rows], "decl": a["dec"][rows],
                                            "simVersion": np.full(n, "v1", dtype=object), **host})
        class_id = np.array(pop.labels, dtype=np.int32)[a["label"][rows]]
        self.last_labels = (class_id.astype(str), np.full(n, "Unknown", dtype=object))
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


# ELASTICC class -> brightness model (v1 taxonomy, engine.taxonomy.ELASTICC_V1_NAMES)
ELASTICC_KINDS = {111: objects.SN, 112: objects.SN, 113: objects.SN, 114: objects.SN, 115: objects.SN,
                  121: objects.KN, 122: objects.KN, 123: objects.PERIODIC, 124: objects.ML,
                  131: objects.SN, 132: objects.SN, 133: objects.SN, 134: objects.SN, 135: objects.SN,
                  211: objects.PERIODIC, 212: objects.PERIODIC, 213: objects.PERIODIC, 214: objects.PERIODIC,
                  215: objects.PERIODIC, 221: objects.AGN}
# LSST bands ugrizY: visit shares (WFD-like) and colour weights (r = reference, > 0 bluer)
LSST_BANDS = ((0.07, 1.8), (0.10, 1.0), (0.22, 0.0), (0.22, -0.5), (0.20, -0.8), (0.19, -1.0))


def elasticc_population(seed: int) -> objects.Population:
    """ELASTICC sources: the real per-class counts of Fink's lake, the LSST southern footprint,
    LSST depth (~23.6 mag 5-sigma) and bands, 45 nights of history (forced photometry)."""
    counts = taxonomy.elasticc_class_counts()
    ids = list(counts)
    return objects.Population([str(c) for c in ids], np.array(list(counts.values()), dtype=float), seed,
                              sky=lambda rng, kinds: sky.draw(rng, kinds, sky.LSST_DEC), epoch_jd=epoch_jd,
                              kinds=[ELASTICC_KINDS.get(int(c), objects.SN) for c in ids],
                              min_dec=sky.LSST_DEC[0], depth=23.6, bands=LSST_BANDS, window=45)


# --------------------------------------------------------------------------- real samples

def sample_batches(survey: str, era: str) -> tuple[list[pa.RecordBatch], list[tuple[float, float, str]]]:
    """Real alerts shipped in the repo for one era, conformed to the era's schema, + their TNS rows."""
    from engine import surveys

    return surveys.get(survey).sample_batches(era)


def sample_file_batches(survey, era: str, name: str | None):
    """A sample file of ``SAMPLES_DIR`` conformed to the era's schema, + its TNS rows (tnsclass)."""
    from engine.archive.unify import conform_batch

    if not name or not (SAMPLES_DIR / name).exists():
        return [], []
    table = pq.read_table(SAMPLES_DIR / name)
    tns = []
    if "tnsclass" in table.column_names and "candidate" in table.column_names:
        for r, d, c in zip(table.column("candidate").combine_chunks().field("ra").to_pylist(),
                           table.column("candidate").combine_chunks().field("dec").to_pylist(),
                           table.column("tnsclass").to_pylist()):
            if c and c != "Unknown":
                tns.append((r, d, c[len(taxonomy.TNS_PREFIX):]))
    schema = schemas.era_arrow_schema(survey.name, era)
    return [conform_batch(table, schema)], tns


# --------------------------------------------------------------------------- build

def check_build_args(survey: str, start: dt.date, nights: int, per_night: int) -> None:
    from engine import surveys

    surveys.check(survey)
    if nights <= 0:
        raise UserError(f"--nights must be a positive number of nights (got {nights})")
    if per_night <= 0:
        raise UserError(f"--alerts-per-night must be positive (got {per_night})")
    if per_night >= 10**6:
        raise UserError("--alerts-per-night must be below 1 000 000 (candid numbering)")
    surveys.get(survey).check_build(start)


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
    from engine import surveys

    kind = surveys.get(survey)
    bank = cutouts.StampBank(seed) if kind.needs_stamp_bank else None
    tns_rows: list = []
    samples_done: set[str] = set()
    total = 0
    population = warm_population(survey, seed, start, alerts_per_night)
    for night in night_list:
        gen = kind.night_generator(night, seed, population, bank)
        gen.plan_night(alerts_per_night)
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
        population.retire(night.toordinal() + 1)
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


BURN_IN_NIGHTS = 40


def warm_population(survey: str, seed: int, start: dt.date, alerts_per_night: int) -> objects.Population:
    """A population already in its steady state on the first night: the nights before the start
    are planned (sources created, detected, retired) without writing anything, so the first
    night's alerts have earlier detections and the mix of new and returning sources of any night."""
    from engine import surveys

    pop = surveys.get(survey).population(seed)
    rng = np.random.default_rng([seed, start.toordinal(), 17])
    first = start.toordinal()
    for night in range(first - BURN_IN_NIGHTS, first):
        pop.plan_night(rng, night, alerts_per_night)
        pop.new_rows = []
        pop.retire(night + 1)
    pop.new_rows = [np.arange(len(pop))]  # the first night registers the survivors (their TNS entries)
    return pop


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
