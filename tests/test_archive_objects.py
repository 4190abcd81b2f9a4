"""Object-based synthetic archive: sources come back night after night, histories agree with earlier
alerts, positions follow the footprint and the Galaxy, light curves follow their class."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from engine import content
from engine.archive import layout, objects, reader, sky
from engine.archive.generator import build_archive, ztf_population
from engine.classification import TnsCatalog, classify_batch
from tests.helpers import MONTH_NIGHTS, MONTH_START, generated_ztf_nights


def _alerts(table) -> pd.DataFrame:
    cand = table.column("candidate").combine_chunks()
    df = pd.DataFrame({"objectId": table.column("objectId").to_numpy(zero_copy_only=False),
                       "candid": table.column("candid").to_numpy(),
                       "finkclass": table.column("finkclass").to_numpy(zero_copy_only=False)})
    for f in ("jd", "fid", "magpsf", "ra", "dec", "ndethist", "jdstarthist", "ssnamenr"):
        df[f] = pc.struct_field(cand, f).to_numpy(zero_copy_only=False)
    return df


def _history(table) -> pd.DataFrame:
    prv = table.column("prv_candidates").combine_chunks()
    owner = np.repeat(np.arange(len(prv)), pc.list_value_length(prv).fill_null(0).to_numpy())
    flat = prv.flatten()
    out = pd.DataFrame({"owner": owner})
    for f in ("jd", "fid", "magpsf", "sigmapsf", "diffmaglim"):
        out[f] = pc.struct_field(flat, f).to_numpy(zero_copy_only=False)
    out["candid"] = pc.struct_field(flat, "candid").fill_null(-1).to_numpy()  # int64: 19 digits, no float
    out["detected"] = out.candid >= 0
    return out


def test_history_of_a_later_alert_holds_the_earlier_alerts(ztf_month):
    _, table = ztf_month
    df = _alerts(table)
    hist = _history(table)
    df["night"] = np.floor(df.jd - 0.5).astype(int)
    # pairs (earlier alert, later alert) of one object on two nights less than 29 days apart
    pairs = df.reset_index().merge(df.reset_index(), on="objectId", suffixes=("_1", "_2"))
    pairs = pairs[(pairs.night_1 < pairs.night_2) & (pairs.jd_2 - pairs.jd_1 < 29)]
    assert len(pairs) > 500
    det = hist[hist.detected]
    found = pairs.merge(det, left_on=["index_2", "candid_1"], right_on=["owner", "candid"])
    assert len(found) == len(pairs)  # every earlier alert is in the later alert's history ...
    assert np.allclose(found.jd_1, found.jd) and (found.fid_1 == found.fid).all()  # ... as the same point
    assert np.allclose(found.magpsf_1, found.magpsf, atol=1e-4)


def test_alerts_per_object_median_and_long_tail(ztf_month):
    _, table = ztf_month
    per = pd.Series(table.column("objectId").to_numpy(zero_copy_only=False)).value_counts()
    df = _alerts(table)
    nights = df.assign(night=np.floor(df.jd - 0.5)).groupby("objectId").night.nunique()
    multi = per[nights[nights > 1].index]
    assert len(multi) > 200
    assert multi.median() >= 3                      # several alerts per multi-night object
    assert multi.max() >= 3 * multi.median()        # and a long tail
    assert 2.0 <= table.num_rows / len(per) <= 4.5  # docs/archive.md: 2-4.5 alerts per object and ztf_month


def test_ztf_footprint_and_galactic_plane(ztf_month):
    _, table = ztf_month
    df = _alerts(table)
    assert (df.dec < -31).sum() == 0 and df.dec.min() > -30.01
    first = df.drop_duplicates("objectId")
    b = sky.galactic_latitude(first.ra.to_numpy(), first.dec.to_numpy())
    stellar = first.finkclass.isin(["RRLyr", "EB*", "Mira", "LPV*", "V*", "EB*_Candidate", "LP*_Candidate", "Star"]).to_numpy()
    extragalactic = first.finkclass.isin(["QSO", "Seyfert_1", "SN candidate", "BLLac"]).to_numpy()
    assert stellar.sum() > 100 and extragalactic.sum() > 20
    assert (b[stellar] < 15).mean() > 2 * (b[extragalactic] < 15).mean()


def test_magnitude_percentiles_within_documented_ranges(ztf_month):
    _, table = ztf_month
    mag = _alerts(table).magpsf.to_numpy()
    p5, p50, p95 = np.percentile(mag, [5, 50, 95])
    # real (data.md 6.3): 14.6 / 17.9 / 19.6
    assert 13.8 <= p5 <= 16.0 and 17.0 <= p50 <= 18.8 and 19.0 <= p95 <= 20.3


def test_history_counts_follow_the_history(ztf_month):
    _, table = ztf_month
    df = _alerts(table)
    hist = _history(table)
    ndet = hist[hist.detected].groupby("owner").size().reindex(range(len(df)), fill_value=0).to_numpy()
    assert (df.ndethist.to_numpy() >= ndet + 1).all()
    first_det = hist[hist.detected].groupby("owner").jd.min()
    assert (df.jdstarthist.to_numpy()[first_det.index] <= first_det.to_numpy() + 1e-6).all()
    upper = hist[~hist.detected]
    assert upper.magpsf.isna().all() and upper.diffmaglim.notna().all() and len(upper) > len(hist) * 0.4


def test_sn_candidate_light_curves_rise_then_fade(ztf_month):
    _, table = ztf_month
    df = _alerts(table)
    hist = _history(table)
    sn = df[df.finkclass == "SN candidate"]
    assert sn.objectId.nunique() >= 5
    # the light curve a user rebuilds: every alert of the object and the detections of their histories
    shapes = []
    for oid, alerts in sn.groupby("objectId"):
        pts = pd.concat([alerts[["jd", "fid", "magpsf"]],
                         hist[hist.owner.isin(alerts.index) & hist.detected][["jd", "fid", "magpsf"]]])
        pts = pts[pts.fid == 2].drop_duplicates("jd").sort_values("jd")
        if len(pts) < 6 or np.ptp(pts.jd) < 15:
            continue
        m = pts.magpsf.to_numpy()
        peak = m.argmin()
        shapes.append(0 < peak < len(m) - 1 and m[0] - m[peak] > 0.2 and m[-1] - m[peak] > 0.2)
    assert len(shapes) >= 3
    assert np.mean(shapes) >= 0.6


def test_solar_system_objects_move_and_keep_their_ssnamenr(ztf_month):
    _, table = ztf_month
    df = _alerts(table)
    hist = _history(table)
    mpc = df[df.finkclass == "Solar System MPC"]
    again = mpc.groupby("ssnamenr").filter(lambda g: np.floor(g.jd - 0.5).nunique() > 1)
    assert again.ssnamenr.nunique() > 10
    for _, g in list(again.groupby("ssnamenr"))[:20]:
        g = g.sort_values("jd")
        assert g.objectId.nunique() == np.floor(g.jd - 0.5).nunique()  # a new objectId each night
        assert np.ptp(g.ra.to_numpy()) * 3600 > 60                      # it moved
    sso_hist = hist[hist.owner.isin(mpc.index)]
    assert not sso_hist.detected.any()  # nothing was detected at tonight's position before


def test_classifier_reproduces_labels_of_returning_sources():
    rows = []
    for gen, batch in generated_ztf_nights(9, dt.date(2023, 3, 1), 2, 2000):
        rows += gen.tns_rows
        tns = TnsCatalog.from_arrays([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
        out = classify_batch(batch, tns)
        assert out.column("finkclass").to_pylist() == list(gen.last_labels[0])
        assert out.column("tnsclass").to_pylist() == list(gen.last_labels[1])
    returning = pc.list_value_length(batch.column("prv_candidates")).to_numpy() > 0
    assert returning.mean() > 0.5


def test_population_does_not_grow_with_the_nights():
    pop = ztf_population(2)
    rng = np.random.default_rng(0)
    sizes = []
    for night in range(700_000, 700_090):
        pop.plan_night(rng, night, 1000)
        pop.new_rows = []
        pop.retire(night + 1)
        sizes.append(len(pop))
    assert sizes[-1] < 1.25 * sizes[45] and max(sizes[45:]) < 1.4 * sizes[45]


def test_counter_based_draws_are_reproducible():
    key = np.array([1, 2, 3], dtype=np.uint64)
    a = objects.unit(key, 738000, 1, objects.NOISE)
    assert np.array_equal(a, objects.unit(key, 738000, 1, objects.NOISE))
    assert not np.array_equal(a, objects.unit(key, 738001, 1, objects.NOISE))
    z = objects.gauss(np.arange(20000, dtype=np.uint64), 5, 0, objects.NOISE)
    assert abs(z.mean()) < 0.05 and 0.95 < z.std() < 1.05


def test_elasticc_sources_come_back_with_their_history(tmp_path):
    out = tmp_path / "el"
    build_archive("elasticc", dt.date(2026, 1, 10), 12, 300, out, seed=2, progress=False, write_index=False,
                  with_samples=False)
    t = reader.read_table(out, reader.list_nights(out), columns=["diaObject", "diaSource", "prvDiaSources",
                                                                "prvDiaForcedSources", "classId"])
    obj = pc.struct_field(t.column("diaObject").combine_chunks(), "diaObjectId").to_numpy()
    src = t.column("diaSource").combine_chunks()
    df = pd.DataFrame({"obj": obj, "src": pc.struct_field(src, "diaSourceId").to_numpy(),
                       "mjd": pc.struct_field(src, "midPointTai").to_numpy(), "cls": t.column("classId").to_numpy()})
    assert df.groupby("obj").cls.nunique().max() == 1  # one class per source
    prv = t.column("prvDiaSources").combine_chunks()
    owner = np.repeat(np.arange(len(prv)), pc.list_value_length(prv).to_numpy())
    h = pd.DataFrame({"owner": owner, "src": pc.struct_field(prv.flatten(), "diaSourceId").to_numpy()})
    pairs = df.reset_index().merge(df.reset_index(), on="obj", suffixes=("_1", "_2"))
    pairs = pairs[(pairs.mjd_2 - pairs.mjd_1 > 0.5) & (pairs.mjd_2 - pairs.mjd_1 < 40)]
    assert len(pairs) > 100
    hit = pairs.merge(h, left_on=["index_2", "src_1"], right_on=["owner", "src"])
    assert len(hit) == len(pairs)
    forced = pc.list_value_length(t.column("prvDiaForcedSources").combine_chunks()).to_numpy()
    assert (forced >= pc.list_value_length(prv).to_numpy()).all()
    dec = pc.struct_field(src, "decl").to_numpy()
    assert dec.max() < sky.LSST_DEC[1] + 0.01


def test_lightcurve_content_groups_into_multi_alert_objects(ztf_month):
    out, _ = ztf_month
    night_files = [layout.night_dir(out, MONTH_START + dt.timedelta(days=d)) / "part-0.parquet" for d in range(MONTH_NIGHTS)]
    ids = []
    for f in night_files:
        batch = pq.read_table(f).to_batches()[0]
        light = content.project(classify_batch(batch), "ztf", "lightcurve")
        ids += light.column("objectId").to_pylist()
    per = pd.Series(ids).value_counts()
    assert per.max() >= 5 and (per >= 2).sum() > 0.2 * len(per)
    assert isinstance(light, (pa.RecordBatch, pa.Table))
