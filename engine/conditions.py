"""User SQL conditions: validated on a parse tree with an allow-list, rendered for Spark and DuckDB.

Why: Spark executes whatever a filter string says - ``reflect('java.lang.System','exit',0)``
kills the JVM, a subquery on ``text.`/path``` reads local files, ``F.expr`` does not even parse
eagerly (spark.md 2.1). So a condition is parsed with sqlglot (Spark dialect, pure Python,
microseconds), every node is checked against a small allow-list, every column against the
archive schema, and the SQL the engines see is RENDERED FROM THE VETTED TREE (never the raw
text): comments, quoting tricks and second statements cannot reach an engine.

DuckDB (estimates, small jobs) gets the same tree rendered with Spark semantics (non-ANSI,
as Fink ran it): ``LOG10/LN/LOG2/LOG(b, x)`` of a non-positive number is NULL, ``x / 0`` and
``x % 0`` are NULL, decimal literals are DOUBLE (so a FLOAT column compares as Spark compares
it), ``CAST`` is ``TRY_CAST``, ``size(NULL)`` is -1, ``exists``/``forall`` keep Spark's
three-valued logic. ``tests/test_conditions_spark.py`` runs every construct on both engines.
"""

from __future__ import annotations

import dataclasses
import difflib

import pyarrow as pa

from engine.errors import UserError

MAX_LENGTH = 2000

# Columns a condition may use besides the archive's: the classification (added by the job
# before filtering) and the partition keys.
EXTRA_COLUMNS = (
    pa.field("finkclass", pa.string()), pa.field("tnsclass", pa.string()),
    pa.field("year", pa.int32()), pa.field("month", pa.int32()), pa.field("day", pa.int32()),
)
CLASSIFICATION_COLUMNS = frozenset({"finkclass", "tnsclass"})

# Functions a user may call (Spark names, lower case); everything else is refused.
ALLOWED_FUNCTIONS = frozenset({
    "abs", "log10", "ln", "log", "log2", "exp", "sqrt", "pow", "power", "floor", "ceil",
    "ceiling", "round", "greatest", "least", "coalesce", "nvl", "isnan", "isnull", "isnotnull",
    "size", "array_size", "exists", "forall", "filter", "array_contains", "lower", "upper",
    "lcase", "ucase", "length", "startswith", "endswith", "sin", "cos", "tan", "radians",
    "degrees", "sign", "signum",
})
HIGHER_ORDER = frozenset({"exists", "forall", "filter"})
CAST_TARGETS = frozenset({"DOUBLE", "FLOAT", "TEXT", "VARCHAR"})  # STRING parses as TEXT


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
    """One condition; ``schema`` must already include the extra columns (see condition_schema)."""
    import sqlglot

    text = (text or "").strip()
    if not text:
        raise ConditionError(line, "empty condition")
    if len(text) > MAX_LENGTH:
        raise ConditionError(line, f"condition longer than {MAX_LENGTH} characters")
    if ";" in _outside_strings(text):
        raise ConditionError(line, "';' is not allowed (one condition per line)", ";")
    try:
        trees = sqlglot.parse(text, read="spark")
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
    checker = _Checker(schema, line)
    checker.check(tree, scope={})
    if not checker.is_boolean(tree, scope={}):
        raise ConditionError(line, f"not a true/false condition: {_snippet(tree)}", _snippet(tree))
    spark_sql = tree.sql(dialect="spark")
    duck_tree = _to_duckdb_semantics(tree.copy())
    duckdb_sql = duck_tree.sql(dialect="duckdb")
    return CompiledCondition(text, spark_sql, duckdb_sql, frozenset(checker.columns))


# ----------------------------------------------------------------------------- checking

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
    """Walks the tree once: allow-list, column resolution (case-insensitive, canonical names)."""

    def __init__(self, schema: pa.Schema, line: int):
        self.schema = schema
        self.line = line
        self.columns: set[str] = set()
        self._paths = None

    def fail(self, message, token=None):
        raise ConditionError(self.line, message, token)

    # -- nodes
    def check(self, node, scope: dict):
        from sqlglot import exp

        if isinstance(node, (exp.Subquery, exp.Select, exp.Query, exp.Table, exp.From,
                             exp.Command, exp.Set)) or (isinstance(node, exp.In) and node.args.get("query")):
            self.fail("subqueries and tables are not allowed", _snippet(node))
        if isinstance(node, exp.Exists) and not isinstance(node.expression, exp.Lambda):
            self.fail("subqueries and tables are not allowed", _snippet(node))
        if isinstance(node, exp.Column):
            self.resolve(self._column_parts(node), node, scope)
            return
        if isinstance(node, exp.Dot):
            self.resolve(self._dot_parts(node), node, scope)
            return
        if isinstance(node, exp.Identifier):  # a bare lambda variable
            self.resolve([node], node, scope)
            return
        if isinstance(node, (exp.Cast, exp.TryCast)):
            target = node.to.this.name if node.to is not None else "?"
            if target not in CAST_TARGETS:
                self.fail(f"CAST to {node.to.sql(dialect='spark')} is not allowed "
                          "(use DOUBLE, FLOAT or STRING)", node.to.sql(dialect="spark"))
            self.check(node.this, scope)
            return
        name = _function_name(node) if isinstance(node, exp.Func) else None
        if isinstance(node, _ALLOWED_NODES):
            pass
        elif isinstance(node, exp.Func):
            if name not in ALLOWED_FUNCTIONS:
                self.fail(f"function '{name}' is not allowed", name)
            if name in HIGHER_ORDER:
                self.check_higher_order(node, name, scope)
                return
        elif isinstance(node, exp.Lambda):
            self.fail("a lambda is only allowed as the 2nd argument of exists/forall/filter",
                      _snippet(node))
        else:
            self.fail(f"'{_snippet(node, 40)}' is not allowed", _snippet(node, 40))
        if isinstance(node, exp.Literal) and not node.is_string and node.is_number is False:
            self.fail(f"bad literal {_snippet(node)}")
        for child in node.iter_expressions():
            self.check(child, scope)

    def check_higher_order(self, node, name, scope):
        from sqlglot import exp

        if isinstance(node, exp.Anonymous):
            args = list(node.expressions)
        else:
            args = [node.this, node.expression]
        if len(args) != 2 or not isinstance(args[1], exp.Lambda):
            self.fail(f"{name}(array, x -> condition) expects an array and one lambda", name)
        array_arg, lam = args
        self.check(array_arg, scope)
        arr_type = self.type_of(array_arg, scope)
        if arr_type is None or not (pa.types.is_list(arr_type) or pa.types.is_large_list(arr_type)):
            self.fail(f"the first argument of {name} must be an array column", _snippet(array_arg))
        params = list(lam.expressions)
        if len(params) != 1:
            self.fail(f"the lambda of {name} takes exactly one variable", _snippet(lam))
        var = params[0].name.lower()
        inner = dict(scope)
        inner[var] = arr_type.value_type
        self.check(lam.this, inner)
        if name != "filter" and not self.is_boolean(lam.this, inner):
            self.fail(f"the lambda of {name} must be a true/false condition", _snippet(lam.this))

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

    # -- types (only what the checks need)
    def type_of(self, node, scope):
        from sqlglot import exp

        if isinstance(node, exp.Column):
            return self.resolve(self._column_parts(node), node, scope)
        if isinstance(node, exp.Dot):
            return self.resolve(self._dot_parts(node), node, scope)
        if isinstance(node, exp.Identifier):
            return self.resolve([node], node, scope)
        if isinstance(node, exp.Paren):
            return self.type_of(node.this, scope)
        return None

    def is_boolean(self, node, scope) -> bool:
        from sqlglot import exp

        if isinstance(node, exp.Paren):
            return self.is_boolean(node.this, scope)
        if isinstance(node, (exp.Predicate, exp.Connector, exp.Not, exp.Boolean, exp.Exists,
                             exp.ArrayContains, exp.StartsWith, exp.EndsWith, exp.IsNan)):
            return True
        if isinstance(node, exp.Anonymous):
            return str(node.this).lower() in ("forall", "isnull", "isnotnull", "endswith", "isnan")
        if isinstance(node, (exp.Column, exp.Dot, exp.Identifier)):
            t = self.type_of(node, scope)
            return t is not None and pa.types.is_boolean(t)
        if isinstance(node, (exp.Coalesce, exp.Case, exp.If)):
            return True  # Spark checks the branch types at analysis
        return False


def _node_classes():
    from sqlglot import exp

    allowed = (
        exp.Literal, exp.Boolean, exp.Null, exp.Paren, exp.Neg, exp.And, exp.Or, exp.Not,
        exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.Add, exp.Sub,
        exp.Mul, exp.Div, exp.Mod, exp.Between, exp.In, exp.Is, exp.Like, exp.ILike,
        exp.DataType, exp.Case, exp.If, exp.Tuple,
    )
    return allowed


_ALLOWED_NODES = _node_classes()


# ----------------------------------------------------------------------------- DuckDB rendering

def _to_duckdb_semantics(tree):
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
        if isinstance(node, exp.Literal) and not node.is_string and not node.is_int:
            return exp.Cast(this=node.copy(), to=exp.DataType.build("DOUBLE"))
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

    return tree.transform(rewrite)
