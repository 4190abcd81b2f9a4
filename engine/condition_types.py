"""Spark's types for condition expressions: literal types, implicit widening, kind names for messages.

Why: the condition checker must know the type Spark gives every sub-expression to refuse what
Spark (or DuckDB) would refuse at run time (``size`` of a number, a string compared with a
number), and the DuckDB rendering must know when an integer operation wraps around in Spark.
Types are pyarrow types (the archive schema's own); a decimal literal (``1.5``) is a DOUBLE
(both renderings write it ``1.5E0``; Spark's DECIMAL literal arithmetic differed from DuckDB's);
``DECIMAL_LITERAL`` is what a decimal column combined with an integer gives.
"""

from __future__ import annotations

import pyarrow as pa

DECIMAL_LITERAL = pa.decimal128(38, 18)
INT32, INT64, FLOAT64 = pa.int32(), pa.int64(), pa.float64()
INT_BITS = {pa.int8(): 8, pa.int16(): 16, pa.int32(): 32, pa.int64(): 64,
            pa.uint8(): 16, pa.uint16(): 32, pa.uint32(): 64}


def is_null(t) -> bool:
    return pa.types.is_null(t)


def is_integer(t) -> bool:
    return pa.types.is_integer(t)


def is_floating(t) -> bool:
    return pa.types.is_floating(t)


def is_number(t) -> bool:
    return is_integer(t) or is_floating(t) or pa.types.is_decimal(t)


def is_string(t) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def is_boolean(t) -> bool:
    return pa.types.is_boolean(t)


def is_array(t) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t)


def is_scalar(t) -> bool:
    """Numbers, strings, booleans (and NULL): what comparisons, IN and coalesce accept."""
    return is_null(t) or is_number(t) or is_string(t) or is_boolean(t)


def kind_name(t) -> str:
    """'a number (bigint)', 'a string', 'an array': how a message names a type."""
    if is_null(t):
        return "NULL"
    if is_integer(t) or is_floating(t):
        return f"a number ({spark_name(t)})"
    if pa.types.is_decimal(t):
        return "a number (decimal)"
    if is_string(t):
        return "a string"
    if is_boolean(t):
        return "a boolean"
    if is_array(t):
        return "an array"
    if pa.types.is_struct(t):
        return "a struct"
    if pa.types.is_map(t):
        return "a map"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "binary data"
    if pa.types.is_timestamp(t):
        return "a timestamp"
    return str(t)


def spark_name(t) -> str:
    names = {pa.int8(): "tinyint", pa.int16(): "smallint", pa.int32(): "int", pa.int64(): "bigint",
             pa.float32(): "float", pa.float64(): "double"}
    return names.get(t, str(t))


def same_family(a, b) -> bool:
    """Spark and DuckDB both compare these without a surprising cast (NULL goes with anything)."""
    if is_null(a) or is_null(b):
        return is_scalar(a) and is_scalar(b)
    return ((is_number(a) and is_number(b)) or (is_string(a) and is_string(b))
            or (is_boolean(a) and is_boolean(b)))


def integer_literal_type(text: str):
    """Spark: an integer literal is INT if it fits, else BIGINT; None if it fits neither."""
    value = int(text)
    if -2**31 <= value < 2**31:
        return INT32
    if -2**63 <= value < 2**63:
        return INT64
    return None


def widen(a, b):
    """Spark's common type of two numbers (or two of one family): byte < short < int < long < float < double."""
    if is_null(a):
        return b
    if is_null(b) or a == b:
        return a
    if not (is_number(a) and is_number(b)):
        return a
    if is_integer(a) and is_integer(b):
        return a if INT_BITS.get(a, 64) >= INT_BITS.get(b, 64) else b
    if pa.types.is_float64(a) or pa.types.is_float64(b):
        return FLOAT64
    if pa.types.is_float32(a) or pa.types.is_float32(b):
        other = b if pa.types.is_float32(a) else a
        return FLOAT64 if pa.types.is_decimal(other) else pa.float32()
    return DECIMAL_LITERAL  # decimal with an integer or a decimal


def common_type(types):
    out = pa.null()
    for t in types:
        out = widen(out, t)
    return out


def division_type(a, b):
    """Spark ``/``: DOUBLE for integers and floats, DECIMAL when a decimal meets an integer/decimal."""
    t = widen(a, b)
    return t if pa.types.is_decimal(t) else FLOAT64


def integer_bits(t) -> int | None:
    """Width at which Spark's (non-ANSI) integer arithmetic of this type wraps around."""
    return INT_BITS.get(t) if is_integer(t) else None
