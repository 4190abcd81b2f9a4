"""Read any set of nights with ONE schema (pyarrow, DuckDB, Spark), whatever their era.

The real service read nights of different eras in one ``spark.read.parquet`` and broke
("do not mix 2019-2021 and 2022+ in one query"). Here every night is read with its own file
schema and conformed to ``engine.schemas.unified_arrow_schema(survey)`` (see
``engine.archive.unify``); ``year``, ``month``, ``day`` are appended as int32.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Iterator

import pyarrow as pa

from engine import schemas
from engine.archive import layout
from engine.errors import UserError


def list_nights(archive_dir) -> list[dt.date]:
    return list(layout.scan_nights(archive_dir))


def night_dirs(archive_dir, start: dt.date, stop: dt.date) -> list[Path]:
    """Directories of the existing nights in [start, stop] (inclusive)."""
    if stop < start:
        raise UserError(f"stop date {stop} is before start date {start}")
    return [p for night, p in layout.scan_nights(archive_dir).items() if start <= night <= stop]


def era_of(survey: str, night: dt.date) -> str:
    """The schema era of a night (declared by the survey, engine.surveys)."""
    from engine import surveys

    return surveys.get(survey).era_of(night)


def eras_in(archive_dir, nights) -> set[str]:
    survey = layout.detect_survey(archive_dir)
    existing = layout.scan_nights(archive_dir)
    return {era_of(survey, n) for n in nights if n in existing}


def _selected(archive_dir, nights) -> dict[dt.date, Path]:
    existing = layout.scan_nights(archive_dir)
    return {n: existing[n] for n in sorted(set(nights)) if n in existing}


def _requested_schema(survey: str, columns: list[str] | None) -> pa.Schema:
    unified = schemas.unified_arrow_schema(survey)
    if columns is None:
        return unified
    top = [c for c in columns if c not in ("year", "month", "day")]
    unknown = [c for c in top if unified.get_field_index(c) < 0]
    if unknown:
        raise UserError(f"unknown column(s) {', '.join(unknown)} for {survey}")
    return pa.schema([unified.field(c) for c in top])


def read_arrow(archive_dir, nights, columns: list[str] | None = None, batch_size: int = 2000) -> Iterator[pa.RecordBatch]:
    """Record batches of the given nights, conformed to the unified schema (+ year, month, day int32).

    ``columns`` selects top-level columns of the unified schema (partition columns are always added).
    """
    import pyarrow.parquet as pq

    from engine.archive.unify import conform_batch

    survey = layout.detect_survey(archive_dir)
    target = _requested_schema(survey, columns)
    for night, path in _selected(archive_dir, nights).items():
        for file in layout.parquet_files(path):
            # ParquetFile.iter_batches reads one row group at a time (a dataset scanner reads ahead
            # many row groups: over 1 GB with cutouts), so memory stays flat.
            pfile = pq.ParquetFile(file)
            names = pfile.schema_arrow.names
            present = [c for c in target.names if c in names]
            for batch in pfile.iter_batches(batch_size=batch_size, columns=present):
                n = batch.num_rows
                if n == 0:
                    continue
                extra = {k: pa.array([v] * n, pa.int32()) for k, v in
                         (("year", night.year), ("month", night.month), ("day", night.day))}
                yield conform_batch(batch, target, extra)


def read_table(archive_dir, nights, columns: list[str] | None = None) -> pa.Table:
    """All batches of :func:`read_arrow` as one table (small reads, tests, stats)."""
    survey = layout.detect_survey(archive_dir)
    target = _requested_schema(survey, columns)
    schema = pa.schema(list(target) + schemas.PARTITION_FIELDS)
    return pa.Table.from_batches(list(read_arrow(archive_dir, nights, columns)), schema=schema)


# --------------------------------------------------------------------------- DuckDB

def _group_by_schema(files) -> list[tuple[pa.Schema, list[Path]]]:
    """Files grouped by their Parquet schema (a night may hold files of two eras, as real lakes do)."""
    import pyarrow.parquet as pq

    groups: dict[str, tuple[pa.Schema, list[Path]]] = {}
    for f in files:
        sch = pq.read_schema(f).remove_metadata()
        groups.setdefault(sch.to_string(), (sch, []))[1].append(f)
    return list(groups.values())


def _duck_type(t: pa.DataType) -> str:
    if pa.types.is_struct(t):
        return "STRUCT(" + ", ".join(f'"{f.name}" {_duck_type(f.type)}' for f in t) + ")"
    if pa.types.is_list(t):
        return _duck_type(t.value_type) + "[]"
    if pa.types.is_map(t):
        return f"MAP({_duck_type(t.key_type)}, {_duck_type(t.item_type)})"
    return {
        pa.string(): "VARCHAR", pa.binary(): "BLOB", pa.int32(): "INTEGER", pa.int64(): "BIGINT",
        pa.float32(): "FLOAT", pa.float64(): "DOUBLE", pa.bool_(): "BOOLEAN",
        pa.timestamp("us"): "TIMESTAMP",
    }[t]


def _sql_str(s: str) -> str:
    return "'" + str(s).replace("'", "''") + "'"


def duckdb_view(con, archive_dir, nights, name: str = "alerts") -> None:
    """Create (or replace) a DuckDB view over those nights with the unified schema + year/month/day INTEGER.

    One SELECT per night: every unified column either read and CAST to its unified type,
    converted (mulens struct -> double) or NULL when the night does not have it.
    """

    survey = layout.detect_survey(archive_dir)
    unified = schemas.unified_arrow_schema(survey)
    selects = []
    for night, path in _selected(archive_dir, nights).items():
        for file_schema, files in _group_by_schema(layout.parquet_files(path)):
            cols = []
            for f in unified:
                q = f'"{f.name}"'
                if f.name not in file_schema.names:
                    expr = f"CAST(NULL AS {_duck_type(f.type)})"
                elif f.name == "mulens" and pa.types.is_struct(file_schema.field(f.name).type):
                    expr = ("CASE WHEN mulens IS NULL THEN NULL WHEN mulens.class_1 = 'ML' AND mulens.class_2 = 'ML' "
                            "THEN (coalesce(mulens.ml_score_1, 0) + coalesce(mulens.ml_score_2, 0)) / 2.0 ELSE 0.0 END")
                elif file_schema.field(f.name).type == f.type:
                    expr = q
                else:
                    expr = f"CAST({q} AS {_duck_type(f.type)})"
                cols.append(f"{expr} AS {q}")
            cols += [f"CAST({night.year} AS INTEGER) AS year", f"CAST({night.month} AS INTEGER) AS month",
                     f"CAST({night.day} AS INTEGER) AS day"]
            file_list = "[" + ", ".join(_sql_str(str(p)) for p in files) + "]"
            selects.append(f"SELECT {', '.join(cols)} FROM read_parquet({file_list}, hive_partitioning = false)")
    if not selects:  # an empty view that still has the unified schema
        cols = [f'CAST(NULL AS {_duck_type(f.type)}) AS "{f.name}"' for f in unified]
        cols += ["CAST(NULL AS INTEGER) AS year", "CAST(NULL AS INTEGER) AS month", "CAST(NULL AS INTEGER) AS day"]
        selects.append(f"SELECT {', '.join(cols)} WHERE false")
    con.execute(f'CREATE OR REPLACE VIEW "{name}" AS ' + "\nUNION ALL\n".join(selects))


# --------------------------------------------------------------------------- Spark

def spark_type(t: pa.DataType):
    """Spark SQL type of an Arrow type (for the unified schema)."""
    from pyspark.sql import types as T

    if pa.types.is_struct(t):
        return T.StructType([T.StructField(f.name, spark_type(f.type), True) for f in t])
    if pa.types.is_list(t):
        return T.ArrayType(spark_type(t.value_type), True)
    if pa.types.is_map(t):
        return T.MapType(spark_type(t.key_type), spark_type(t.item_type), True)
    if pa.types.is_timestamp(t):
        return T.TimestampType()
    return {
        pa.string(): T.StringType(), pa.binary(): T.BinaryType(), pa.int32(): T.IntegerType(),
        pa.int64(): T.LongType(), pa.float32(): T.FloatType(), pa.float64(): T.DoubleType(),
        pa.bool_(): T.BooleanType(),
    }[t]


def spark_read(spark, archive_dir, nights):
    """A DataFrame over those nights with the unified schema (+ year, month, day int).

    Files are grouped by Parquet schema (one era per group), each group read with ``basePath`` so
    the partition columns are ints, conformed (mulens struct -> double, casts, missing columns
    as typed nulls) and the groups combined with ``unionByName``.
    """
    from pyspark.sql import functions as F

    survey = layout.detect_survey(archive_dir)
    unified = schemas.unified_arrow_schema(survey)
    files = [f for path in _selected(archive_dir, nights).values() for f in layout.parquet_files(path)]
    frames = []
    for _schema, group in _group_by_schema(files):
        df = spark.read.option("basePath", str(Path(archive_dir))).parquet(*[str(f) for f in group])
        cols = []
        for f in unified:
            stype = spark_type(f.type)
            if f.name not in df.columns:
                cols.append(F.lit(None).cast(stype).alias(f.name))
            elif f.name == "mulens" and df.schema["mulens"].dataType.typeName() == "struct":
                m = F.col("mulens")
                both = (m.getField("class_1") == "ML") & (m.getField("class_2") == "ML")
                mean = (F.coalesce(m.getField("ml_score_1"), F.lit(0.0)) + F.coalesce(m.getField("ml_score_2"), F.lit(0.0))) / 2.0
                cols.append(F.when(m.isNull(), F.lit(None).cast("double"))
                            .when(both, mean).otherwise(F.lit(0.0)).alias("mulens"))
            else:
                cols.append(F.col(f.name).cast(stype).alias(f.name))
        cols += [F.col(c).cast("int").alias(c) for c in ("year", "month", "day")]
        frames.append(df.select(*cols))
    if not frames:
        from pyspark.sql import types as T
        fields = [T.StructField(f.name, spark_type(f.type), True) for f in unified]
        fields += [T.StructField(c, T.IntegerType(), True) for c in ("year", "month", "day")]
        return spark.createDataFrame([], T.StructType(fields))
    out = frames[0]
    for df in frames[1:]:
        out = out.unionByName(df, allowMissingColumns=True)
    return out
