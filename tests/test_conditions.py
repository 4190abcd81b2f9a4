"""User conditions: the allow-list refuses every dangerous input before any engine sees it."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from tests.helpers import REFERENCE, compile_idempotent
from engine.conditions import (ConditionError, LineIssue, check_conditions_text, compile_conditions)

SAMPLE = REFERENCE / "samples" / "fink_datalake" / "science_2019-09-03_fink2.9.parquet"


@pytest.fixture(scope="module")
def schema():
    try:
        from engine.schemas import unified_arrow_schema
        return unified_arrow_schema("ztf")
    except ImportError:  # pragma: no cover - before engine.schemas existed
        return pq.read_schema(SAMPLE)


LEGIT = [
    "candidate.magpsf > 19.5",
    "(candidate.magnr - candidate.magpsf) < -4 * (LOG10(candidate.distnr) + 0.2)",
    "rf_snia_vs_nonia > 0.5",
    "finkclass IN ('SN candidate', 'Early SN Ia candidate', 'Kilonova candidate')",
    "tnsclass = '(TNS) SN Ia'",
    "exists(prv_candidates, x -> x.magpsf < 15)",
    "forall(prv_candidates, p -> p.fid = 1 OR p.magpsf IS NULL)",
    "size(filter(prv_candidates, x -> x.fid = 2)) >= 3",
    "size(prv_candidates) > 25",
    "candidate.magpsf BETWEEN 18 AND 19 AND candidate.fid = 1",
    "NOT (candidate.ndethist < 3)",
    "objectId LIKE 'ZTF19%' AND cdsxmatch <> 'Unknown'",
    "roid IN (2, 3) OR tracklet IS NOT NULL",
    "abs(candidate.ra - 180) < 10 AND sqrt(candidate.sigmapsf) < 1",
    "CAST(candidate.magpsf AS DOUBLE) > 19.1",
    "coalesce(anomaly_score, 0) < -0.5",
    "greatest(candidate.magpsf, candidate.magap) > 20",
    "lc_features_g.mean > 18",
    "year = 2019 AND month >= 9 AND day = 3",
    "candidate.jd - candidate.jdstarthist < 5",
    "candidate.magpsf > 19.5 -- a comment",
    "CANDIDATE.MagPsf > 19.5",
    "isnotnull(tracklet) AND startswith(objectId, 'ZTF')",
    "candidate.isdiffpos = 't'",
    "ln(candidate.distnr) > 0 AND candidate.fid % 2 = 1",
    "candidate.magpsf / candidate.sigmapsf > 10",
    "exists(filter(prv_candidates, x -> x.fid = 1), x -> x IS NULL) IS NULL",
    "round(candidate.magpsf, 1) = 19.5",
    "CASE WHEN candidate.fid = 1 THEN candidate.magpsf ELSE candidate.magap END > 19",
]


@pytest.mark.parametrize("text", LEGIT)
def test_legitimate_conditions_compile(text, schema):
    c = compile_idempotent(text, schema)
    assert c.spark_sql and c.duckdb_sql and c.columns_used


# (input, expected fragment of the message)
MALICIOUS = [
    ("reflect('java.lang.System', 'exit', 0) IS NULL", "function 'reflect' is not allowed"),
    ("java_method('java.lang.System', 'getProperty', 'user.name') = 'root'", "function 'java_method'"),
    ("try_reflect('java.lang.Thread', 'sleep', 100000L) IS NULL", "function 'try_reflect'"),
    ("raise_error('boom') IS NULL", "function 'raise_error'"),
    ("input_file_name() LIKE '%a%'", "function 'input_file_name'"),
    ("current_user() = 'root'", "not allowed"),
    ("objectId IN (SELECT value FROM text.`/etc/passwd`)", "subqueries"),
    ("EXISTS (SELECT 1 FROM text.`/etc/passwd` WHERE value LIKE 'root%')", "subqueries"),
    ("candidate.magpsf > (SELECT 19.5)", "subqueries"),
    ("candid IN (SELECT id FROM range(10))", "subqueries"),
    ("candidate.magpsf > 19.5; DROP TABLE foo", "';' is not allowed"),
    ("candidate.magpsf > 19.5;SET spark.sql.ansi.enabled=true", "';' is not allowed"),
    ("SET spark.sql.ansi.enabled=false", "not allowed"),
    ("SELECT * FROM foo", "subqueries"),
    ("value = 'x' FROM text.`/etc/passwd`", ""),
    ("text.`/etc/passwd`.value IS NOT NULL", "unknown column"),
    ("`/etc/passwd`.value = 1", "unknown column"),
    ("candidate.magpsf > 19.5 UNION SELECT 1", ""),
    ("assert_true(1 = 1)", "function 'assert_true'"),
    ("java_method('java.lang.Runtime', 'getRuntime') IS NULL", "function 'java_method'"),
    ("aggregate(prv_candidates, 0, (acc, x) -> acc + 1) > 2", "not allowed"),
    ("transform(prv_candidates, x -> reflect('a', 'b')) IS NULL", "not allowed"),
    ("exists(prv_candidates, x -> reflect('java.lang.System', 'exit', 0) IS NULL)", "function 'reflect'"),
    ("exists(prv_candidates, x -> x.magpsf IN (SELECT 1))", "subqueries"),
    ("from_json(objectId, 'a int') IS NULL", "function 'from_json'"),
    ("uuid() = 'x'", "not allowed"),
    ("sleep(10) = 1", "function 'sleep'"),
    ("url_decode(objectId) = 'x'", "not allowed"),
    ("CAST(objectId AS BINARY) IS NULL", "CAST to"),
    ("objectId = ${hiveconf:x}", ""),
    ("candidate.magpsf > ?", ""),
    ("candidate.magpsf", "not a true/false condition"),
    ("candidate.magpsf + 1", "not a true/false condition"),
    ("candidate.magpsf >", "syntax error"),
    ("", "empty"),
    ("x" * 2100, "longer than"),
    ("candidate.magpsff > 19.5", "unknown column 'candidate.magpsff' (did you mean candidate.magpsf?)"),
    ("magpsf > 19.5", "unknown column 'magpsf'"),
    ("exists(candidate, x -> x > 1)", "must be an array column"),
    ("x -> x > 1", ""),
    ("stack(2, 1, 2) IS NULL", "not allowed"),
    ("explode(prv_candidates) IS NULL", "not allowed"),
    ("named_struct('a', 1) IS NULL", "not allowed"),
    ("count(*) > 1", "not allowed"),
    ("max(candidate.magpsf) OVER () > 1", "not allowed"),
    ("rand() < 0.5", "not allowed"),
    ("candidate.magpsf > 19.5 /* ; */ OR reflect('a','b') IS NULL", "not allowed"),
    ("candidate.magpsf > 19.5 /* x */ OR reflect('a','b') IS NULL", "function 'reflect'"),
]


@pytest.mark.parametrize("text,fragment", MALICIOUS)
def test_dangerous_or_broken_conditions_are_refused(text, fragment, schema):
    with pytest.raises(ConditionError) as info:
        compile_conditions([text], schema)
    msg = str(info.value)
    assert msg.startswith("line 1: ") and "\n" not in msg
    assert fragment in msg


def test_error_names_the_line_and_the_token(schema):
    with pytest.raises(ConditionError) as info:
        compile_conditions(["candidate.magpsf > 19.5", "reflect('x', 'y') IS NULL"], schema)
    assert info.value.line == 2 and info.value.token == "reflect"
    assert str(info.value) == "line 2: function 'reflect' is not allowed"


def test_line_issues_for_the_textarea(schema):
    text = "candidate.magpsf > 19.5;\n\nreflect('a','b') IS NULL;\ncandidate.magpsff > 1\nrf_snia_vs_nonia > 0.5"
    issues = check_conditions_text(text, schema)
    assert [i.line for i in issues] == [3, 4]
    assert all(isinstance(i, LineIssue) for i in issues)
    assert "reflect" in issues[0].message and "did you mean candidate.magpsf" in issues[1].message
    assert check_conditions_text("", schema) == []


def test_rendering_never_contains_user_text_verbatim(schema):
    c = compile_conditions(["candidate.magpsf > 19.5 -- drop everything"], schema)[0]
    assert "drop" not in c.spark_sql.lower() and "--" not in c.spark_sql
    assert c.spark_sql == "`candidate`.`magpsf` > 19.5E0"


def test_duckdb_shims(schema):
    c = compile_conditions(["(candidate.magnr - candidate.magpsf) < -4 * (LOG10(candidate.distnr) + 0.2)"],
                           schema)[0]
    assert "CASE WHEN" in c.duckdb_sql and "0.2E0" in c.duckdb_sql
    c = compile_conditions(["exists(prv_candidates, x -> x.magpsf < 15)"], schema)[0]
    assert "LIST_FILTER" in c.duckdb_sql.upper() and "EXISTS" not in c.duckdb_sql.upper()
    c = compile_conditions(["candidate.magpsf / 0 > 1"], schema)[0]
    assert "NULLIF" in c.duckdb_sql


def test_columns_used_tells_if_classification_is_needed(schema):
    a, b = compile_conditions(["finkclass = 'SN candidate'", "candidate.magpsf > 1"], schema)
    assert a.needs_classification and a.columns_used == {"finkclass"}
    assert not b.needs_classification and b.top_columns == {"candidate"}
