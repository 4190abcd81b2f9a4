"""Arity, argument kinds and type compatibility: refused while typing, named on its line and token."""

from __future__ import annotations

import re

import duckdb
import pytest

from engine.condition_functions import FUNCTIONS, OPERATORS, help_rows
from engine.conditions import ConditionError, compile_conditions, condition_schema
from tests.helpers import compile_idempotent


# (condition, token, fragment of the message)
REFUSED = [
    ("isnull() < 3", "isnull", "isnull() expects 1 argument: isnull(any), got 0"),
    ("floor() = 1", "floor", "floor() expects 1 argument: floor(number), got 0"),
    ("abs() > 1", "abs", "abs() expects 1 argument"),
    ("log10(candid, 2) > 1", "log10", "log10() expects 1 argument, got 2"[:24]),
    ("floor(candidate.magpsf, 2) = 1", "floor", "got 2"),
    ("round(candidate.magpsf, 1, 2) = 1", "round", "round() expects 1 to 2 arguments"),
    ("least(candid) > 1", "least", "at least 2 arguments"),
    ("nvl(candid) > 1", "nvl", "nvl() expects 2 arguments"),
    ("exists(prv_candidates) IS NULL", "exists", "exists() expects 2 arguments"),
    ("size() > 1", "size", "size() expects 1 argument"),
    ("size(candid) > 1", "size", "size() expects an array column as argument 1, not a number (bigint)"),
    ("array_size(candidate.fid) > 1", "array_size", "not a number (int)"),
    ("sqrt(objectId) > 1", "sqrt", "sqrt() expects a number as argument 1, not a string"),
    ("lower(candid) = 'a'", "lower", "lower() expects a string"),
    ("length(candidate.magpsf) > 1", "length", "expects a string"),
    ("startswith(objectId, 1)", "startswith", "as argument 2"),
    ("round(candidate.magpsf, candid) > 1", "round", "an integer literal from -3 to 18"),
    ("round(candidate.magpsf, 19) > 1", "round", "an integer literal from -3 to 18"),
    ("greatest(objectId, 1) = 'a'", "greatest", "mix a string and a number"),
    ("coalesce(candidate.magpsf, 'a') = 1", "coalesce", "mix"),
    ("array_contains(prv_candidates, 1)", "array_contains", "in an array of structs"),
    ("array_contains(prv_candidates, NULL) IS NULL", "array_contains", "cannot look for NULL"),
    ("objectId > 3", ">", "'>' cannot compare a string with a number (int)"),
    ("candidate.fid = 't'", "=", "'=' cannot compare a number (int) with a string"),
    ("candidate.magpsf BETWEEN 'a' AND 2", "BETWEEN", "'BETWEEN' cannot compare"),
    ("candidate.fid IN (1, 'a')", "IN", "'IN' cannot compare a number (int) with a string"),
    ("finkclass IN (1)", "IN", "a string with a number"),
    ("candidate.fid LIKE 'a%'", "LIKE", "LIKE needs a string on the left, not a number (int)"),
    ("objectId LIKE tracklet", "LIKE", "pattern must be a quoted string"),
    ("objectId LIKE 'a\\\\'", "LIKE", "trailing backslash"),
    ("objectId RLIKE 'a'", "RLIKE", "RLIKE/REGEXP is not allowed"),
    ("candidate = candidate", "=", "cannot compare a struct"),
    ("prv_candidates IS NULL OR prv_candidates = prv_candidates", "=", "cannot compare an array"),
    ("objectId + 1 > 2", "+", "'+' needs numbers, not a string"),
    ("-objectId = 'a'", "-", "'-' needs a number"),
    ("candidate.magpsf > 19 AND candidate.fid", "AND", "AND needs true/false conditions, not a number"),
    ("NOT candidate.fid", "NOT", "NOT needs true/false"),
    ("candidate.fid IS TRUE", "IS", "IS TRUE needs a true/false value"),
    ("CAST(candidate.magpsf AS STRING) = '19.5'", "CAST", "floating-point number to STRING"),
    ("CAST(prv_candidates AS STRING) = ''", "CAST", "CAST of an array"),
    ("CASE WHEN candid > 1 THEN 1 ELSE 'a' END = 1", "CASE", "mix a number (int) and a string"),
    ("if(candid, 1, 2) = 1", "if", "if needs true/false"),
    ("exists(prv_candidates, x -> x.magpsf)", None, "must be a true/false condition"),
    ("candid > 9223372036854775808", "9223372036854775808", "out of range"),
    ("cutoutScience > 1", ">", "cannot compare a struct"),
    ("(" * 400 + "candid > 1" + ")" * 400, None, "nested too deeply"),
    ("NOT " * 400 + "candid > 1", None, "nested too deeply"),
    ("- " * 600 + "candid > 0", None, "nested too deeply"),
    ("candid > 1e", "1e", "bad number 1e"),
    ("CAST(candid AS STRING FORMAT 'x') = 'a'", "'x'", "''x'' is not allowed"),  # a node no rule checked
    ("sign(" * 14 + "candidate.magpsf" + ")" * 14 + " > 0", None, "too complex once rendered"),
    ("candid > 1e400", "1e400", "out of the DOUBLE range"),
    ("cutoutScience.stampData = 'a'", "=", "cannot compare binary data"),
]


@pytest.mark.parametrize("text,token,fragment", REFUSED)
def test_wrong_calls_and_mixes_are_refused_naming_the_token(text, token, fragment, ztf_schema):
    with pytest.raises(ConditionError) as info:
        compile_conditions(["candidate.magpsf > 0", text], ztf_schema)
    msg = str(info.value)
    assert msg.startswith("line 2: ") and "\n" not in msg
    assert fragment in msg, msg
    if token is not None:
        assert info.value.token == token


ACCEPTED = [
    "candidate.magpsf > 19",                   # float vs int: Spark widens
    "candid > 1.5",                            # bigint vs decimal
    "candidate.fid = candid",                  # int vs bigint
    "finkclass = NULL OR objectId IN ('a', NULL)",
    "isnull(prv_candidates)",
    "isnotnull(candidate)",
    "candidate.magpsf IS NULL IS NULL",
    "(candid > 1) = (candid < 2)",
    "greatest(objectId, finkclass) > 'Z'",
    "log(candidate.distnr) > 0 AND log(2, candidate.distnr) > 0",
    "round(candidate.magpsf) = 19 AND round(candidate.magpsf, -1) = 20",
    "size(filter(prv_candidates, x -> x.fid = 1)) > size(prv_candidates) - 3",
    "CAST(candidate.fid AS STRING) = '1' AND CAST(objectId AS DOUBLE) IS NULL",
    "CAST(true AS DOUBLE) = 1",
    "objectId LIKE 'ZTF\\\\_%'",
    "candid * candid > 0 AND -candid < 0 AND candidate.fid * 2147483647 <> 0 AND abs(candid) > 0",
    # a single argument in parentheses (or starting with one) is one argument: abs((x)) was "got 0"
    "abs((candidate.magpsf)) > 1 AND abs((candidate.magpsf - 1) * 2) > 1 AND floor(((candidate.magpsf))) = 19",
    "coalesce((candidate.magpsf)) > 0 AND isnull((candid)) AND sqrt(abs((candidate.magpsf))) > 0",
    "round((candidate.magpsf), 1) > 0 AND greatest((candidate.magpsf), (candidate.sigmapsf)) > 0",
    "size(filter(prv_candidates, x -> (x.fid = 1))) > 0 AND log10((candidate.magpsf)) > 0 "
    "AND log((2), (candidate.magpsf)) > 0",
]


@pytest.mark.parametrize("text", ACCEPTED)
def test_spark_compatible_mixes_are_accepted_and_run_in_duckdb(text, ztf_schema):
    c = compile_idempotent(text, ztf_schema)
    full = condition_schema(ztf_schema)
    con = duckdb.connect()
    try:  # binds and runs on a row of NULLs of the real types
        cols = ", ".join([f"NULL::{_duck(full.field(n).type)} AS \"{n}\"" for n in sorted(c.top_columns)]
                         + ["1 AS one"])
        con.execute(f"SELECT ({c.duckdb_sql}) FROM (SELECT {cols})").fetchall()
    finally:
        con.close()


def _duck(t):
    from engine.archive.reader import _duck_type
    return _duck_type(t)


def test_integer_arithmetic_wraps_in_duckdb_as_in_spark(ztf_schema):
    """Spark non-ANSI: long * long and int + int wrap around; DuckDB raised OutOfRangeException."""
    big = 1_786_566_974_072_000_000
    cases = {
        "candid * candid": (big * big + 2**63) % 2**64 - 2**63,
        "candid * -candid": (-big * big + 2**63) % 2**64 - 2**63,
        "candidate.fid + 2147483647": -2147483648,
        "candidate.fid * 2147483647 * 3": ((2147483647 * 3 + 2**31) % 2**32) - 2**31,
        "candid % 0": None,
        "-candid": -big,
        "candid / 0": None,
    }
    con = duckdb.connect()
    try:
        for expr, expected in cases.items():
            c = compile_conditions([f"({expr}) IS NULL OR ({expr}) <> 0"], ztf_schema)[0]
            inner = c.duckdb_sql.split(" IS NULL OR ")[0]
            row = con.execute(f"SELECT {inner} FROM (SELECT {big}::BIGINT AS candid, "
                              "{'fid': 1}::STRUCT(fid INT) AS candidate)").fetchone()
            assert row[0] == expected, (expr, row[0], expected)
    finally:
        con.close()


def test_every_table_function_runs_with_its_arity_and_fails_with_another(ztf_schema):
    args = {"number": "candidate.magpsf", "string": "objectId", "array": "prv_candidates",
            "lambda": "x -> x.fid = 1", "scale": "1", "value": "candidate.magpsf", "any": "candid",
            "comparable": "candidate.magpsf", "boolean": "true"}
    for sig in FUNCTIONS:
        given = [args[k] for k in sig.args]
        if sig.name == "array_contains":  # ZTF has no array of numbers: its value is refused
            with pytest.raises(ConditionError, match="in an array of structs"):
                compile_conditions([f"array_contains({given[0]}, 1)"], ztf_schema)
            continue
        call = f"{sig.name}({', '.join(given)})"
        cond = {"boolean": call, "string": f"{call} = 'a'", "array": f"size({call}) > 0"}.get(
            sig.result, f"{call} > 0")
        compile_conditions([cond], ztf_schema)
        too_many = f"{sig.name}({', '.join([args[k] for k in sig.args + sig.optional] + ['candid'])})"
        if sig.max_args is not None:
            with pytest.raises(ConditionError, match=rf"{sig.name}\(\) expects"):
                compile_conditions([f"{too_many} IS NULL"], ztf_schema)


def test_the_field_browser_help_is_the_table():
    rows = help_rows()
    assert len(rows) == len(FUNCTIONS) + len(OPERATORS)
    calls = [r["call"] for r in rows]
    assert "round(number[, scale])" in calls and "floor(number)" in calls
    assert "greatest(comparable, comparable[, comparable ...])" in calls
    assert all(r["returns"] and r["what"] for r in rows)


@pytest.mark.parametrize("text,fragment", [
    ("abs((candidate.magpsf), 1) > 1", "abs() expects 1 argument: abs(number), got 2"),
    ("floor((candidate.magpsf), (2)) = 1", "got 2"),
    ("abs(()) > 1", "is not allowed"),
])
def test_parenthesised_arguments_still_refused_when_too_many(text, fragment, ztf_schema):
    with pytest.raises(ConditionError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        compile_conditions([text], ztf_schema)


def test_a_decimal_literal_is_a_double_in_both_engines(ztf_schema):
    """``0.5 + candid IN (candid)``: Spark computed it in DECIMAL (exact: false), DuckDB in DOUBLE
    (0.5 lost beside a 19-digit candid: true). A decimal literal is now a DOUBLE in both renderings."""
    big = 1_786_566_974_072_000_001
    cases = {  # condition -> what DOUBLE arithmetic gives on candid = big (both engines)
        "0.5 + candid IN (candid)": True,
        "candid + 0.5 = candid": True,
        "candid * 1.0 = candid": True,   # big is no double: candid is widened, both sides round alike
        "candid - 0.25 IN (candid, 1)": True,
        "0.1 + 0.2 = 0.3": False,        # DECIMAL in Spark was true; DOUBLE in both now
        "123456789.123456789 * 10 = 1234567891.2345679": True,  # DECIMAL: false
    }
    con = duckdb.connect()
    try:
        for text, expected in cases.items():
            c = compile_idempotent(text, ztf_schema)
            assert not re.search(r"(?<![\w.])\d*\.\d+(?![\dE])", c.spark_sql), c.spark_sql  # no DECIMAL literal left
            assert not re.search(r"(?<![\w.])\d*\.\d+(?![\dE])", c.duckdb_sql), c.duckdb_sql
            got = con.execute(f"SELECT ({c.duckdb_sql}) FROM (SELECT {big}::BIGINT AS candid)").fetchone()[0]
            assert got is expected, (text, got, c.duckdb_sql)
    finally:
        con.close()
    c = compile_conditions(["candidate.magpsf > 19.5 AND candid > 1e3 AND candid < 123456789.123456789"],
                           ztf_schema)[0]
    assert "19.5E0" in c.spark_sql and "1e3" in c.spark_sql and "123456789.12345679E0" in c.spark_sql


def test_case_when_null_is_rendered_so_that_spark_can_analyse_it(ztf_schema):
    """``CASE WHEN NULL THEN ...``: Spark's analyzer wants a BOOLEAN there ("NULL" has the type
    "VOID"); the rendering says ``(NULL) IS TRUE``, the same meaning (a NULL condition is not taken)."""
    con = duckdb.connect()
    try:
        for text, expected in {
            "CASE WHEN NULL THEN 1 ELSE 2 END > 1": True,
            "CASE WHEN (NULL) THEN 1 END IS NULL": True,
            "CASE WHEN coalesce(NULL, NULL) THEN 1 WHEN candid > 0 THEN 3 ELSE 2 END = 3": True,
        }.items():
            c = compile_idempotent(text, ztf_schema)
            assert re.search(r"WHEN \(?(NULL|COALESCE\(NULL, NULL\))\)? IS TRUE THEN", c.spark_sql), c.spark_sql
            got = con.execute(f"SELECT ({c.duckdb_sql}) FROM (SELECT 5::BIGINT AS candid)").fetchone()[0]
            assert got is expected, (text, got)
        c = compile_conditions(["CASE WHEN candid > 0 THEN 1 ELSE 2 END = 1"], ztf_schema)[0]
        assert "IS TRUE" not in c.spark_sql  # a boolean condition is left as written
    finally:
        con.close()
