"""Explore's object picker and light curve on object-based archive data (Full and Lightcurve contents)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from components import alerts, charts
from engine import content
from engine.archive import cutouts
from engine.archive.generator import ZtfNight, warm_population
from engine.classification import classify_batch


def _two_nights():
    pop = warm_population("ztf", 3, dt.date(2022, 8, 1), 400)
    batches = []
    for d in range(2):
        gen = ZtfNight(dt.date(2022, 8, 1) + dt.timedelta(days=d), 3, cutouts.StampBank(0, size=2), pop)
        gen.plan_night(400)
        batches.append(classify_batch(gen.chunk(0, 400)))
        pop.retire(gen.ordinal + 1)
    return batches


def test_full_content_light_curve_has_alerts_history_and_upper_limits():
    df = alerts.to_pandas(pa.Table.from_batches(_two_nights()))
    roles = alerts.columns_for(df)
    counts = alerts.alerts_per_object(df, roles)
    ids = list(counts)
    assert counts[ids[0]] >= 2 and list(counts.values()) == sorted(counts.values(), reverse=True)
    obj = ids[0]
    points = alerts.photometry(df, obj, roles)
    assert (points.source == "alert").sum() == counts[obj]
    limits = points[points.source == "upper limit"]
    assert len(limits) > 0 and limits.error.isna().all()
    assert set(points.band) <= {"g", "r"}
    # an upper limit is the diffmaglim of a history epoch without detection
    prv = [p for lst in df[df.objectId == obj].prv_candidates for p in lst if p["magpsf"] is None]
    assert set(round(p["diffmaglim"], 4) for p in prv) >= set(limits.value.round(4))
    fig = charts.light_curve(points, obj)
    symbols = {tr.marker.symbol for tr in fig.data}
    assert "triangle-down-open" in symbols and "circle" in symbols


def test_lightcurve_content_light_curve_groups_the_alerts():
    batches = _two_nights()
    light = pa.Table.from_batches([content.project(b, "ztf", "lightcurve") for b in batches])
    df = alerts.to_pandas(light)
    roles = alerts.columns_for(df)
    assert roles.history is None
    counts = alerts.alerts_per_object(df, roles)
    obj = next(iter(counts))
    points = alerts.photometry(df, obj, roles)
    assert len(points) == counts[obj] >= 2 and set(points.source) == {"alert"}
