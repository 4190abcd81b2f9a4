"""How many alerts and bytes a job will publish, before it runs.

``estimate`` answers from the statistics index alone (milliseconds, no archive read): exact
counts per night x class, bytes from measured Avro sizes. It cannot apply the SQL conditions
(the index has no per-alert values): ``conditions_applied`` is False when there are some.
``exact_count`` reads the archive (the needed columns only), classifies, and applies classes AND
conditions - what the job will really select (minus the limit).

Class semantics are the job's own: ``engine.taxonomy.split_class_selection`` (a row matches if its
finkclass OR its tnsclass is selected).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time

import pandas as pd

from engine.query import JobSpec

# Consumer throughput used for the download-time estimate: our multiprocessing consumer writing
# Parquet on a 2-core machine with 2 processes, 10-12.7k lightcurve alerts/s (docs/benchmarks.md,
# "Consumer"). The byte limit is not measured for full packets (the broker alone does ~190 MB/s,
# spark.md 3.1); it only matters for cutouts/full content. Whichever limit is hit first decides.
DOWNLOAD_BYTES_PER_S = 40e6
DOWNLOAD_ALERTS_PER_S = 10_000
DOWNLOAD_FIXED_S = 5.0  # consumer start-up + topic metadata + the end-of-topic wait


@dataclasses.dataclass
class Estimate:
    n_alerts: int            # alerts the job would publish (classes applied, limit applied)
    bytes: int               # Avro bytes of those alerts for the chosen content
    total_alerts: int        # every alert in the night range (any class)
    fraction: float          # n_alerts / total_alerts
    download_seconds: float
    per_night: pd.DataFrame  # columns night, class, n_alerts, bytes (the stacked bar chart)
    nights_with_data: int
    conditions_applied: bool  # False: the SQL conditions can only lower these numbers
    seconds: float           # how long the estimate took
    adjustments: str = ""    # what the cross-match / data-set options changed (engine.dataset)


@dataclasses.dataclass
class ExactCount:
    count: int
    seconds: float
    method: str              # "exact" or "extrapolated from N of M alerts (timeout)"
    scanned: int = 0

    def __int__(self) -> int:
        return int(self.count)


def download_seconds(n_alerts: int, nbytes: int) -> float:
    if n_alerts <= 0:
        return 0.0
    return DOWNLOAD_FIXED_S + max(nbytes / DOWNLOAD_BYTES_PER_S, n_alerts / DOWNLOAD_ALERTS_PER_S)


def load_index(archive_dir) -> pd.DataFrame:
    """The statistics index as pandas (engine.stats writes it), with the measured bytes per
    field in ``attrs["field_bytes"]`` (for field lists)."""
    from engine.stats import field_bytes, read_index

    index = read_index(archive_dir).to_pandas()
    try:
        index.attrs["field_bytes"] = field_bytes(archive_dir)
    except Exception:  # noqa: BLE001 - an index without field sizes: the estimate falls back to types
        index.attrs["field_bytes"] = {}
    return index


# Bytes per value when a field was not measured (the portal's table, MU L152-222).
TYPE_BYTES = {"float": 4, "double": 8, "int32": 4, "int64": 8, "string": 8, "bool": 1, "binary": 19_200}


def custom_bytes_per_alert(spec: JobSpec, index: pd.DataFrame) -> float:
    """Avro bytes of one alert of a field list: the measured size of each published column."""
    from engine.content import output_columns

    measured = index.attrs.get("field_bytes") or {}
    total = 0.0
    for col in output_columns(spec.survey, spec.selector):
        name = ".".join(col.path)
        total += measured.get(name, TYPE_BYTES.get(str(col.field.type), 8))
    return total


def class_mask(index: pd.DataFrame, survey: str, classes) -> pd.Series:
    from engine.taxonomy import split_class_selection

    selection = split_class_selection(list(classes), survey)
    if selection is None:
        return pd.Series(True, index=index.index)
    fink, tns = selection
    return index["finkclass"].isin(fink) | index["tnsclass"].isin(tns)


def estimate(spec: JobSpec, index: pd.DataFrame, archive_dir=None) -> Estimate:
    """``archive_dir``: needed for the cross-match footprint (per-night alert cells, cached)."""
    t0 = time.perf_counter()
    start, stop = spec.start.isoformat(), spec.stop.isoformat()
    attrs = dict(index.attrs)
    in_range = index[(index["night"] >= start) & (index["night"] <= stop)]
    total = int(in_range["n_alerts"].sum())
    selected = in_range[class_mask(in_range, spec.survey, spec.classes)]
    from engine.fink_filters import yield_factor

    col = f"bytes_{spec.content}"
    factor = yield_factor(spec.survey, spec.filters)   # the portal's rule: x yield, 1 - yield for NOT
    if factor != 1.0:
        selected = selected.assign(n_alerts=selected["n_alerts"] * factor)
    if col not in selected.columns:   # a field list: measured bytes per field (engine.stats.field_bytes)
        selected = selected.assign(**{col: selected["n_alerts"] * custom_bytes_per_alert(spec, attrs_frame(attrs))})
    else:
        selected = selected.assign(**{col: selected[col] * factor})
    per_night = (selected.assign(**{"class": selected["finkclass"].where(
        selected["finkclass"] != "Unknown", selected["tnsclass"])})
        .groupby(["night", "class"], as_index=False)[["n_alerts", col]].sum()
        .rename(columns={col: "bytes"}))
    per_night, adjustments = adjust_for_options(per_night, spec, archive_dir)
    n = int(round(per_night["n_alerts"].sum()))
    nbytes = int(round(per_night["bytes"].sum())) if n else 0
    if spec.limit is not None and n > spec.limit:
        nbytes = int(round(nbytes * spec.limit / n))
        n = spec.limit
    return Estimate(
        n_alerts=n, bytes=nbytes, total_alerts=total, fraction=(n / total if total else 0.0),
        download_seconds=download_seconds(n, nbytes), per_night=per_night,
        nights_with_data=int(in_range["night"].nunique()),
        conditions_applied=not spec.conditions, seconds=time.perf_counter() - t0, adjustments=adjustments,
    )


def adjust_for_options(per_night: pd.DataFrame, spec: JobSpec, archive_dir=None):
    """Scale the per night x class counts for the cross-match and the data-set options.

    Cross-match: each night's counts times the share of its alerts lying in HEALPix cells the
    catalogue reaches (engine.xmatch.footprint_fractions; an upper bound of the match, which
    ``exact_count`` applies for real). Then the sample fraction, then the class cap over the whole
    range (the chart's class: finkclass, else tnsclass). Returns (per_night, a one-line note).
    """
    notes = []
    if not spec.xmatch and not spec.dataset:
        return per_night, ""
    out = per_night.copy()
    out[["n_alerts", "bytes"]] = out[["n_alerts", "bytes"]].astype(float)
    if spec.xmatch and archive_dir is not None:
        from engine.xmatch import footprint_fractions

        fractions = footprint_fractions(archive_dir, spec.survey, sorted(out["night"].unique()), spec.xmatch)
        scale = out["night"].map(fractions).fillna(0.0)
        out[["n_alerts", "bytes"]] = out[["n_alerts", "bytes"]].mul(scale, axis=0)
        share = (per_night["n_alerts"] * scale).sum() / max(1, per_night["n_alerts"].sum())
        notes.append(f"catalogue footprint covers {share:.1%} of the alerts")
    options = spec.dataset or {}
    if options.get("sample_fraction", 1) < 1:
        out[["n_alerts", "bytes"]] *= options["sample_fraction"]
        notes.append(f"sample {options['sample_fraction']:g}")
    if options.get("max_per_class"):
        totals = out.groupby("class")["n_alerts"].transform("sum")
        scale = (options["max_per_class"] / totals.where(totals > 0, 1)).clip(upper=1.0)
        out[["n_alerts", "bytes"]] = out[["n_alerts", "bytes"]].mul(scale, axis=0)
        notes.append(f"at most {options['max_per_class']:,} per class")
    return out, "; ".join(notes)


def exact_count(spec: JobSpec, archive_dir, timeout_s: float = 60.0) -> ExactCount:
    """Alerts matching classes AND conditions, by reading the archive (needed columns only).

    Stops after ``timeout_s`` and extrapolates from the share of alerts scanned (labelled so).
    """
    import pyarrow.compute as pc

    from engine.archive import reader
    from engine import surveys
    from engine.classification import load_tns_catalog, selected_classes_mask
    from engine.conditions import compile_conditions
    from engine.job.pipeline import condition_mask
    from engine.schemas import unified_arrow_schema
    from engine.taxonomy import split_class_selection

    t0 = time.perf_counter()
    schema = unified_arrow_schema(spec.survey)
    compiled = compile_conditions(spec.all_conditions(), schema)
    survey = surveys.get(spec.survey)
    columns = set(survey.classification_inputs)
    for c in compiled:
        columns |= {name for name in c.top_columns if name in schema.names}
    columns = [n for n in schema.names if n in columns]
    selection = split_class_selection(list(spec.classes), spec.survey)
    needs_class = selection is not None or any(c.needs_classification for c in compiled)
    tns = load_tns_catalog(archive_dir) if needs_class else None
    duckdb_sql = [c.duckdb_sql for c in compiled]

    from types import SimpleNamespace

    from engine import dataset
    options = SimpleNamespace(survey=spec.survey, xmatch=spec.xmatch, dataset=spec.dataset)
    cap = (spec.dataset or {}).get("max_per_class")
    cap_column = dataset.class_column(spec.survey, spec.dataset)
    if spec.xmatch or spec.dataset:
        from engine.xmatch import position_fields
        columns = sorted(set(columns) | {position_fields(spec.survey)[0], dataset.alert_id_column(spec.survey)}
                         | ({cap_column} & set(schema.names) if cap else set()), key=schema.names.index)
        needs_class = needs_class or bool(cap and cap_column in dataset.added_class_columns(spec.survey))
        if needs_class and tns is None:
            tns = load_tns_catalog(archive_dir)
    per_class: dict = {}
    nights = [d for d in reader.list_nights(archive_dir) if spec.start <= d <= spec.stop]
    count = scanned = 0
    timed_out = False
    for batch in reader.read_arrow(archive_dir, nights, columns=columns, batch_size=20_000):
        scanned += batch.num_rows
        batch = dataset.before_selection(batch, options)  # the cross-match and the sample, for real
        if needs_class:
            batch = survey.classify(batch, tns)
            if selection is not None:
                batch = batch.filter(selected_classes_mask(batch, *selection))
        if batch.num_rows:
            keep = condition_mask(batch, duckdb_sql)
            count += batch.num_rows if keep is None else int(pc.sum(keep).as_py() or 0)
            if cap:
                kept = batch if keep is None else batch.filter(keep)
                for label, n in pd.Series(kept.column(cap_column).to_pylist(), dtype=object).value_counts(
                        dropna=False).items():
                    per_class[label] = per_class.get(label, 0) + int(n)
        if time.perf_counter() - t0 > timeout_s:
            timed_out = True
            break
    method = "exact"
    if timed_out:
        total = _alerts_in_range(archive_dir, spec)
        if total and scanned < total:
            count = int(round(count * total / scanned))
            method = f"extrapolated from {scanned:,} of {total:,} alerts (timeout {timeout_s:.0f} s)"
    if cap:  # the cap applies to the whole job: per class, after extrapolation
        ratio = count / max(1, sum(per_class.values()))
        count = int(round(sum(min(n * ratio, cap) for n in per_class.values())))
    if spec.limit is not None:
        count = min(count, spec.limit)
    return ExactCount(count=int(count), seconds=time.perf_counter() - t0, method=method, scanned=scanned)


def _alerts_in_range(archive_dir, spec: JobSpec) -> int:
    try:
        index = load_index(archive_dir)
    except Exception:  # noqa: BLE001 - no index: no extrapolation
        return 0
    start, stop = spec.start.isoformat(), spec.stop.isoformat()
    return int(index[(index["night"] >= start) & (index["night"] <= stop)]["n_alerts"].sum())


def synthetic_index(nights: int = 30, classes: int = 200, start: dt.date = dt.date(2023, 1, 1),
                    seed: int = 0) -> pd.DataFrame:
    """An index-shaped DataFrame (for latency measurements and tests)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    rows = []
    tns = ["Unknown", "(TNS) SN Ia", "(TNS) SN II"]
    for i in range(nights):
        night = (start + dt.timedelta(days=i)).isoformat()
        for k in range(classes):
            n = int(rng.integers(1, 5000))
            rows.append((night, "Unknown" if k == 0 else f"class{k}", tns[k % 3], "2023+", n,
                         n * 1400, n * 41_000, n * 55_000))
    return pd.DataFrame(rows, columns=["night", "finkclass", "tnsclass", "era", "n_alerts",
                                       "bytes_lightcurve", "bytes_cutouts", "bytes_full"])


def attrs_frame(attrs: dict) -> pd.DataFrame:
    frame = pd.DataFrame()
    frame.attrs.update(attrs)
    return frame
