"""Fink's ``lc_features`` of an LSST alert, computed from its own light curve.

What Fink does (fink-science ``rubin/ad_features/processor.py``, Apache-2.0): the points are the
alert's ``diaSource`` plus its ``prvDiaSources`` (``midpointMjdTai``, ``psfFlux`` and
``psfFluxErr`` in nJy, ``band``); rows with a NaN are dropped, the rest sorted by time with
duplicate times removed; then, per band of ``ugrizy``, the 22 extractors of the ``light-curve``
package (26 values: Mean, WeightedMean, ..., LinearFit's three, StetsonK) run on flux, not
magnitude, with NaN for a feature the band has too few points for (one point: mean, median,
amplitude ... are set, the rest NaN, as in the real sample alerts). The result is a map
band -> record. We use the same package and the same extractors, on all alerts of a batch at
once (``Extractor.many``); points with a non-positive error are left out (the package refuses
them, and Fink's per-band ``try`` would drop the band).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

BANDS = "ugrizy"


def extractor():
    """The extractors of fink-science's ``create_extractor`` (names = the schema's fields)."""
    import light_curve as lc

    return lc.Extractor(
        lc.Mean(), lc.WeightedMean(), lc.StandardDeviation(), lc.Median(), lc.Amplitude(),
        lc.BeyondNStd(nstd=1), lc.Cusum(), lc.InterPercentileRange(quantile=0.1), lc.Kurtosis(),
        lc.LinearTrend(), lc.LinearFit(),
        lc.MagnitudePercentageRatio(quantile_numerator=0.4, quantile_denominator=0.05),
        lc.MagnitudePercentageRatio(quantile_numerator=0.2, quantile_denominator=0.1),
        lc.MaximumSlope(), lc.MedianAbsoluteDeviation(), lc.MedianBufferRangePercentage(quantile=0.1),
        lc.PercentAmplitude(), lc.MeanVariance(), lc.AndersonDarlingNormal(), lc.ReducedChi2(), lc.Skew(),
        lc.StetsonK(),
    )


def _points(src: pa.StructArray, prv: pa.ListArray):
    """(row, time, flux, error, band code or -1) of every point: history first, then the alert."""
    import pandas as pd

    flat = prv.flatten()
    parent = pc.list_parent_indices(prv).to_numpy(zero_copy_only=False)

    def col(name, fill):
        both = [pc.fill_null(s.field(name), fill) for s in (flat, src)]
        return np.concatenate([b.to_numpy(zero_copy_only=False) for b in both])

    row = np.concatenate([parent, np.arange(len(src))]).astype(np.int64)
    t, f, e = (col(k, np.nan).astype(np.float64) for k in ("midpointMjdTai", "psfFlux", "psfFluxErr"))
    band = pd.Categorical(col("band", ""), categories=list(BANDS)).codes.astype(np.int64)
    return row, t, f, e, band


def _take(arrays, index):
    return [a[index] for a in arrays]


def lc_features(src: pa.StructArray, prv: pa.ListArray, typ: pa.MapType) -> pa.Array:
    """The ``lc_features`` column (``typ``: the schema's map type) of alerts ``src`` with history ``prv``."""
    n = len(src)
    row, t, f, e, band = pts = _points(src, prv)
    pts = _take(pts, np.isfinite(t) & np.isfinite(f) & np.isfinite(e) & (e > 0) & (band >= 0))
    pts = _take(pts, np.lexsort((pts[1], pts[0])))           # by alert, then time
    row, t = pts[0], pts[1]
    first = np.ones(len(row), dtype=bool)
    first[1:] = (row[1:] != row[:-1]) | (t[1:] != t[:-1])     # Fink: drop_duplicates(subset="time")
    pts = _take(pts, first)
    row, t, f, e, band = _take(pts, np.lexsort((pts[1], pts[4], pts[0])))   # by alert, band, time
    new_group = np.ones(len(row), dtype=bool)
    new_group[1:] = (row[1:] != row[:-1]) | (band[1:] != band[:-1])
    starts = np.flatnonzero(new_group)
    ends = np.append(starts[1:], len(row))
    names = [fld.name for fld in typ.item_type]
    ext = extractor()
    if list(ext.names) != names:
        raise RuntimeError(f"light-curve feature names {ext.names} differ from the schema's {names}")
    if len(starts):
        curves = [(t[a:b], f[a:b], e[a:b]) for a, b in zip(starts, ends)]
        values = np.asarray(ext.many(curves, sorted=True, fill_value=np.nan, n_jobs=1), dtype=np.float64)
    else:
        values = np.empty((0, len(names)))
    items = pa.StructArray.from_arrays([pa.array(values[:, k]) for k in range(len(names))], fields=list(typ.item_type))
    keys = pa.array(np.array(list(BANDS), dtype=object)[band[starts]], pa.string())
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.add.at(offsets, row[starts] + 1, 1)
    return pa.MapArray.from_arrays(pa.array(np.cumsum(offsets, dtype=np.int32)), keys, items, type=typ)
