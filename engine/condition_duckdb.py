"""The DuckDB rendering of a vetted condition tree, computing what Spark (non-ANSI) computes.

Why its own module: the job's per-batch evaluator, the exact count and the local engine run
DuckDB, the real service ran Spark; every difference between the two (log of a non-positive
number, x / 0, integer overflow, floor of NaN, rounding, three-valued exists/forall) is one
rewrite here, proved by ``tests/test_conditions_spark.py``. Input: the tree checked by
``engine.conditions`` (every node's Spark type in ``node.meta["type"]``).
"""

from __future__ import annotations

import pyarrow as pa

from engine import condition_types as T


def to_duckdb_semantics(tree):
    """Rewrite the (vetted) tree so DuckDB computes what Spark (non-ANSI) computes."""
    from sqlglot import exp

    def positive_only(value, build):
        return exp.Case(ifs=[exp.If(this=exp.GT(this=value.copy(), expression=exp.Literal.number(0)),
                                    true=build)])

    def fn(name, *args):
        return exp.Anonymous(this=name, expressions=list(args))

    def lam_parts(node):
        if isinstance(node, exp.Anonymous):
            return node.expressions[0], node.expressions[1]
        return node.this, node.expression

    def list_filter_len(arr, lam_body_builder, lam):
        var = lam.expressions[0].copy()
        body = lam_body_builder(lam.this.copy())
        return fn("len", fn("list_filter", arr.copy(), exp.Lambda(this=body, expressions=[var])))

    def rewrite(node):
        if isinstance(node, exp.Log):
            if node.expression is None:  # LN(x)
                return positive_only(node.this, fn("ln", node.this.copy()))
            base, x = node.this, node.expression
            if isinstance(base, exp.Literal) and base.this == "10":
                return positive_only(x, fn("log10", x.copy()))
            if isinstance(base, exp.Literal) and base.this == "2":
                return positive_only(x, fn("log2", x.copy()))
            both = exp.And(this=exp.GT(this=base.copy(), expression=exp.Literal.number(0)),
                           expression=exp.GT(this=x.copy(), expression=exp.Literal.number(0)))
            return exp.Case(ifs=[exp.If(this=both, true=exp.Div(
                this=fn("ln", x.copy()), expression=fn("ln", base.copy())))])
        if isinstance(node, exp.Ln):
            return positive_only(node.this, fn("ln", node.this.copy()))
        if isinstance(node, exp.Anonymous) and str(node.this).lower() in ("log2",):
            return positive_only(node.expressions[0], fn("log2", node.expressions[0].copy()))
        if isinstance(node, exp.Mod):
            return exp.Mod(this=node.this.copy(),
                           expression=exp.Nullif(this=node.expression.copy(), expression=exp.Literal.number(0)))
        if isinstance(node, exp.ArraySize):
            return exp.Coalesce(this=fn("len", node.this.copy()), expressions=[exp.Literal.number(-1)])
        if isinstance(node, exp.Cast) and not isinstance(node, exp.TryCast):
            return exp.TryCast(this=node.this.copy(), to=node.to.copy())
        if isinstance(node, exp.Anonymous) and str(node.this).lower() in ("isnull", "isnotnull"):
            cls = exp.Is(this=node.expressions[0].copy(), expression=exp.Null())
            return cls if str(node.this).lower() == "isnull" else exp.Not(this=cls)
        if isinstance(node, exp.Anonymous) and str(node.this).lower() == "endswith":
            return fn("ends_with", *[a.copy() for a in node.expressions])
        if isinstance(node, exp.Anonymous) and str(node.this).lower() in ("signum",):
            return fn("sign", *[a.copy() for a in node.expressions])
        is_exists = isinstance(node, exp.Exists) and isinstance(node.expression, exp.Lambda)
        is_forall = isinstance(node, exp.Anonymous) and str(node.this).lower() == "forall"
        if is_exists or is_forall:
            arr, lam = lam_parts(node)
            hit = list_filter_len(arr, (lambda b: b) if is_exists else (lambda b: exp.Not(this=exp.Paren(this=b))), lam)
            unknown = list_filter_len(arr, lambda b: exp.Is(this=exp.Paren(this=b), expression=exp.Null()), lam)
            decided, other = (exp.true(), exp.false()) if is_exists else (exp.false(), exp.true())
            return exp.Case(ifs=[
                exp.If(this=exp.Is(this=arr.copy(), expression=exp.Null()), true=exp.Null()),
                exp.If(this=exp.GT(this=hit, expression=exp.Literal.number(0)), true=decided),
                exp.If(this=exp.GT(this=unknown, expression=exp.Literal.number(0)), true=exp.Null()),
            ], default=other)
        if isinstance(node, exp.ArrayContains):
            # Spark: true if found; else NULL if the array holds a NULL; else false
            arr, value = node.this, node.expression
            return exp.Case(ifs=[
                exp.If(this=exp.Or(this=exp.Is(this=arr.copy(), expression=exp.Null()),
                                   expression=exp.Is(this=value.copy(), expression=exp.Null())),
                       true=exp.Null()),
                exp.If(this=fn("list_contains", arr.copy(), value.copy()), true=exp.true()),
                exp.If(this=exp.LT(this=fn("list_count", arr.copy()), expression=fn("len", arr.copy())),
                       true=exp.Null()),
            ], default=exp.false())
        return node

    return _bottom_up(tree, lambda node: _spark_numbers(node) or rewrite(node))


MAX_RENDERED_NODES = 20_000


class RenderTooLarge(Exception):
    """The DuckDB rendering repeats some arguments (a CASE per shim); nested shims multiply them."""


def _bottom_up(node, fn):
    """Rewrite the children first, then the node (sqlglot's transform skips below a replaced node)."""
    from sqlglot import exp

    for key, value in list(node.args.items()):
        if isinstance(value, exp.Expression):
            node.set(key, _bottom_up(value, fn))
        elif isinstance(value, list):
            node.set(key, [_bottom_up(v, fn) if isinstance(v, exp.Expression) else v for v in value])
    new = fn(node)
    if new is not node and "type" in node.meta:
        new.meta["type"] = node.meta["type"]
    new.meta["size"] = _size(new)
    if new.meta["size"] > MAX_RENDERED_NODES:
        raise RenderTooLarge()
    return new


def _size(node) -> int:
    """Nodes in ``node``'s tree; subtrees already rewritten (and their copies) carry their size."""
    known = node.meta.get("size")
    if known is not None:
        return known
    return 1 + sum(_size(child) for child in node.iter_expressions())


_DUCK_INT = {8: "TINYINT", 16: "SMALLINT", 32: "INT", 64: "BIGINT"}
_FLOAT_MAX_ROUNDED = "3.4028235677973366e38"  # doubles from here on round to a float infinity


def _spark_numbers(node):
    """DuckDB raises on integer overflow and differs on floor/ceil/sign/CAST edges; Spark does not.

    Integer ``+ - * %``, negation and ``abs`` are computed in INT128 (a product of two BIGINTs
    fits) and wrapped to the Spark result's width in two's complement, as Spark's non-ANSI
    arithmetic does; ``floor``/``ceil`` of a float give a BIGINT as Java's (long) cast does
    (NaN -> 0, beyond range -> the extreme); ``sign`` is a DOUBLE keeping NaN; ``isnan(NULL)`` is
    false; ``round`` rounds the decimal form HALF_UP; a DOUBLE cast to
    FLOAT beyond the float range is an infinity. Returns None when the node needs nothing.
    """
    from sqlglot import exp

    t = node.meta.get("type")

    def typed(n):
        return n.meta.get("type") if isinstance(n, exp.Expression) else None

    def cast(value, to):
        return exp.Cast(this=value, to=exp.DataType.build(to, dialect="duckdb"))

    def wide(value):
        return cast(value.copy(), "INT128")

    def wrap(value, bits):
        half, full = exp.Literal.number(2 ** (bits - 1)), exp.Literal.number(2 ** bits)
        shifted = exp.Paren(this=exp.Add(this=value, expression=half))
        mod = exp.Mod(this=exp.Paren(this=exp.Add(this=exp.Paren(this=exp.Mod(this=shifted, expression=full)),
                                                 expression=full.copy())), expression=full.copy())
        return cast(exp.Paren(this=exp.Sub(this=mod, expression=half.copy())), _DUCK_INT[bits])

    bits = T.integer_bits(t) if t is not None else None
    if bits and isinstance(node, (exp.Add, exp.Sub, exp.Mul)):
        op = type(node)(this=wide(node.this), expression=wide(node.expression))
        return wrap(op, bits)
    if bits and isinstance(node, exp.Mod):
        rest = exp.Mod(this=wide(node.this), expression=exp.Nullif(this=wide(node.expression),
                                                                    expression=exp.Literal.number(0)))
        return cast(exp.Paren(this=rest), _DUCK_INT[bits])
    if bits and isinstance(node, exp.Neg) and not isinstance(node.this, exp.Literal):
        return wrap(exp.Sub(this=exp.Literal.number(0), expression=wide(node.this)), bits)
    if bits and isinstance(node, exp.Abs):
        return wrap(exp.Abs(this=wide(node.this)), bits)
    if isinstance(node, (exp.Floor, exp.Ceil)):
        arg = node.this
        at = typed(arg)
        if at is not None and T.is_integer(at):
            return cast(arg.copy(), "BIGINT")
        if at is not None and T.is_floating(at):
            big = exp.Literal.number("9.223372036854776e18")
            return exp.Case(ifs=[
                exp.If(this=exp.IsNan(this=arg.copy()), true=exp.Literal.number(0)),
                exp.If(this=exp.GTE(this=arg.copy(), expression=big),
                       true=exp.Literal.number(2 ** 63 - 1)),
                exp.If(this=exp.LTE(this=arg.copy(), expression=exp.Neg(this=big.copy())),
                       true=exp.Literal.number(-2 ** 63)),
            ], default=cast(type(node)(this=arg.copy()), "BIGINT"))
        return None
    if isinstance(node, exp.Round) and typed(node.this) is not None and not T.is_integer(typed(node.this)):
        # Spark rounds HALF_UP the double's shortest decimal form (round(2.675, 2) = 2.68);
        # DuckDB scales the binary value (2.67). Round that decimal form in DuckDB too.
        value, scale = node.this, node.args.get("decimals") or exp.Literal.number(0)
        decimal = exp.TryCast(this=cast(cast(value.copy(), "DOUBLE"), "VARCHAR"),
                              to=exp.DataType.build("DECIMAL(38, 18)", dialect="duckdb"))
        target = "FLOAT" if pa.types.is_float32(typed(value)) else "DOUBLE"
        exact = exp.Or(this=exp.Not(this=exp.Anonymous(this="isfinite", expressions=[value.copy()])),
                       expression=exp.GTE(this=exp.Abs(this=value.copy()), expression=exp.Literal.number("1e20")))
        return exp.Case(ifs=[exp.If(this=exact, true=cast(value.copy(), target))],
                        default=cast(exp.Round(this=decimal, decimals=scale.copy()), target))
    if isinstance(node, (exp.Like, exp.ILike)) and isinstance(node.expression, exp.Literal) \
            and "\\" in node.expression.this and not isinstance(node.parent, exp.Escape):
        # Spark's LIKE escapes with a backslash by default; DuckDB's has no escape character
        return exp.Escape(this=node.copy(), expression=exp.Literal.string("\\"))
    if isinstance(node, exp.Between):
        # Spark: x >= lo AND x <= hi, each comparison at its own common type (bigint vs float
        # widens to float for one side only); DuckDB casts all three to one type
        low = exp.GTE(this=node.this.copy(), expression=node.args["low"].copy())
        high = exp.LTE(this=node.this.copy(), expression=node.args["high"].copy())
        return exp.Paren(this=exp.And(this=low, expression=high))
    if isinstance(node, exp.IsNan):  # Spark: isnan(NULL) is false, DuckDB: NULL
        return exp.Coalesce(this=exp.IsNan(this=node.this.copy()), expressions=[exp.false()])
    if isinstance(node, exp.Sign):
        arg = node.this
        as_double = cast(exp.Sign(this=arg.copy()), "DOUBLE")
        if typed(arg) is not None and T.is_floating(typed(arg)):
            return exp.Case(ifs=[exp.If(this=exp.IsNan(this=arg.copy()),
                                        true=cast(exp.Literal.string("NaN"), "DOUBLE"))], default=as_double)
        return as_double
    if isinstance(node, (exp.Cast, exp.TryCast)) and node.to.this.name == "FLOAT":
        at = typed(node.this)
        value = node.this
        if at is not None and T.is_string(at):  # Spark: '1e300' is a float infinity, DuckDB: NULL
            value = exp.TryCast(this=value.copy(), to=exp.DataType.build("DOUBLE"))
        if at is not None and (pa.types.is_float64(at) or pa.types.is_decimal(at) or T.is_string(at)):
            limit = exp.Literal.number(_FLOAT_MAX_ROUNDED)
            return exp.Case(ifs=[
                exp.If(this=exp.GTE(this=value.copy(), expression=limit),
                       true=cast(exp.Literal.string("inf"), "FLOAT")),
                exp.If(this=exp.LTE(this=value.copy(), expression=exp.Neg(this=limit.copy())),
                       true=cast(exp.Literal.string("-inf"), "FLOAT")),
            ], default=exp.TryCast(this=value.copy(), to=node.to.copy()))
    return None
