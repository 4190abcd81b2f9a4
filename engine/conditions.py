"""User SQL conditions: validated on a parse tree with an allow-list, rendered for Spark and DuckDB.

Why: Spark executes whatever a filter string says - ``reflect('java.lang.System','exit',0)``
kills the JVM, a subquery on ``text.`/path``` reads local files, ``F.expr`` does not even parse
eagerly (spark.md 2.1). So a condition is parsed with sqlglot (Spark dialect, pure Python,
microseconds), every node is checked against a small allow-list, every column against the
archive schema, and the SQL the engines see is RENDERED FROM THE VETTED TREE (never the raw
text): comments, quoting tricks and second statements cannot reach an engine.

What validation accepts must also RUN, the same way, in both engines: a wrong call found an
hour into a job is useless. So the checker gives every node Spark's type and refuses, on the
line and naming the token, a function called with the wrong arity or argument kinds (the rules
are one table, ``engine.condition_functions``, also shown as the app's help) and comparisons,
``BETWEEN``, ``IN``, ``LIKE``, arithmetic, ``CASE`` and ``CAST`` mixing kinds (a string with a
number: Spark casts, DuckDB casts differently or fails), see ``engine.condition_types``.

DuckDB (estimates, small jobs) gets the same tree rendered with Spark semantics (non-ANSI,
as Fink ran it): ``LOG10/LN/LOG2/LOG(b, x)`` of a non-positive number is NULL, ``x / 0`` and
``x % 0`` are NULL, ``CAST`` is ``TRY_CAST``, ``size(NULL)`` is -1, ``exists``/``forall`` keep Spark's
three-valued logic; integer ``+ - * %`` wrap around instead of raising, ``floor``/``ceil``/
``round``/``sign``/``CAST AS FLOAT`` give Spark's values (``engine.condition_duckdb``). Predicates used
as operands keep their parentheses (Spark cannot parse ``a IS NULL IS NULL``). Both renderings
write a decimal literal as a DOUBLE (``0.5E0``): Spark computed ``0.5 + candid`` in DECIMAL,
DuckDB in DOUBLE, and they disagreed.
``tests/test_conditions_spark.py`` runs every construct on both engines;
``tests/test_conditions_property.py`` generates thousands of conditions.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math

import pyarrow as pa

from engine import condition_types as T
from engine.condition_duckdb import RenderTooLarge, to_duckdb_semantics
from engine.condition_functions import BY_NAME as FUNCTIONS_BY_NAME
from engine.condition_functions import FUNCTION_NAMES, HIGHER_ORDER
from engine.errors import UserError

MAX_LENGTH = 2000

# Columns a condition may use besides the archive's: the classification (added by the job
# before filtering) and the partition keys.
EXTRA_COLUMNS = (
    pa.field("finkclass", pa.string()), pa.field("tnsclass", pa.string()),
    pa.field("year", pa.int32()), pa.field("month", pa.int32()), pa.field("day", pa.int32()),
)
CLASSIFICATION_COLUMNS = frozenset({"finkclass", "tnsclass"})

# Functions a user may call (Spark names, lower case), with their arity and argument kinds:
# engine.condition_functions (the one table; the field browser's help shows it too).
ALLOWED_FUNCTIONS = FUNCTION_NAMES
CAST_TARGETS = frozenset({"DOUBLE", "FLOAT", "TEXT", "VARCHAR"})  # STRING parses as TEXT


class VettedCondition(str):
    """A condition the project wrote (a Fink filter's expression), not text a user typed.

    It goes through the same compiler and checks; only ``MAX_LENGTH``, a bound on user input,
    does not apply (a negated compound filter is longer). The rendering bound still does.
    """


class ConditionError(UserError):
    """A condition was refused; ``line`` (1-based) and ``token`` say where and what."""

    def __init__(self, line: int, message: str, token: str | None = None):
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.token = token
        self.reason = message


@dataclasses.dataclass(frozen=True)
class LineIssue:
    line: int
    message: str


@dataclasses.dataclass(frozen=True)
class CompiledCondition:
    text: str              # what the user wrote
    spark_sql: str         # for DataFrame.filter (Spark SQL, non-ANSI semantics)
    duckdb_sql: str        # for DuckDB WHERE, with Spark-semantics shims
    columns_used: frozenset  # dotted paths of archive columns, e.g. {"candidate.magpsf"}

    @property
    def top_columns(self) -> frozenset:
        return frozenset(c.split(".", 1)[0] for c in self.columns_used)

    @property
    def needs_classification(self) -> bool:
        return bool(self.top_columns & CLASSIFICATION_COLUMNS)


# ----------------------------------------------------------------------------- public API

def condition_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` plus the classification and partition columns conditions may use."""
    fields = list(schema)
    names = {f.name.lower() for f in fields}
    fields += [f for f in EXTRA_COLUMNS if f.name.lower() not in names]
    return pa.schema(fields)


def compile_conditions(conditions: list[str], schema: pa.Schema) -> list[CompiledCondition]:
    """Validate and render every condition; the first bad one raises ConditionError."""
    full = condition_schema(schema)
    return [compile_condition(c, full, line=i + 1) for i, c in enumerate(conditions)]


def check_conditions_text(text: str, schema: pa.Schema) -> list[LineIssue]:
    """Per-line problems of the textarea text (one condition per line), for instant UI feedback."""
    full = condition_schema(schema)
    issues = []
    for number, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.endswith(";"):
            line = line[:-1].rstrip()
        try:
            compile_condition(line, full, line=number)
        except ConditionError as e:
            issues.append(LineIssue(number, str(e)))
    return issues


def compile_condition(text: str, schema: pa.Schema, line: int = 1) -> CompiledCondition:
    """One condition; ``schema`` must already include the extra columns (see condition_schema).

    A ``VettedCondition`` (a Fink filter) is compiled once per schema and line: the negated
    ``magnetic_cvs`` is 66 KB and took a second or two each time (the same few filters are
    compiled by every estimate, job plan and filter test).
    """
    if isinstance(text, VettedCondition):
        return _compile_vetted(str(text), schema, line)
    return _compile_text(text, schema, line)


@functools.lru_cache(maxsize=128)
def _compile_vetted(text: str, schema: pa.Schema, line: int) -> CompiledCondition:
    return _compile_text(VettedCondition(text), schema, line)


def _compile_text(text: str, schema: pa.Schema, line: int) -> CompiledCondition:
    vetted = isinstance(text, VettedCondition)
    text = (text or "").strip()
    if not text:
        raise ConditionError(line, "empty condition")
    if len(text) > MAX_LENGTH and not vetted:
        raise ConditionError(line, f"condition longer than {MAX_LENGTH} characters")
    if ";" in _outside_strings(text):
        raise ConditionError(line, "';' is not allowed (one condition per line)", ";")
    tokens = _tokens(text)  # once, for the arity check and the parser (a 66 KB filter: 0.2 s each)
    _arity_problem(tokens, line)
    try:
        return _compile_tree(text, tokens, schema, line)
    except RecursionError:
        raise ConditionError(line, "condition nested too deeply; simplify it") from None
    except RenderTooLarge:
        raise ConditionError(line, "condition too complex once rendered for the engines "
                                   "(nested floor/ceil/round/log...); simplify it") from None


def _tokens(text: str):
    """The Spark tokens of ``text``; None if it does not tokenize (the parser then says why)."""
    import sqlglot

    try:
        return sqlglot.tokenize(text, read="spark")
    except sqlglot.errors.TokenError:
        return None


def _compile_tree(text: str, tokens, schema: pa.Schema, line: int) -> CompiledCondition:
    import sqlglot
    from sqlglot.dialects.dialect import Dialect

    try:
        if tokens is None:
            trees = sqlglot.parse(text, read="spark")  # raises the TokenError
        else:
            trees = Dialect.get_or_raise("spark").parser().parse(tokens, text)
    except sqlglot.errors.ParseError as e:
        raise ConditionError(line, _parse_message(e)) from None
    except sqlglot.errors.TokenError as e:
        raise ConditionError(line, f"syntax error: {str(e).splitlines()[0]}") from None
    trees = [t for t in trees if t is not None]
    if len(trees) != 1:
        raise ConditionError(line, "exactly one expression expected")
    tree = trees[0]
    for node in tree.walk():
        node.comments = None
    checker = _Checker(schema, line, text)
    result = checker.check(tree, scope={})
    stray = _unchecked_node(tree)
    if stray is not None:  # defence in depth: nothing reaches an engine that the checker did not see
        raise ConditionError(line, f"'{_snippet(stray, 40)}' is not allowed", _snippet(stray, 40))
    if not T.is_boolean(result):
        raise ConditionError(line, f"not a true/false condition: {_snippet(tree)}", _snippet(tree))
    tree = _parenthesize_predicates(_typed_alike_in_both_engines(tree))
    spark_sql = tree.sql(dialect="spark", copy=False)  # the Spark generator leaves the tree as it is
    duck_tree = to_duckdb_semantics(tree)  # the Spark rendering is done: rewrite the tree in place
    duckdb_sql = duck_tree.sql(dialect="duckdb", copy=False)  # the last use of the tree
    return CompiledCondition(text, spark_sql, duckdb_sql, frozenset(checker.columns))


# ----------------------------------------------------------------------------- checking

def _unchecked_node(tree):
    """The first node the checker gave no type (column parts, cast targets and lambda variables aside)."""
    from sqlglot import exp

    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (exp.DataType, exp.Identifier)):
            continue
        if "type" not in node.meta:
            return node
        if isinstance(node, (exp.Column, exp.Dot)):
            continue
        if isinstance(node, exp.Lambda):
            stack.append(node.this)
            continue
        stack.extend(node.iter_expressions())
    return None


def _typed_alike_in_both_engines(tree):
    """Where Spark's own typing of the checked tree differs from DuckDB's, or fails: the shared fix.

    - A decimal literal (``0.5``) is a DOUBLE in both renderings, written as a double literal
      (``0.5E0``, the shortest form that reads back as the same double in Java and DuckDB). Spark
      computed a decimal literal with an integer in DECIMAL and DuckDB in DOUBLE: ``0.5 + candid
      IN (candid)`` was false in Spark (exact) and true in DuckDB (0.5 lost beside a 19-digit
      candid); ``0.1 + 0.2 = 0.3`` was true in Spark only.
    - A ``CASE WHEN`` condition of type NULL (``WHEN NULL``, ``WHEN coalesce(NULL, NULL)``) is
      ``(...) IS TRUE``: Spark's analyzer refuses a VOID there; the meaning is the same (a NULL
      condition is not taken).
    """
    from sqlglot import exp

    for node in list(tree.walk()):
        if isinstance(node, exp.Literal) and node.is_number and not node.is_int and "type" in node.meta \
                and "e" not in node.this.lower():
            node.set("this", _double_text(node.this))
            node.meta["type"] = T.FLOAT64
        elif isinstance(node, exp.If) and isinstance(node.parent, exp.Case):
            t = node.this.meta.get("type")
            if t is not None and T.is_null(t):
                condition = exp.Is(this=node.this, expression=exp.true())
                condition.meta["type"] = condition.expression.meta["type"] = pa.bool_()
                node.set("this", condition)
    return tree


def _double_text(text: str) -> str:
    """``19.5`` -> ``19.5E0``: a decimal literal as the double literal both engines read alike."""
    mantissa, _, exponent = repr(float(text)).partition("e")
    return f"{mantissa}E{int(exponent or 0)}"


def _parenthesize_predicates(tree):
    """``(a IS NULL) IS NULL``: Spark's grammar takes no bare predicate as an operand; keep the parens."""
    from sqlglot import exp

    boolean_like = (exp.Predicate, exp.Connector, exp.Not)
    needs_value = (exp.Predicate, exp.Binary, exp.Neg)
    for node in list(tree.walk()):
        if not isinstance(node, needs_value) or isinstance(node, exp.Connector):
            continue
        for key, value in list(node.args.items()):
            children = value if isinstance(value, list) else [value]
            wrapped = [exp.Paren(this=c) if isinstance(c, boolean_like) else c for c in children]
            if any(w is not c for w, c in zip(wrapped, children)):
                for w, c in zip(wrapped, children):
                    if w is not c:
                        w.meta["type"] = c.meta.get("type")
                node.set(key, wrapped if isinstance(value, list) else wrapped[0])
    return tree


def _outside_strings(text: str) -> str:
    """The text with quoted parts blanked (a ';' inside a string literal is harmless)."""
    out, quote = [], None
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "'\"`":
            quote = ch
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _parse_message(error) -> str:
    errs = getattr(error, "errors", None) or []
    if errs:
        first = errs[0]
        near = first.get("highlight")
        if near:
            return f"syntax error near '{near}'"
        return f"syntax error: {str(first.get('description') or '').split('. ')[0]}"

    return f"syntax error: {str(error).splitlines()[0]}"


def _snippet(node, limit: int = 60) -> str:
    try:
        s = node.sql(dialect="spark")
    except Exception:  # noqa: BLE001 - only for a message
        s = type(node).__name__
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _function_name(node) -> str | None:
    from sqlglot import exp

    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    if isinstance(node, exp.Log):
        base = node.this
        if node.expression is None:
            return "ln"
        if isinstance(base, exp.Literal) and base.this in ("10", "2"):
            return "log10" if base.this == "10" else "log2"
        return "log"
    mapping = {
        exp.ArraySize: "size", exp.Exists: "exists", exp.ArrayFilter: "filter",
        exp.ArrayContains: "array_contains", exp.Coalesce: "coalesce", exp.StartsWith: "startswith",
        exp.EndsWith: "endswith",
        exp.Pow: "pow", exp.Ln: "ln", exp.Length: "length", exp.Greatest: "greatest",
        exp.Least: "least", exp.Abs: "abs", exp.Sqrt: "sqrt", exp.Exp: "exp", exp.Floor: "floor",
        exp.Ceil: "ceil", exp.Round: "round", exp.Lower: "lower", exp.Upper: "upper",
        exp.IsNan: "isnan", exp.Sign: "sign",
    }
    for cls, name in mapping.items():
        if type(node) is cls:
            return name
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return None


class _Checker:
    """Walks the tree once: allow-list, column resolution, and Spark's type of every node.

    Every node's type is left in ``node.meta["type"]`` for the DuckDB rendering (integer
    wrap-around, floor/ceil to BIGINT). The rules come from ``engine.condition_functions``.
    """

    def __init__(self, schema: pa.Schema, line: int, text: str = ""):
        self.schema = schema
        self.line = line
        self.text = text.lower()
        self.columns: set[str] = set()
        self._paths = None

    def fail(self, message, token=None):
        raise ConditionError(self.line, message, token)

    def check(self, node, scope: dict):
        t = self._check(node, scope)
        node.meta["type"] = t
        return t

    # -- nodes
    def _check(self, node, scope: dict):  # noqa: C901 - one dispatch over the allowed node kinds
        from sqlglot import exp

        if isinstance(node, (exp.Subquery, exp.Select, exp.Query, exp.Table, exp.From,
                             exp.Command, exp.Set)) or (isinstance(node, exp.In) and node.args.get("query")):
            self.fail("subqueries and tables are not allowed", _snippet(node))
        if isinstance(node, exp.Exists) and not isinstance(node.expression, exp.Lambda):
            self.fail("subqueries and tables are not allowed", _snippet(node))
        if isinstance(node, exp.Column):
            return self.resolve(self._column_parts(node), node, scope)
        if isinstance(node, exp.Dot):
            return self.resolve(self._dot_parts(node), node, scope)
        if isinstance(node, exp.Identifier):  # a bare lambda variable
            return self.resolve([node], node, scope)
        if isinstance(node, exp.Literal):
            return self.literal(node)
        if isinstance(node, exp.Boolean):
            return pa.bool_()
        if isinstance(node, exp.Null):
            return pa.null()
        if isinstance(node, exp.Paren):
            return self.check(node.this, scope)
        if isinstance(node, (exp.Cast, exp.TryCast)):
            return self.cast(node, scope)
        if isinstance(node, (exp.And, exp.Or)):
            for side in (node.this, node.expression):
                self.expect_boolean(side, scope, node.key.upper())
            return pa.bool_()
        if isinstance(node, exp.Not):
            self.expect_boolean(node.this, scope, "NOT")
            return pa.bool_()
        if isinstance(node, tuple(_COMPARISONS)):
            self.comparable([node.this, node.expression], scope, _COMPARISONS[type(node)], node)
            return pa.bool_()
        if isinstance(node, exp.Between):
            self.comparable([node.this, node.args["low"], node.args["high"]], scope, "BETWEEN", node)
            return pa.bool_()
        if isinstance(node, exp.In):
            if node.args.get("unnest") or node.args.get("field") or not node.expressions:
                self.fail(f"'{_snippet(node, 40)}' is not allowed", "IN")
            self.comparable([node.this, *node.expressions], scope, "IN", node)
            return pa.bool_()
        if isinstance(node, (exp.Like, exp.ILike)):
            return self.like(node, scope)
        if isinstance(node, exp.Is):
            t = self.check(node.this, scope)
            if isinstance(node.expression, exp.Boolean):
                if not (T.is_boolean(t) or T.is_null(t)):
                    self.fail(f"IS {node.expression.sql().upper()} needs a true/false value, "
                              f"not {T.kind_name(t)}", "IS")
            elif not isinstance(node.expression, exp.Null):
                self.fail(f"'{_snippet(node, 40)}' is not allowed", "IS")
            self.check(node.expression, scope)
            return pa.bool_()
        if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod)):
            return self.arithmetic(node, scope)
        if isinstance(node, exp.Neg):
            t = self.check(node.this, scope)
            if not (T.is_number(t) or T.is_null(t)):
                self.fail(f"'-' needs a number, not {T.kind_name(t)}", "-")
            return t
        if isinstance(node, exp.Case):
            return self.case(node, scope)
        if isinstance(node, exp.If):
            return self.if_(node, scope)
        if isinstance(node, exp.Lambda):
            self.fail("a lambda is only allowed as the 2nd argument of exists/forall/filter",
                      _snippet(node))
        if isinstance(node, exp.RegexpLike):
            self.fail("RLIKE/REGEXP is not allowed (Java and DuckDB regular expressions differ); "
                      "use LIKE", "RLIKE")
        if isinstance(node, exp.Func):
            return self.function(node, scope)
        self.fail(f"'{_snippet(node, 40)}' is not allowed", _snippet(node, 40))

    def literal(self, node):
        if node.is_string:
            return pa.string()
        text = node.this
        if node.is_int:
            t = T.integer_literal_type(text)
            if t is None:
                self.fail(f"integer {text} is out of range (at most 19 digits)", text)
            return t
        if not node.is_number:
            self.fail(f"bad literal {_snippet(node)}", _snippet(node))
        try:
            value = float(text)
        except ValueError:
            self.fail(f"bad number {text}", text)
        if math.isinf(value):
            self.fail(f"number {text} is out of the DOUBLE range", text)
        if sum(ch.isdigit() for ch in text) > 38 and "e" not in text.lower():
            self.fail(f"number {text[:20]}... has more than 38 digits", text)
        return T.FLOAT64  # 1.5 too: a DOUBLE in both renderings (_typed_alike_in_both_engines)

    def expect_boolean(self, node, scope, where):
        t = self.check(node, scope)
        if not (T.is_boolean(t) or T.is_null(t)):
            self.fail(f"{where} needs true/false conditions, not {T.kind_name(t)}: {_snippet(node)}", where)
        return t

    def comparable(self, nodes, scope, op, node):
        types = [self.check(n, scope) for n in nodes]
        for n, t in zip(nodes, types):
            if not T.is_scalar(t):
                self.fail(f"'{op}' cannot compare {T.kind_name(t)} ({_snippet(n)}); "
                          "compare its fields or use size()", op)
        for n, t in zip(nodes[1:], types[1:]):
            if not T.same_family(types[0], t):
                self.fail(f"'{op}' cannot compare {T.kind_name(types[0])} with {T.kind_name(t)} "
                          f"({_snippet(node)}); use CAST", op)
        return T.common_type(types)

    def like(self, node, scope):
        from sqlglot import exp

        op = "LIKE" if isinstance(node, exp.Like) else "ILIKE"
        value, pattern = node.this, node.expression
        t = self.check(value, scope)
        if not (T.is_string(t) or T.is_null(t)):
            self.fail(f"{op} needs a string on the left, not {T.kind_name(t)} ({_snippet(value)})", op)
        pt = self.check(pattern, scope)
        if T.is_null(pt):
            return pa.bool_()
        if not (isinstance(pattern, exp.Literal) and pattern.is_string):
            self.fail(f"the {op} pattern must be a quoted string, not {_snippet(pattern)}", op)
        bad = _bad_like_escape(pattern.this)
        if bad is not None:
            self.fail(f"{op} pattern {pattern.sql(dialect='spark')}: a backslash may only precede "
                      f"%, _ or another backslash{bad}", op)
        return pa.bool_()

    def arithmetic(self, node, scope):
        from sqlglot import exp

        op = {exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/", exp.Mod: "%"}[type(node)]
        a, b = (self.check(side, scope) for side in (node.this, node.expression))
        for side, t in ((node.this, a), (node.expression, b)):
            if not (T.is_number(t) or T.is_null(t)):
                self.fail(f"'{op}' needs numbers, not {T.kind_name(t)} ({_snippet(side)})", op)
        if isinstance(node, exp.Div):
            return T.division_type(a, b) if not (T.is_null(a) and T.is_null(b)) else T.FLOAT64
        t = T.widen(a, b)
        return T.INT32 if T.is_null(t) else t

    def cast(self, node, scope):
        target = node.to.this.name if node.to is not None else "?"
        if target not in CAST_TARGETS:
            self.fail(f"CAST to {node.to.sql(dialect='spark')} is not allowed "
                      "(use DOUBLE, FLOAT or STRING)", node.to.sql(dialect="spark"))
        t = self.check(node.this, scope)
        if not T.is_scalar(t):
            self.fail(f"CAST of {T.kind_name(t)} is not allowed ({_snippet(node.this)})", "CAST")
        if target in ("TEXT", "VARCHAR"):
            if T.is_floating(t) or pa.types.is_decimal(t):
                self.fail("CAST of a floating-point number to STRING is not allowed (Spark and DuckDB "
                          "print it differently); compare the number itself", "CAST")
            return pa.string()
        return pa.float32() if target == "FLOAT" else T.FLOAT64

    def case(self, node, scope):
        branches = []
        for clause in node.args.get("ifs") or []:
            self.expect_boolean(clause.this, scope, "CASE WHEN")
            clause.meta["type"] = pa.null()
            branches.append(clause.args["true"])
        if node.args.get("this") is not None:
            self.fail("CASE x WHEN ... is not allowed; write CASE WHEN x = ... THEN", "CASE")
        if node.args.get("default") is not None:
            branches.append(node.args["default"])
        return self.branches(branches, scope, "CASE")

    def if_(self, node, scope):
        self.expect_boolean(node.this, scope, "if")
        branches = [node.args["true"]] + ([node.args["false"]] if node.args.get("false") is not None else [])
        return self.branches(branches, scope, "if")

    def branches(self, nodes, scope, where):
        types = [self.check(n, scope) for n in nodes]
        for n, t in zip(nodes, types):
            if not T.is_scalar(t):
                self.fail(f"{where} branches must be numbers, strings or booleans, not {T.kind_name(t)}", where)
        for t in types[1:]:
            if not T.same_family(types[0], t):
                self.fail(f"{where} branches mix {T.kind_name(types[0])} and {T.kind_name(t)}", where)
        return T.common_type(types)

    # -- functions (rules: engine.condition_functions)
    def function(self, node, scope):
        from sqlglot import exp

        canonical = _function_name(node)
        sig = FUNCTIONS_BY_NAME.get(canonical)
        if sig is None:
            self.fail(f"function '{canonical}' is not allowed", canonical)
        name = self.written(canonical)  # for messages; the arity of nvl etc. was checked on the tokens
        args = _function_args(node)
        if len(args) < sig.min_args or (sig.max_args is not None and len(args) > sig.max_args):
            self.fail(f"{name}() expects {sig.expects()}, got {len(args)}", name)
        written = {id(a) for a in args}
        for child in node.iter_expressions():
            if id(child) in written:
                continue
            if isinstance(node, exp.Log) and isinstance(child, exp.Literal):
                child.meta["type"] = T.FLOAT64  # the base sqlglot adds for log10/log2
                continue
            self.fail(f"'{_snippet(node, 40)}' is not allowed", name)
        if name in HIGHER_ORDER:
            return self.higher_order(node, name, sig, args, scope)
        kinds = list(sig.args) + list(sig.optional)
        types = []
        for i, arg in enumerate(args):
            kind = kinds[i] if i < len(kinds) else sig.repeat
            types.append(self.argument(sig, name, i, arg, kind, scope))
        comparable = [t for t, k in zip(types, kinds + [sig.repeat] * len(types)) if k in ("comparable", "value")]
        if name != "array_contains":
            for t in comparable[1:]:
                if not T.same_family(comparable[0], t):
                    self.fail(f"{name}() arguments mix {T.kind_name(comparable[0])} and {T.kind_name(t)}; "
                              f"expected {sig.usage()}", name)
        else:
            self.contains_value(types, name)
        return self.result(sig, name, types)

    def written(self, name):
        """The alias the user typed (array_size, not sqlglot's size), so the message names it."""
        import re

        for alias in _ALIASES.get(name, ()):
            if re.search(rf"\b{alias}\s*\(", self.text):
                return alias
        return name

    def argument(self, sig, name, i, arg, kind, scope):
        from sqlglot import exp

        t = self.check(arg, scope)
        ok = {
            "number": T.is_number(t) or T.is_null(t),
            "string": T.is_string(t) or T.is_null(t),
            "boolean": T.is_boolean(t) or T.is_null(t),
            "array": T.is_array(t),
            "value": T.is_scalar(t),
            "comparable": T.is_scalar(t),
            "any": True,
            "scale": T.is_integer(t) and _scale_value(arg) is not None and -3 <= _scale_value(arg) <= 18,
        }[kind]
        if not ok:
            what = {"number": "a number", "string": "a string", "boolean": "a true/false value",
                    "array": "an array column", "value": "a number, string or boolean",
                    "comparable": "a number, string or boolean",
                    "scale": "an integer literal from -3 to 18"}[kind]
            self.fail(f"{name}() expects {what} as argument {i + 1}, not {T.kind_name(t)} "
                      f"({_snippet(arg)}); usage: {sig.usage()}", name)
        return t

    def contains_value(self, types, name):
        element, value = types[0].value_type, types[1]
        if T.is_null(value):  # Spark's analyzer refuses a NULL-typed argument here
            self.fail(f"{name}() cannot look for NULL; use exists(array, x -> x IS NULL)", name)
        if not (T.is_scalar(element) and T.same_family(element, value)):
            self.fail(f"{name}() cannot look for {T.kind_name(value)} in an array of "
                      f"{T.kind_name(element).split(' (')[0].replace('a ', '').replace('an ', '')}s", name)

    def result(self, sig, name, types):
        if sig.result == "same":
            t = T.common_type(types[:1] if name == "round" else types)
            return T.FLOAT64 if T.is_null(t) and name in ("abs", "round") else t
        if sig.result == "long" and pa.types.is_decimal(types[0]):
            return T.DECIMAL_LITERAL  # Spark: floor/ceil of a decimal stays decimal
        return {"double": T.FLOAT64, "long": T.INT64, "int": T.INT32, "boolean": pa.bool_(),
                "string": pa.string(), "array": types[0]}[sig.result]

    def higher_order(self, node, name, sig, args, scope):
        from sqlglot import exp

        array_arg, lam = args
        if not isinstance(lam, exp.Lambda):
            self.fail(f"{name}() expects {sig.expects()}", name)
        arr_type = self.check(array_arg, scope)
        if not T.is_array(arr_type):
            self.fail(f"the first argument of {name} must be an array column", _snippet(array_arg))
        params = list(lam.expressions)
        if len(params) != 1:
            self.fail(f"the lambda of {name} takes exactly one variable", _snippet(lam))
        var = params[0].name.lower()
        inner = dict(scope)
        inner[var] = arr_type.value_type
        body = self.check(lam.this, inner)
        lam.meta["type"] = body
        if not (T.is_boolean(body) or T.is_null(body)):
            self.fail(f"the lambda of {name} must be a true/false condition", _snippet(lam.this))
        return arr_type if name == "filter" else pa.bool_()

    # -- columns
    @staticmethod
    def _column_parts(node):
        parts = [node.args.get(k) for k in ("catalog", "db", "table")]
        parts = [p for p in parts if p is not None]
        parts.append(node.this)
        return parts

    def _dot_parts(self, node):
        from sqlglot import exp

        if isinstance(node, exp.Dot):
            return self._dot_parts(node.this) + [node.expression]
        if isinstance(node, exp.Column):
            return self._column_parts(node)
        if isinstance(node, exp.Identifier):
            return [node]
        self.fail(f"'{_snippet(node)}' is not allowed", _snippet(node))

    def resolve(self, parts, node, scope):
        from sqlglot import exp

        for p in parts:
            if not isinstance(p, exp.Identifier):
                self.fail(f"'{_snippet(node)}' is not allowed", _snippet(node))
        names = [p.name for p in parts]
        dotted = ".".join(names)
        first = names[0].lower()
        if first in scope and len(parts) >= 1 and not parts[0].quoted:
            t = scope[first]
            rest = parts[1:]
            used = None
        else:
            field = self._field(self.schema, names[0])
            if field is None:
                self.unknown(dotted)
            parts[0].set("this", field.name)
            parts[0].set("quoted", True)
            t = field.type
            rest = parts[1:]
            used = [field.name]
        for p in rest:
            if not pa.types.is_struct(t):
                self.unknown(dotted)
            sub = self._field(t, p.name)
            if sub is None:
                self.unknown(dotted)
            p.set("this", sub.name)
            p.set("quoted", True)
            t = sub.type
            if used is not None:
                used.append(sub.name)
        if used is not None:
            self.columns.add(".".join(used))
        return t

    @staticmethod
    def _field(container, name: str):
        lower = name.lower()
        for f in container:
            if f.name.lower() == lower:
                return f
        return None

    def unknown(self, dotted: str):
        if self._paths is None:
            paths = []
            for f in self.schema:
                paths.append(f.name)
                if pa.types.is_struct(f.type):
                    paths += [f"{f.name}.{c.name}" for c in f.type]
                elif pa.types.is_list(f.type) and pa.types.is_struct(f.type.value_type):
                    paths += [f"{f.name}.{c.name}" for c in f.type.value_type]
            self._paths = paths
        close = difflib.get_close_matches(dotted, self._paths, n=1, cutoff=0.75)
        if not close:
            lower = {p.lower(): p for p in self._paths}
            close = [lower[x] for x in difflib.get_close_matches(dotted.lower(), list(lower), n=1, cutoff=0.75)]
        hint = f" (did you mean {close[0]}?)" if close else ""
        self.fail(f"unknown column '{dotted}'{hint}", dotted)


# sqlglot parses these aliases to one node; the first written one names the function in messages
_ALIASES = {"size": ("size", "array_size"), "ceil": ("ceil", "ceiling"), "pow": ("pow", "power"),
            "lower": ("lower", "lcase"), "upper": ("upper", "ucase"), "sign": ("sign", "signum"),
            "coalesce": ("coalesce", "nvl"), "ln": ("ln", "log")}


def _function_args(node) -> list:
    """The arguments of an allowed function node, in the order the user wrote them."""
    from sqlglot import exp

    if isinstance(node, exp.Anonymous):
        return list(node.expressions)
    if isinstance(node, exp.Log):
        if node.expression is None:
            return [node.this]
        name = _function_name(node)
        return [node.expression] if name in ("log10", "log2") else [node.this, node.expression]
    args = [node.args.get(k) for k in ("this", "expression", "decimals")]
    return [a for a in args if isinstance(a, exp.Expression)] + list(node.expressions)


def _scale_value(arg) -> int | None:
    """The integer a ``round`` scale literal (maybe negated) stands for, else None."""
    from sqlglot import exp

    negative = isinstance(arg, exp.Neg)
    lit = arg.this if negative else arg
    if isinstance(lit, exp.Paren):
        lit = lit.this
    if not (isinstance(lit, exp.Literal) and lit.is_int):
        return None
    return -int(lit.this) if negative else int(lit.this)


def _bad_like_escape(pattern: str) -> str | None:
    """Spark refuses a LIKE pattern whose backslash precedes anything but %, _ or backslash."""
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\":
            nxt = pattern[i + 1] if i + 1 < len(pattern) else ""
            if nxt not in ("%", "_", "\\"):
                return f" (found '\\{nxt}')" if nxt else " (found a trailing backslash)"
            i += 2
            continue
        i += 1
    return None


def _arity_problem(tokens, line: int) -> None:
    """Count each allowed function's arguments as written (sqlglot drops or refuses some)."""
    from sqlglot.tokens import TokenType

    if tokens is None:
        return  # the text does not tokenize: the parser reports it
    for i, tok in enumerate(tokens[:-1]):
        name = tok.text.lower()
        if name not in FUNCTIONS_BY_NAME or tokens[i + 1].token_type != TokenType.L_PAREN:
            continue
        if i > 0 and tokens[i - 1].token_type == TokenType.DOT:
            continue
        nxt = tokens[i + 2] if i + 2 < len(tokens) else None
        if nxt is not None and nxt.text.upper() in ("SELECT", "WITH", "WHERE", "VALUES", "FROM"):
            continue  # a subquery or an aggregate FILTER: the tree check refuses it with its own words
        depth, count, closed = 0, 0, False
        for j in range(i + 1, len(tokens)):
            kind = tokens[j].token_type
            if kind in (TokenType.L_PAREN, TokenType.L_BRACKET, TokenType.L_BRACE):
                if depth == 1 and count == 0:
                    count = 1  # an argument that starts with a bracket: abs((x)), abs((a - b) * 2)
                depth += 1
            elif kind in (TokenType.R_PAREN, TokenType.R_BRACKET, TokenType.R_BRACE):
                depth -= 1
                if depth == 0:
                    closed = True
                    break
            elif depth == 1:
                if count == 0:
                    count = 1
                if kind == TokenType.COMMA:
                    count += 1
        if not closed:
            return  # unbalanced: the parser reports it
        sig = FUNCTIONS_BY_NAME[name]
        if count < sig.min_args or (sig.max_args is not None and count > sig.max_args):
            raise ConditionError(line, f"{name}() expects {sig.expects()}, got {count}", name)


def _comparisons():
    from sqlglot import exp

    return {exp.EQ: "=", exp.NEQ: "<>", exp.GT: ">", exp.GTE: ">=", exp.LT: "<", exp.LTE: "<=",
            exp.NullSafeEQ: "<=>"}


_COMPARISONS = _comparisons()
