"""Statistics index ``<archive>/_stats/index.parquet``: counts and Avro bytes per (night, class).

One row per (night, finkclass, tnsclass) with ``era``, ``n_alerts`` and ``bytes_lightcurve``,
``bytes_cutouts``, ``bytes_full`` (schemaless Avro bytes of those alerts for that content).
Counts are exact (classification re-run on every alert, reading only the small columns);
bytes are measured on a sample of each night (``SAMPLE_PER_NIGHT`` alerts, encoded with the
project's Avro encoder) and scaled by the number of alerts: estimates use it before a job.
Works for any archive in the year=/month=/day= layout (a real Fink lake too).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from engine.archive import layout, reader
from engine.classification import load_tns_catalog

INDEX_PATH = Path("_stats") / "index.parquet"
SAMPLE_PER_NIGHT = 200


def contents(survey: str) -> tuple[str, ...]:
    """The content presets of a survey: one ``bytes_<content>`` index column each."""
    from engine import surveys

    return tuple(surveys.get(survey).contents)


def index_schema(survey: str) -> pa.Schema:
    return pa.schema([("night", pa.string()), ("finkclass", pa.string()), ("tnsclass", pa.string()),
                      ("era", pa.string()), ("n_alerts", pa.int64())]
                     + [(f"bytes_{c}", pa.int64()) for c in contents(survey)])


def _classify(batch, survey: str, tns):
    """The survey's classification, with finkclass/tnsclass = Unknown when it has none."""
    from engine import surveys

    batch = surveys.get(survey).classify(batch, tns)
    for name in ("finkclass", "tnsclass"):
        if name not in batch.schema.names:
            batch = batch.append_column(name, pa.array(["Unknown"] * batch.num_rows, pa.string()))
    return batch


def measure_avro_bytes(table: pa.Table, survey: str) -> dict[str, float]:
    """Mean schemaless Avro bytes per alert for each content, on a (classified) sample.

    Uses the job's own projection and output schema (``engine.content``) so the index predicts
    what a transfer publishes.
    """
    from engine import content as content_mod
    from engine.avro.encoder import encode_to_arrow

    out = {}
    for content in contents(survey):
        if table.num_rows == 0:
            out[content] = 0.0
            continue
        batch = table.combine_chunks().to_batches()[0]
        encoded = encode_to_arrow(content_mod.project(batch, survey, content),
                                  content_mod.output_avro_schema(survey, content))
        out[content] = (pc.sum(pc.binary_length(encoded)).as_py() or 0) / table.num_rows
    return out


def night_stats(archive_dir, night: dt.date, survey: str, tns) -> pa.Table:
    """Index rows of one night."""
    from engine import surveys

    columns = list(surveys.get(survey).classification_inputs) or None
    tables = []
    for batch in reader.read_arrow(archive_dir, [night], columns=columns, batch_size=20000):
        b = _classify(batch, survey, tns)
        tables.append(pa.table([b.column("finkclass"), b.column("tnsclass")], names=["finkclass", "tnsclass"]))
    if not tables:
        return index_schema(survey).empty_table()
    classes = pa.concat_tables(tables)
    counts = classes.group_by(["finkclass", "tnsclass"]).aggregate([("finkclass", "count")])
    sample = _sample(archive_dir, night, survey, tns)
    per_alert = measure_avro_bytes(sample, survey)
    n = counts.column("finkclass_count").to_numpy().astype(np.int64)
    k = len(n)
    return pa.table({
        "night": pa.array([night.isoformat()] * k, pa.string()),
        "finkclass": counts.column("finkclass"), "tnsclass": counts.column("tnsclass"),
        "era": pa.array([reader.era_of(survey, night)] * k, pa.string()),
        "n_alerts": pa.array(n, pa.int64()),
        **{f"bytes_{c}": pa.array(np.round(n * per_alert[c]).astype(np.int64), pa.int64()) for c in contents(survey)},
    }, schema=index_schema(survey))


def _sample(archive_dir, night: dt.date, survey: str, tns) -> pa.Table:
    for batch in reader.read_arrow(archive_dir, [night], batch_size=SAMPLE_PER_NIGHT):
        return pa.Table.from_batches([_classify(batch, survey, tns)])
    return pa.table({})


def build_index(archive_dir, progress: bool = False) -> Path:
    """(Re)build ``_stats/index.parquet`` for every night of the archive; returns its path."""
    from engine.progress import progress_bar

    nights = layout.require_archive(archive_dir)
    survey = layout.detect_survey(archive_dir)
    tns = load_tns_catalog(archive_dir)
    bar = progress_bar(len(nights), "index", unit=" nights") if progress else None
    parts = []
    for night in nights:
        parts.append(night_stats(archive_dir, night, survey, tns))
        if bar:
            bar.update(1)
    if bar:
        bar.close()
    table = pa.concat_tables(parts) if parts else index_schema(survey).empty_table()
    path = Path(archive_dir) / INDEX_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)
    write_field_bytes(archive_dir)
    return path


def read_index(archive_dir) -> pa.Table:
    """The index, built first if missing (an archive that came from elsewhere)."""
    path = Path(archive_dir) / INDEX_PATH
    if not path.exists():
        build_index(archive_dir)
    return pq.read_table(path)


def summary(archive_dir) -> dict:
    """Nights, alert counts, classes and sizes (for ``fink-transfer archive info`` and the app)."""
    idx = read_index(archive_dir).to_pandas()
    meta = layout.read_meta(archive_dir)
    per_night = idx.groupby("night")["n_alerts"].sum()
    classes = idx.groupby("finkclass")["n_alerts"].sum().sort_values(ascending=False)
    tns = idx[idx.tnsclass != "Unknown"].groupby("tnsclass")["n_alerts"].sum().sort_values(ascending=False)
    disk = sum(p.stat().st_size for p in Path(archive_dir).rglob("*.parquet") if not any(
        part.startswith("_") for part in p.relative_to(archive_dir).parts[:-1]))
    return {
        "survey": meta.get("survey") or layout.detect_survey(archive_dir),
        "nights": list(per_night.index), "alerts": int(idx.n_alerts.sum()),
        "alerts_per_night": {k: int(v) for k, v in per_night.items()},
        "eras": sorted(idx.era.unique().tolist()),
        "classes": {k: int(v) for k, v in classes.items()},
        "tns_classes": {k: int(v) for k, v in tns.items()},
        "bytes": {c[len("bytes_"):]: int(idx[c].sum()) for c in idx.columns if c.startswith("bytes_")},
        "disk_bytes": int(disk),
    }


FIELDS_PATH = Path("_stats") / "fields.parquet"


def measure_field_bytes(archive_dir, survey: str, sample: int = SAMPLE_PER_NIGHT) -> pa.Table:
    """Mean schemaless Avro bytes per alert of every selectable field (``engine.content``), on
    the first night's sample: what a custom field list costs, for the estimate and the picker."""
    from engine import content as content_mod
    from engine.avro.encoder import encode_to_arrow
    from engine.avro.schema import avro_schema_from_arrow

    tns = load_tns_catalog(archive_dir)
    nights = reader.list_nights(archive_dir)
    table = _sample(archive_dir, nights[0], survey, tns) if nights else pa.table({})
    names, types, sizes = [], [], []
    if table.num_rows:
        batch = table.combine_chunks().to_batches()[0].slice(0, sample)
        for name, field in content_mod.selectable_fields(survey).items():
            path = tuple(name.split(".", 1))
            out = pa.field(path[-1], content_mod._string_if_time(field).type)
            arr = content_mod._conform(content_mod._value(batch, path), out.type, batch.num_rows)
            one = pa.RecordBatch.from_arrays([arr], schema=pa.schema([out]))
            encoded = encode_to_arrow(one, avro_schema_from_arrow(one.schema))
            names.append(name)
            types.append(str(field.type) if not pa.types.is_struct(field.type) else "struct")
            sizes.append((pc.sum(pc.binary_length(encoded)).as_py() or 0) / batch.num_rows)
    return pa.table({"field": pa.array(names, pa.string()), "type": pa.array(types, pa.string()),
                     "bytes": pa.array(sizes, pa.float64())})


def write_field_bytes(archive_dir) -> Path:
    path = Path(archive_dir) / FIELDS_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(measure_field_bytes(archive_dir, layout.detect_survey(archive_dir)), path)
    return path


def field_bytes(archive_dir) -> dict[str, float]:
    """``{field: bytes per alert}``, measured once per archive (built on first use)."""
    path = Path(archive_dir) / FIELDS_PATH
    if not path.exists():
        write_field_bytes(archive_dir)
    t = pq.read_table(path).to_pydict()
    return dict(zip(t["field"], t["bytes"]))
