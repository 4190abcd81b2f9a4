"""Synthetic Rubin/LSST nights (schema lsst.v10_0 + Fink's sections), from the shared object model.

The same source model as ELASTICC (``ElasticcNight.history_parts``: one ``diaObject`` per source,
``prvDiaSources`` / ``prvDiaForcedSources`` its earlier points, the southern footprint), written
with Rubin's field names (fluxes in nJy, AB zero point 31.4) and the columns Fink adds
(``clf``, ``xm``, ``pred``, ``misc``, versions, timestamps; ``lc_features`` computed from each
alert's own points by ``engine.archive.lc_features``, as Fink does). Solar-system
sources carry an ``ssSource`` and a null ``diaObject``, as real LSST SSO alerts do.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from engine import schemas
from engine.archive import objects, sky
from engine.archive.lc_features import lc_features
from engine.archive.generator import JD_UNIX0, LSST_BANDS, ElasticcNight, _struct, epoch_jd

RUBIN_DEC = (-75.0, 5.0)  # the Rubin wide-fast-deep footprint, roughly
LABELS = ("SN", "KN", "ML", "periodic", "AGN", "star", "sso", "oneoff")
KINDS = (objects.SN, objects.KN, objects.ML, objects.PERIODIC, objects.AGN, objects.STAR, objects.SSO,
         objects.ONEOFF)
SHARES = (0.12, 0.002, 0.003, 0.25, 0.10, 0.22, 0.05, 0.255)   # ~5 % SSO, as the b_is_solar_system yield
FLAGS = ("isDipole", "pixelFlags", "pixelFlags_bad", "pixelFlags_saturated", "pixelFlags_streakCenter",
         "pixelFlags_interpolated", "pixelFlags_cr", "pixelFlags_nodata", "pixelFlags_streak", "pixelFlags_edge",
         "psfFlux_flag", "apFlux_flag", "forced_PsfFlux_flag", "forced_PsfFlux_flag_edge", "shape_flag",
         "centroid_flag")
SIMBAD_STAR = np.array(["Star", "RRLyr", "EclBin", "LongPeriodV*"], dtype=object)


def lsst_population(seed: int) -> objects.Population:
    return objects.Population(list(LABELS), np.array(SHARES), seed,
                              sky=lambda rng, kinds: sky.draw(rng, kinds, RUBIN_DEC), epoch_jd=epoch_jd,
                              kinds=list(KINDS), min_dec=RUBIN_DEC[0], depth=24.0, bands=LSST_BANDS, window=30)


class LsstNight(ElasticcNight):
    BANDS = np.array(list("ugrizy"), dtype=object)
    ZP = 31.4  # nJy: m = 31.4 - 2.5 log10(flux)

    def __init__(self, night: dt.date, seed: int, population: objects.Population | None = None):
        super().__init__(night, seed, population if population is not None else lsst_population(seed))
        self.era = "v10_0"
        self.schema = schemas.era_arrow_schema("lsst", "v10_0")

    def _sources(self, typ, n, ids, obj, mjd, band, ra, dec, flux, err):
        rng = self.rng
        tmpl = (np.abs(flux) * rng.uniform(0.0, 2.0, n)).astype(np.float32)
        vals = {"diaSourceId": ids, "diaForcedSourceId": ids, "visit": rng.integers(10**5, 10**7, n),
                "detector": rng.integers(0, 189, n).astype(np.int32), "diaObjectId": obj,
                "ssObjectId": pa.nulls(n, pa.int64()), "parentDiaSourceId": pa.nulls(n, pa.int64()),
                "midpointMjdTai": mjd, "band": self.BANDS[band], "ra": ra, "dec": dec,
                "psfFlux": flux, "psfFluxErr": err, "snr": (np.abs(flux) / err).astype(np.float32),
                "scienceFlux": flux + tmpl, "scienceFluxErr": err * 1.05, "templateFlux": tmpl,
                "templateFluxErr": err * 0.5, "reliability": rng.uniform(0, 1, n).astype(np.float32),
                "trailLength": rng.exponential(1.0, n).astype(np.float32),
                "trailFlux": np.abs(flux).astype(np.float32), "isNegative": flux < 0}
        for k, name in enumerate(FLAGS):
            vals[name] = rng.random(n) < (0.02 if k else 0.05)
        return _struct(rng, typ, n, {f.name: vals[f.name] for f in typ if f.name in vals})

    def assemble(self, p: dict) -> pa.RecordBatch:
        n, rows, keys, obj, mjd = p["n"], p["rows"], p["keys"], p["obj"], p["mjd"]
        rng, a, t = self.rng, self.pop.a, p["t"]
        kind = a["kind"][rows]
        sso = kind == objects.SSO
        src = p["dia_src"]
        band = self.BANDS[p["obs"]["band"]]
        flux = np.asarray(p["flux"], dtype=np.float64)
        u = objects.unit(keys, -7, 0, objects.POS4)   # per source, stable across nights
        # diaObject: per-band means from the model (the current band), null record for SSOs
        ndia = p["n_prv"] + 1
        obj_vals = {"diaObjectId": obj, "ra": a["ra"][rows], "dec": a["dec"][rows], "nDiaSources": ndia}
        mean = flux * (1 + 0.3 * objects.gauss(keys, self.ordinal, 1, objects.DIFF))
        for b in self.BANDS:
            here = band == b
            obj_vals[f"{b}_psfFluxMean"] = np.where(here, mean, np.nan).astype(np.float32)
            obj_vals[f"{b}_psfFluxMeanErr"] = np.where(here, np.abs(p["err"]) * 0.5, np.nan).astype(np.float32)
            obj_vals[f"{b}_psfFluxMax"] = np.where(here, np.maximum(mean, flux), np.nan).astype(np.float32)
            obj_vals[f"{b}_psfFluxNdata"] = np.where(here, ndia, 0).astype(np.int32)
        objtype = t["diaObject"]
        dia_obj = _struct(rng, objtype, n, {f.name: obj_vals[f.name] for f in objtype if f.name in obj_vals})
        dia_obj = pa.StructArray.from_arrays([dia_obj.field(i) for i in range(objtype.num_fields)],
                                             fields=list(objtype), mask=pa.array(sso))
        sstype = t["ssSource"]
        ss_id = (keys >> np.uint64(20)).astype(np.int64)
        ss = _struct(rng, sstype, n, {"ssObjectId": ss_id, "diaSourceId": p["src_ids"],
                                      "phaseAngle": rng.uniform(0, 40, n).astype(np.float32),
                                      "diaDistanceRank": np.ones(n, np.int32)})
        ss = pa.StructArray.from_arrays([ss.field(i) for i in range(sstype.num_fields)], fields=list(sstype),
                                        mask=pa.array(~sso))
        mpctype = t["mpc_orbits"]
        desig = np.array([f"K26A{int(i) % 100:02d}{chr(65 + int(i) % 26)}" for i in ss_id], dtype=object)
        mpc = _struct(rng, mpctype, n, {"packed_primary_provisional_designation": desig,
                                        "unpacked_primary_provisional_designation": desig})
        mpc = pa.StructArray.from_arrays([mpc.field(i) for i in range(mpctype.num_fields)], fields=list(mpctype),
                                         mask=pa.array(~sso))
        # Fink sections
        star = np.isin(kind, objects.STELLAR)
        host = (kind == objects.SN) | (kind == objects.KN)
        simbad = np.where(star & (u < 0.6), SIMBAD_STAR[(u * 40).astype(int) % 4],
                          np.where(host & (u < 0.3), "Galaxy", np.where(kind == objects.AGN, "QSO", "Unknown")))
        dr3 = np.where(star & (u < 0.8), np.array([f"Gaia DR3 {k % 10**15}" for k in keys.tolist()], dtype=object), None)
        plx = np.where(star, rng.uniform(0.1, 5, n), np.nan).astype(np.float32)
        tns_name = np.where(host & (u > 0.9), np.array([f"2026{chr(97 + k % 26)}bc" for k in keys.tolist()], dtype=object), None)
        xm = {"simbad_otype": simbad, "gaiadr3_DR3Name": dr3, "gaiadr3_Plx": plx,
              "gaiadr3_e_Plx": (plx * 0.1).astype(np.float32),
              "legacydr8_zphot": np.where(host, 0.05 + 0.4 * u, np.nan).astype(np.float32),
              "tns_fullname": tns_name, "tns_type": np.where(tns_name != None, "SN Ia", None),  # noqa: E711
              "mangrove_lum_dist": np.where(host & (u < 0.05), 100 + 400 * u, np.nan).astype(np.float32),
              "vsx_Type": np.where((kind == objects.PERIODIC) & (u < 0.05), "RRAB", None)}
        xmtype = t["xm"]
        xm = _struct(rng, xmtype, n, {f.name: xm.get(f.name, pa.nulls(n, f.type)) for f in xmtype})
        snn = np.where(host, 0.5 + 0.5 * u, 0.3 * u).astype(np.float32)
        cats = np.where(host, 11, np.where(star, 21, 31)).astype(np.int32)
        clftype = t["clf"]
        clf = _struct(rng, clftype, n, {"snnSnVsOthers_score": snn, "cats_class": cats,
                                        "cats_score": (0.5 + 0.5 * u).astype(np.float32),
                                        "earlySNIa_score": np.where(host, u, 0.0),
                                        "elephant_kstest_science": rng.uniform(0, 1, n).astype(np.float32),
                                        "elephant_kstest_template": rng.uniform(0, 1, n).astype(np.float32)})
        predtype = t["pred"]
        pred = _struct(rng, predtype, n, {"is_sso": sso, "is_first": ndia == 1,
                                          "is_cataloged": (simbad != "Unknown") | (dr3 != None),  # noqa: E711
                                          "main_label_classifier": cats, "main_label_crossmatch": simbad})
        misc = _struct(rng, t["misc"], n, {"firstDiaSourceMjdTaiFink": p["first_mjd"]})
        ingest_mjd = mjd + rng.uniform(0.01, 0.2, n)
        start_us = np.round((ingest_mjd + 2400000.5 - JD_UNIX0) * 86400e6).astype(np.int64)
        columns = {
            "diaSourceId": pa.array(p["src_ids"], pa.int64()), "observation_reason": pa.array(["wfd"] * n),
            "target_name": pa.array([""] * n), "diaSource": src, "prvDiaSources": p["prv"],
            "prvDiaForcedSources": p["forced"], "diaObject": dia_obj, "ssSource": ss, "mpc_orbits": mpc,
            "brokerIngestMjd": pa.array(ingest_mjd), "lsst_schema_version": pa.array(["lsst.v10_0"] * n),
            "brokerStartProcessTimestamp": pa.array(start_us, pa.timestamp("us")),
            "fink_broker_version": pa.array(["4.1"] * n), "fink_science_version": pa.array(["8.39.0"] * n),
            "publisher": pa.array(["Fink"] * n), "clf": clf, "xm": xm, "pred": pred, "misc": misc,
            "lc_features": lc_features(src, p["prv"], self.schema.field("lc_features").type),
            "brokerEndProcessTimestamp": pa.array(start_us + 60_000_000, pa.timestamp("us")),
            "timestamp": pa.array(np.round((mjd + 2400000.5 - JD_UNIX0) * 86400e6).astype(np.int64), pa.timestamp("us")),
        }
        self.last_labels = (np.full(n, "Unknown", dtype=object), np.full(n, "Unknown", dtype=object))
        self.tns_rows += [(r, d, "SN Ia") for r, d, nm in zip(p["ra"], p["dec"], tns_name) if nm is not None]
        out = [columns[f.name] if f.name in columns else pa.nulls(n, f.type) for f in self.schema]
        return pa.RecordBatch.from_arrays(out, schema=self.schema)
