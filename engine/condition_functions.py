"""The one table of what a condition may call: every function and operator, its arguments, its result.

Why one table: the checker (``engine.conditions``) refuses a call whose arity or argument kinds
are not listed here, and the field browser shows the same rows as help, so what the help says
is exactly what validation accepts. A wrong call must fail while the user types, not an hour
into a job (``floor()`` used to pass validation and kill the job in DuckDB's binder).

Argument kinds: ``number`` (any integer or floating type), ``string``, ``boolean``, ``array``
(an array column or ``filter(...)``), ``lambda`` (``x -> condition``), ``scale`` (an integer
literal), ``value`` (a number, string or boolean), ``any`` (also arrays and structs),
``comparable`` (number, string or boolean, all of one kind). Results: a kind, or ``same``
(the common type of the arguments, Spark's widening).
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Signature:
    """One callable: ``args`` are required, ``optional`` may follow, ``repeat`` may follow any number."""

    name: str
    args: tuple[str, ...]
    result: str
    summary: str
    optional: tuple[str, ...] = ()
    repeat: str | None = None
    operator: bool = False

    @property
    def min_args(self) -> int:
        return len(self.args)

    @property
    def max_args(self) -> int | None:
        return None if self.repeat else len(self.args) + len(self.optional)

    def usage(self) -> str:
        """``round(number[, scale])``: how the help and the error messages show a call."""
        if self.operator:
            return self.summary.split(":")[0]
        parts = ", ".join(self.args)
        if self.optional:
            parts += "".join(f"[, {k}]" for k in self.optional)
        if self.repeat:
            parts += f"[, {self.repeat} ...]"
        return f"{self.name}({parts})"

    def expects(self) -> str:
        """'1 argument (a number)': the tail of a wrong-call message."""
        lo, hi = self.min_args, self.max_args
        if hi is None:
            count = f"at least {lo} argument{'s' if lo != 1 else ''}"
        elif lo == hi:
            count = f"{lo} argument{'s' if lo != 1 else ''}"
        else:
            count = f"{lo} to {hi} arguments"
        return f"{count}: {self.usage()}"


def _f(name, args, result, summary, **kw) -> Signature:
    return Signature(name, tuple(args), result, summary, **kw)


def _family(args, result, **summaries) -> tuple[Signature, ...]:
    """Functions of one signature, ``name="what it does"`` each, in display order."""
    return tuple(_f(name, args, result, summary) for name, summary in summaries.items())


_NUM1 = ("number",)
_NO_POSITIVE = "(NULL for x <= 0)"
FUNCTIONS: tuple[Signature, ...] = (
    _f("abs", _NUM1, "same", "absolute value"),
    *_family(_NUM1, "double", sign="-1.0, 0.0 or 1.0", signum="same as sign", sqrt="square root (NaN below 0)",
             exp="e to the power x", ln=f"natural logarithm {_NO_POSITIVE}", log10=f"base-10 logarithm {_NO_POSITIVE}",
             log2=f"base-2 logarithm {_NO_POSITIVE}"),
    _f("log", _NUM1, "double", "log(x) is ln(x); log(base, x): NULL unless both > 0", optional=("number",)),
    *_family(("number", "number"), "double", pow="x to the power y", power="same as pow"),
    *_family(_NUM1, "long", floor="largest integer <= x", ceil="smallest integer >= x", ceiling="same as ceil"),
    _f("round", _NUM1, "same", "round half up to scale decimals (an integer literal, -3 to 18)",
       optional=("scale",)),
    *_family(_NUM1, "double", sin="sine (radians)", cos="cosine (radians)", tan="tangent (radians)",
             radians="degrees to radians", degrees="radians to degrees"),
    _f("isnan", _NUM1, "boolean", "true if x is NaN"),
    _f("greatest", ("comparable", "comparable"), "same", "largest non-NULL argument", repeat="comparable"),
    _f("least", ("comparable", "comparable"), "same", "smallest non-NULL argument", repeat="comparable"),
    _f("coalesce", ("value",), "same", "first non-NULL argument", repeat="value"),
    _f("nvl", ("value", "value"), "same", "nvl(x, y): y when x is NULL"),
    *_family(("any",), "boolean", isnull="true if x is NULL", isnotnull="true if x is not NULL"),
    *_family(("string",), "string", lower="lower case", lcase="same as lower", upper="upper case",
             ucase="same as upper"),
    _f("length", ("string",), "int", "number of characters"),
    *_family(("string", "string"), "boolean", startswith="true if s starts with prefix",
             endswith="true if s ends with suffix"),
    *_family(("array",), "int", size="number of elements (-1 for NULL)", array_size="same as size"),
    _f("array_contains", ("array", "value"), "boolean", "true if the array holds the value"),
    *_family(("array", "lambda"), "boolean", exists="exists(arr, x -> cond): some element matches",
             forall="forall(arr, x -> cond): every element matches"),
    _f("filter", ("array", "lambda"), "array", "filter(arr, x -> cond): the matching elements"),
)

OPERATORS: tuple[Signature, ...] = (
    _f("+ - *", ("number", "number"), "same",
       "a + b, a - b, a * b: integers wrap around on overflow, as in Spark", operator=True),
    _f("/", ("number", "number"), "double", "a / b: always floating point; NULL when b = 0", operator=True),
    _f("%", ("number", "number"), "same", "a % b: remainder with the sign of a; NULL when b = 0",
       operator=True),
    _f("-x", ("number",), "same", "-x: negation", operator=True),
    _f("= <> != < <= > >= <=>", ("comparable", "comparable"), "boolean",
       "a = b ...: numbers with numbers, strings with strings, booleans with booleans", operator=True),
    _f("BETWEEN", ("comparable", "comparable", "comparable"), "boolean",
       "x BETWEEN lo AND hi: three values of one kind", operator=True),
    _f("IN", ("comparable", "comparable"), "boolean", "x IN (v1, v2, ...): values of the kind of x",
       repeat="comparable", operator=True),
    _f("LIKE ILIKE", ("string", "string"), "boolean",
       "s LIKE 'pattern': % and _ are wildcards, \\% and \\_ are themselves", operator=True),
    _f("AND OR", ("boolean", "boolean"), "boolean", "a AND b, a OR b: true/false conditions",
       operator=True),
    _f("NOT", ("boolean",), "boolean", "NOT a: a true/false condition", operator=True),
    _f("IS NULL", ("any",), "boolean", "x IS [NOT] NULL: any value", operator=True),
    _f("CAST", ("value",), "same",
       "CAST(x AS DOUBLE|FLOAT|STRING): numbers, strings, booleans; NULL when a string is no number",
       operator=True),
    _f("CASE / IF", ("boolean", "value", "value"), "same",
       "CASE WHEN cond THEN a ELSE b END, if(cond, a, b): branches of one kind", operator=True),
)

BY_NAME: dict[str, Signature] = {s.name: s for s in FUNCTIONS}
FUNCTION_NAMES = frozenset(BY_NAME)
HIGHER_ORDER = frozenset(s.name for s in FUNCTIONS if "lambda" in s.args)


def help_rows() -> list[dict]:
    """Rows for the field browser's help: usage, result, what it does (functions, then operators)."""
    return [{"call": s.usage(), "returns": s.result, "what": s.summary.split(": ", 1)[-1]}
            for s in FUNCTIONS + OPERATORS]
