"""A hypothesis grammar of condition texts, as a new user (or an attacker) might type them.

Why: hand-written lists only hold the cases someone thought of. This grammar mixes valid ZTF
columns, unknown names, allowed and forbidden functions with right and wrong arities, literals
of every kind (int/long edges, decimals, exponents, strings with quotes and backslashes,
booleans, NULL), nesting, lambdas, casts, comments and statement separators. Expressions are
built by intended kind (number, string, boolean) with a share of deliberate mistakes, so that
both accepted and refused conditions are frequent.
"""

from __future__ import annotations

from hypothesis import strategies as st

from engine.condition_functions import FUNCTIONS

INT_COLUMNS = ["candid", "candidate.fid", "candidate.ndethist", "candidate.pid", "candidate.nid",
               "candidate.field", "year", "month", "day", "roid"]
FLOAT_COLUMNS = ["candidate.magpsf", "candidate.sigmapsf", "candidate.distnr", "candidate.magnr",
                 "candidate.jd", "candidate.ra", "candidate.dec", "candidate.drb", "rf_snia_vs_nonia",
                 "anomaly_score", "candidate.classtar", "lc_features_g.mean"]
STRING_COLUMNS = ["objectId", "finkclass", "tnsclass", "cdsxmatch", "candidate.isdiffpos", "tracklet"]
BOOL_COLUMNS = []  # the ZTF schema has none at the top level; booleans come from predicates
OTHER_COLUMNS = ["candidate", "prv_candidates", "cutoutScience", "prv_candidates.magpsf"]
UNKNOWN = ["magpsf", "candidate.magpsff", "foo", "candidate.nope", "x", "`candidate.magpsf`"]
LAMBDA_NUM = ["x.magpsf", "x.sigmapsf", "x.fid", "x.jd", "x.diffmaglim", "x.nope"]
LAMBDA_STR = ["x.isdiffpos"]

INT_LITERALS = ["0", "1", "-1", "2", "3", "19", "100000", "2147483647", "2147483648", "-2147483648",
                "9223372036854775807", "9223372036854775808", "4611686018427387904"]
DEC_LITERALS = ["0.5", "19.5", "-4.25", "0.0", "1.0", "1e3", "1e-5", "1e308", "3.5e38", "-0.0",
                "123456789.123456789", ".5", "2.675"]
STR_LITERALS = ["'ZTF19%'", "'ZTF%'", "''", "'a''b'", "'t'", "'1'", "'1.5'", "' 2 '", "'SN candidate'",
                "'Unknown'", "'%'", "'_'", "'\\\\'", "'a\\\\%'", "'\\\\x'", "'nan'", "'Infinity'", "'1e3'"]
FORBIDDEN = ["reflect", "java_method", "rand", "transform", "aggregate", "explode", "count", "upper2",
             "from_json", "sleep", "current_user", "input_file_name", "array_sort"]
CAST_TYPES = ["DOUBLE", "FLOAT", "STRING", "INT", "BIGINT", "BINARY", "DECIMAL(10,2)", "BOOLEAN"]
COMPARE = ["=", "<>", "!=", "<", "<=", ">", ">=", "<=>"]
ARITH = ["+", "-", "*", "/", "%"]


def _call(name, args):
    return f"{name}({', '.join(args)})"


def _binary(left, ops, right):
    return st.tuples(left, st.sampled_from(ops), right).map(lambda t: f"{t[0]} {t[1]} {t[2]}")


def _depth(clean: bool = False):
    """Deferred strategies per intended kind: numbers, strings, booleans, and anything (mistakes).

    ``clean``: no deliberate mistakes (right arities, known columns), so that deep, well-typed
    expressions - the ones whose semantics can differ between the engines - are frequent too.
    """
    bad_leaf = st.sampled_from(UNKNOWN + OTHER_COLUMNS + ["NULL", "?", "${x}"])
    num_leaf = st.one_of(st.sampled_from(INT_COLUMNS), st.sampled_from(FLOAT_COLUMNS),
                         st.sampled_from(INT_LITERALS), st.sampled_from(DEC_LITERALS),
                         st.integers(-10**6, 10**6).map(str), st.just("NULL"))
    str_leaf = st.one_of(st.sampled_from(STRING_COLUMNS), st.sampled_from(STR_LITERALS), st.just("NULL"))

    num = st.deferred(lambda: st.one_of(
        num_leaf, num_leaf, num_leaf,
        _binary(num, ARITH, num),
        num.map(lambda a: f"-{a}"),
        num.map(lambda a: f"({a})"),
        st.tuples(any_, st.sampled_from(["DOUBLE", "FLOAT"])).map(lambda t: f"CAST({t[0]} AS {t[1]})"),
        st.tuples(boolean, num, num).map(lambda t: f"if({t[0]}, {t[1]}, {t[2]})"),
        st.tuples(boolean, num, num).map(lambda t: f"CASE WHEN {t[0]} THEN {t[1]} ELSE {t[2]} END"),
        function("num"), function("num"), function("num"),
        lambdas("num"),
    ))
    string = st.deferred(lambda: st.one_of(
        str_leaf, str_leaf, str_leaf,
        st.tuples(any_, st.sampled_from(["STRING"])).map(lambda t: f"CAST({t[0]} AS {t[1]})"),
        function("str"),
    ))
    boolean = st.deferred(lambda: st.one_of(
        st.sampled_from(["true", "false"]),
        _binary(num, COMPARE, num), _binary(num, COMPARE, num),
        _binary(string, COMPARE, string),
        _binary(boolean, ["AND", "OR"], boolean),
        boolean.map(lambda a: f"NOT ({a})"),
        boolean.map(lambda a: f"({a})"),
        st.tuples(num, num, num).map(lambda t: f"{t[0]} BETWEEN {t[1]} AND {t[2]}"),
        st.tuples(num, st.lists(num, min_size=1, max_size=3)).map(lambda t: f"{t[0]} IN ({', '.join(t[1])})"),
        st.tuples(string, st.lists(string, min_size=1, max_size=3)).map(
            lambda t: f"{t[0]} NOT IN ({', '.join(t[1])})"),
        st.tuples(string, st.sampled_from(["LIKE", "ILIKE", "NOT LIKE", "RLIKE"]),
                  st.sampled_from(STR_LITERALS + STRING_COLUMNS)).map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
        any_.map(lambda a: f"{a} IS NULL"),
        any_.map(lambda a: f"{a} IS NOT NULL"),
        function("bool"), _binary(function("num"), COMPARE, num), _binary(function("num"), COMPARE, num),
        lambdas("bool"),
        *([] if clean else [mistake.map(lambda m: f"{m} > 1")]),
    ))
    # anything: right kinds in wrong places, unknown names, forbidden calls, wrong casts
    any_ = st.deferred(lambda: st.one_of(num, string, boolean) if clean else
                       st.one_of(num, string, boolean, mistake))
    mistake = st.deferred(lambda: st.one_of(
        bad_leaf,
        _binary(any_, ARITH, any_),
        _binary(any_, COMPARE, any_),
        st.tuples(any_, any_, any_).map(lambda t: f"{t[0]} NOT BETWEEN {t[1]} AND {t[2]}"),
        st.tuples(any_, st.lists(any_, min_size=1, max_size=3)).map(lambda t: f"{t[0]} IN ({', '.join(t[1])})"),
        st.tuples(any_, st.sampled_from(CAST_TYPES)).map(lambda t: f"CAST({t[0]} AS {t[1]})"),
        st.tuples(any_, any_, any_).map(lambda t: f"CASE WHEN {t[0]} THEN {t[1]} ELSE {t[2]} END"),
        function("any"),
        st.tuples(st.sampled_from(FORBIDDEN), st.lists(any_, max_size=2)).map(lambda t: _call(t[0], t[1])),
    ))

    def function(kind):
        """A table function whose result has ``kind``, called with 1 fewer to 2 more arguments."""
        sigs = [s for s in FUNCTIONS if kind == "any" or _kind_of(s) == kind]
        arg = {"number": num, "string": string, "boolean": boolean, "comparable": num, "value": num,
               "array": st.sampled_from(
            ["prv_candidates", "candid", "candidate"]), "scale": st.sampled_from(["0", "1", "2", "-1", "candid"])}

        def call(sig):
            kinds = list(sig.args) + list(sig.optional)
            wanted = st.tuples(*[arg.get(k, any_) for k in kinds[:sig.min_args]],
                               st.lists(arg.get(kinds[-1], any_) if kinds else any_, max_size=1))
            right = wanted.map(lambda t: list(t[:-1]) + t[-1] if sig.max_args is None or
                               len(t) - 1 < sig.max_args else list(t[:-1]))
            wrong = st.lists(any_, min_size=max(0, sig.min_args - 1), max_size=sig.min_args + 2)
            return (right if clean else st.one_of(right, right, right, wrong)).map(
                lambda args: _call(sig.name, args))

        built = {}  # one strategy per signature, built on its first draw (not on every draw: 3x faster)

        def strategy_of(sig):
            if sig not in built:
                built[sig] = call(sig)
            return built[sig]

        return st.sampled_from(sigs).flatmap(strategy_of)

    return num, string, boolean, any_


def _kind_of(sig) -> str:
    return {"boolean": "bool", "string": "str", "double": "num", "long": "num", "int": "num",
            "same": "num"}.get(sig.result, "any")


def lambdas(kind: str):
    """exists / forall (``bool``) or size(filter ...) (``num``) over prv_candidates, with a small
    condition on the element. (Drawn for the kind, not filtered: a filter that missed three times
    threw the whole example away, a third of all draws.)"""
    field = st.sampled_from(LAMBDA_NUM)
    value = st.one_of(st.sampled_from(INT_LITERALS[:6] + DEC_LITERALS[:6]), field)
    body = st.one_of(
        st.tuples(field, st.sampled_from(COMPARE), value).map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
        field.map(lambda f: f"{f} IS NULL"),
        st.tuples(field, st.sampled_from(ARITH), value, value).map(lambda t: f"{t[0]} {t[1]} {t[2]} > {t[3]}"),
        st.sampled_from(LAMBDA_STR).map(lambda f: f"{f} = 't'"),
        field.map(lambda f: f"ln({f}) > 1"),
        field,  # not a condition
    )
    arr = st.sampled_from(["prv_candidates", "prv_candidates", "prv_candidates", "candidate", "candid"])
    if kind == "num":
        return st.tuples(arr, body).map(lambda t: f"size(filter({t[0]}, x -> {t[1]}))")
    return st.tuples(st.sampled_from(["exists", "forall"]), arr, body).map(lambda t: f"{t[0]}({t[1]}, x -> {t[2]})")


DECORATIONS = ["", "", "", "", " -- a comment", " /* note */", "; DROP TABLE x", ";", " ;", "\u200b", " '",
               " )", " (", "\n", " AND", " --;", " /* ; */"]


def conditions():
    """Whole condition texts: mostly boolean expressions, some not, with comments and separators."""
    num, string, boolean, any_ = _depth()
    clean_boolean = _depth(clean=True)[2]
    top = st.one_of(clean_boolean, clean_boolean, boolean, boolean, any_)
    return st.tuples(top, st.sampled_from(DECORATIONS)).map(lambda t: t[0] + t[1])


def without_local_constants():
    """Make hypothesis draw as if no project module were loaded (a context manager; an empty one
    if this hypothesis has no such pool).

    Why: hypothesis (6.1xx) returns, for some integer draws (p = 0.05), one of the integer
    literals (|n| >= 100) of the project modules loaded at that moment - in ``st.integers(-10**6,
    10**6)`` and in its own choices among more than 100 alternatives. So the generated conditions
    changed with what earlier tests had imported (3000 examples: 1054 to 1131 accepted;
    PYTHONHASHSEED changed nothing). Hypothesis's own constants stay: they are fixed.
    """
    import contextlib

    from hypothesis.internal.conjecture import providers

    if not (hasattr(providers, "_get_local_constants") and hasattr(providers, "CONSTANTS_CACHE")):
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def empty_pool():
        saved = providers._get_local_constants
        providers.CONSTANTS_CACHE.cache.clear()
        providers._get_local_constants = lambda: providers.Constants()
        try:
            yield
        finally:
            providers._get_local_constants = saved
            providers.CONSTANTS_CACHE.cache.clear()

    return empty_pool()


def numbers():
    """Number expressions alone (the grammar's ``num``)."""
    return _depth()[0]
