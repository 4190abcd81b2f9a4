"""Explore's object picker and light curve on object-based archive data (Full and Lightcurve contents)."""

from __future__ import annotations

import pyarrow as pa

from components import alerts, charts
from engine import content


def test_full_content_light_curve_has_alerts_history_and_upper_limits(two_classified_ztf_nights):
    df = alerts.to_pandas(pa.Table.from_batches(two_classified_ztf_nights))
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


def test_lightcurve_content_light_curve_groups_the_alerts(two_classified_ztf_nights):
    light = pa.Table.from_batches([content.project(b, "ztf", "lightcurve") for b in two_classified_ztf_nights])
    df = alerts.to_pandas(light)
    roles = alerts.columns_for(df)
    assert roles.history is None
    counts = alerts.alerts_per_object(df, roles)
    obj = next(iter(counts))
    points = alerts.photometry(df, obj, roles)
    assert len(points) == counts[obj] >= 2 and set(points.source) == {"alert"}
