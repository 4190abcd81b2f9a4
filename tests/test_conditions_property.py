"""Property: every condition is refused with a ConditionError, or it runs - the same way in both engines.

Conditions come from the grammar in ``condition_grammar.py``. Each accepted one is evaluated on
real archive rows (the project's synthetic generator plus the real alerts it ships) by the job's
own per-batch evaluator (``engine.job.pipeline.condition_mask``); any other exception anywhere
is a failure. A sample of accepted conditions also runs in one Spark session, which must select
the same rows. Derandomized, no deadline: the same conditions on every run.
"""

from __future__ import annotations

import collections
import datetime as dt
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings

from condition_grammar import conditions
from engine.conditions import ConditionError, compile_conditions
from engine.job.pipeline import condition_mask
from engine.schemas import unified_arrow_schema

DUCKDB_EXAMPLES = int(os.environ.get("FT_CONDITION_EXAMPLES", "3000"))
SPARK_EXAMPLES = int(os.environ.get("FT_CONDITION_SPARK_EXAMPLES", "1500"))
PROFILE = dict(derandomize=True, deadline=None, database=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                      HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def schema():
    return unified_arrow_schema("ztf")


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    """One batch of classified archive rows: 2 synthetic nights + the real 2021 sample alerts."""
    from engine.archive import reader
    from engine.archive.generator import build_archive
    from engine.classification import classify_batch, load_tns_catalog

    out = tmp_path_factory.mktemp("prop") / "ztf"
    build_archive("ztf", dt.date(2021, 11, 22), 2, 150, out, progress=False, write_index=False)
    nights = reader.list_nights(out)
    table = reader.read_table(out, nights)
    batch = classify_batch(table, load_tns_catalog(out))
    return _with_edge_rows(batch)


FLOAT_EDGES = [None, float("nan"), float("inf"), float("-inf"), 0.0, -0.0, -1.0, 1e-30, 3.4e38, 2.675, 19.5]
INT_EDGES = [None, 0, -1, 2147483647, -2147483648]


def _with_edge_rows(batch, n=24):
    """Archive rows plus ``n`` copies whose numbers are edges (NULL, NaN, inf, 0, -0, int limits)."""
    copies = batch.slice(0, n).to_pylist()
    top = int(max(batch.column(batch.schema.get_field_index("candid")).to_pylist()))
    for i, row in enumerate(copies):
        row["candid"] = [top + 1 + i, 2**63 - 1 - i, -(2**63) + i][i % 3]
        row["rf_snia_vs_nonia"] = FLOAT_EDGES[i % len(FLOAT_EDGES)]
        row["roid"] = INT_EDGES[i % len(INT_EDGES)]
        cand = row["candidate"]
        for k, name in enumerate(("magpsf", "sigmapsf", "distnr", "magnr", "jd", "ra", "drb")):
            cand[name] = FLOAT_EDGES[(i + k) % len(FLOAT_EDGES)]
        for k, name in enumerate(("fid", "ndethist", "nid", "field")):
            cand[name] = INT_EDGES[(i + k) % len(INT_EDGES)]
        cand["pid"] = [None, 2**63 - 1, -(2**63), 0][i % 4]
        cand["isdiffpos"] = [None, "t", "f", "1", " 2 ", "nan", "", "1e3"][i % 8]
        row["objectId"] = [None, "", "ZTF19%_", "a\\b", "ztf21"][i % 5] if i % 2 else row["objectId"]
        for p in row["prv_candidates"] or []:
            p["magpsf"] = FLOAT_EDGES[(i + 3) % len(FLOAT_EDGES)] if i % 2 else p["magpsf"]
            p["fid"] = INT_EDGES[i % len(INT_EDGES)] if i % 3 == 0 else p["fid"]
        if i % 7 == 0:
            row["prv_candidates"] = None
        elif i % 7 == 1:
            row["prv_candidates"] = []
    edges = pa.RecordBatch.from_pylist(copies, schema=batch.schema)
    return pa.Table.from_batches([batch, edges]).combine_chunks().to_batches()[0]


def _outcome(text, schema, batch):
    """('refused', message) or ('accepted', compiled, mask); anything else raises."""
    try:
        compiled = compile_conditions([text], schema)[0]
    except ConditionError as e:
        assert str(e).startswith("line 1: ") and "\n" not in str(e), str(e)
        return ("refused", str(e))
    # as the job reads it: the columns the condition uses (+ candid, the job's content needs some)
    used = compiled.top_columns | {"candid"}
    mask = condition_mask(batch.select([n for n in batch.schema.names if n in used]), [compiled.duckdb_sql])
    assert mask.type == pa.bool_() and len(mask) == batch.num_rows
    return ("accepted", compiled, mask)


class _OneConnection:
    """``duckdb.connect`` for ``condition_mask`` during a property run: the same in-memory connection
    every time (its ``close`` waits for the end of the run), since opening one costs more than
    evaluating a condition. ``condition_mask`` still runs whole: ``SET threads``, registering the
    job's columns as ``batch`` (replacing the previous example's), the query."""

    def __init__(self):
        import duckdb
        self.con = duckdb.connect()

    def __call__(self, *args, **kwargs):
        assert not args and not kwargs, (args, kwargs)  # an in-memory database, like the job's
        return self

    def close(self):
        pass

    def __getattr__(self, name):
        return getattr(self.con, name)


@pytest.fixture
def one_duckdb_connection(monkeypatch):
    import duckdb
    shared = _OneConnection()
    monkeypatch.setattr(duckdb, "connect", shared)
    yield shared
    shared.con.close()


def test_every_generated_condition_is_refused_or_runs_in_duckdb(schema, rows, one_duckdb_connection, capsys):
    counts = collections.Counter()

    @settings(max_examples=DUCKDB_EXAMPLES, **PROFILE)
    @given(conditions())
    def check(text):
        result = _outcome(text, schema, rows)
        counts[result[0]] += 1
        if result[0] == "accepted":
            counts["selects some"] += bool(result[2].true_count)

    check()
    with capsys.disabled():
        print(f"\nconditions: {dict(counts)}")
    total = counts["accepted"] + counts["refused"]
    assert total >= DUCKDB_EXAMPLES * 0.9
    # the grammar is not degenerate: both outcomes are frequent, accepted ones do select rows
    assert counts["accepted"] > total * 0.2 and counts["refused"] > total * 0.2, counts
    assert counts["selects some"] > counts["accepted"] * 0.2, counts


@pytest.mark.spark
def test_a_sample_selects_the_same_rows_in_spark(schema, rows, tmp_path, capsys):
    from pyspark.sql import SparkSession

    path = tmp_path / "rows.parquet"
    candids = rows.column(rows.schema.get_field_index("candid"))
    pq.write_table(pa.Table.from_batches([rows]), path)
    accepted = []

    @settings(max_examples=SPARK_EXAMPLES, **PROFILE)
    @given(conditions())
    def collect(text):
        result = _outcome(text, schema, rows)
        if result[0] == "accepted":
            accepted.append((result[1], set(candids.filter(result[2]).to_pylist())))

    collect()
    assert len(accepted) > SPARK_EXAMPLES * 0.2
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    spark = (SparkSession.builder.master("local[1]").appName("conditions-property")
             .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.ansi.enabled", "false").config("spark.sql.runSQLOnFiles", "false")
             .config("spark.sql.shuffle.partitions", "1").getOrCreate())
    try:
        df = spark.read.parquet(str(path)).cache()
        mismatches = []
        for start in range(0, len(accepted), 50):  # 50 conditions per Spark job, one job if it fails
            chunk = accepted[start:start + 50]
            try:
                got = _spark_selections(df, [c.spark_sql for c, _ in chunk])
            except Exception:  # noqa: BLE001 - find the condition that failed, one by one
                got = []
                for compiled, _ in chunk:
                    try:
                        got += _spark_selections(df, [compiled.spark_sql])
                    except Exception as e:  # noqa: BLE001 - report every condition at once
                        got.append(f"{type(e).__name__}: {str(e).splitlines()[0][:200]}")
            for (compiled, duck_ids), spark_ids in zip(chunk, got):
                if spark_ids != duck_ids:
                    what = spark_ids if isinstance(spark_ids, str) else f"spark {len(spark_ids)}"
                    mismatches.append(f"{compiled.text}: {what} duckdb {len(duck_ids)}")
    finally:
        spark.stop()
    with capsys.disabled():
        print(f"\nspark: {len(accepted)} accepted conditions compared, {len(mismatches)} mismatches")
    assert not mismatches, "\n".join(mismatches[:30])


def _spark_selections(df, conditions_sql):
    """The candids each condition keeps, from one Spark job (a boolean column per condition)."""
    cols = [f"coalesce(({sql}), false) AS c{i}" for i, sql in enumerate(conditions_sql)]
    rows = df.selectExpr("candid", *cols).collect()
    return [{r[0] for r in rows if r[i + 1]} for i in range(len(conditions_sql))]
