"""The vectorised Avro -> Arrow decoder must give, value for value, what fastavro +
``Table.from_pylist`` gives (the oracle), with the same Arrow schema.

Every content of every survey (synthetic archive with the real samples of each era, projected by
``engine.content.project`` and encoded by the encoder the jobs use), the real Data Transfer sample
under its own schema (["null", T] unions, named types, arrays of records, maps), seeded random
nested data with nulls at every level, and corrupt messages (never a silently wrong table).
"""

from __future__ import annotations

import pytest

from tests.helpers import fastavro_values, make_values, nan_comparable, random_batch
from engine.avro.encoder import encode_batch
from engine.avro.schema import avro_schema_from_arrow
from engine import surveys
from engine.content import CUSTOM, content_options, output_avro_schema, project
from kafka_io.consumer.arrow_decoder import ArrowDecoder, Corrupt, Unsupported
from kafka_io.consumer.decode import Decoder


def _check(values: list[bytes], schema: dict):
    expected = Decoder(schema, vectorised=False).table(values)
    got = ArrowDecoder(schema).table(values)
    assert got.schema == expected.schema
    assert got.num_rows == len(values)
    for name in expected.column_names:
        a, b = got[name].to_pylist(), expected[name].to_pylist()
        if a == b:  # equal lists are equal under nan_comparable too; only NaN (!= itself) needs the slow walk
            continue
        bad = [i for i, (x, y) in enumerate(zip(a, b)) if nan_comparable(x) != nan_comparable(y)]
        assert not bad, f"{name}: rows {bad[:5]} differ from fastavro: {a[bad[0]]!r} != {b[bad[0]]!r}"
    return got


@pytest.mark.parametrize("survey,content", [(s, c["key"]) for s in surveys.NAMES for c in content_options(s)
                                            if c["key"] != CUSTOM])
def test_every_content_of_every_survey(survey_archives, survey, content):
    from engine.archive.reader import list_nights, read_table

    table = read_table(survey_archives / survey, list_nights(survey_archives / survey))
    batch = project(table, survey, content)
    schema = output_avro_schema(survey, content)
    values = encode_batch(batch, schema)
    got = _check(values, schema)
    assert got.num_rows >= 300 if survey == "ztf" else got.num_rows >= 150
    _check(values[1:7], schema)
    _check(values[-1:], schema)


@pytest.mark.parametrize("tail_rows", [0, 10**9])
@pytest.mark.parametrize("survey,content", [("lsst", "full"), ("ztf", "full")])
def test_row_wise_tail_and_index_passes_give_the_same_table(survey_archives, monkeypatch, survey, content,
                                                           tail_rows):
    """Long arrays switch to a row-wise fastavro tail once few messages still hold items: never
    switching (0) and switching right after the first item (10**9) both equal the oracle."""
    from engine.archive.reader import list_nights, read_table
    from kafka_io.consumer import arrow_decoder

    monkeypatch.setattr(arrow_decoder, "TAIL_ROWS", tail_rows)
    table = read_table(survey_archives / survey, list_nights(survey_archives / survey))
    schema = output_avro_schema(survey, content)
    values = encode_batch(project(table, survey, content), schema)
    _check(values, schema)


def test_real_transfer_sample_under_its_own_schema():
    """The real service's schema: ["null", T] unions, named record references, arrays, maps."""
    schema, values, _ = make_values(200)
    _check(values, schema)


def test_empty_batch_has_the_schema():
    schema, values, _ = make_values(3)
    got = ArrowDecoder(schema).table([])
    assert got.num_rows == 0 and got.schema == Decoder(schema, vectorised=False).schema


def test_random_nested_batches_identical_to_fastavro():
    for seed in range(60):
        batch = random_batch(seed)
        schema = avro_schema_from_arrow(batch.schema)
        values = encode_batch(batch, schema)
        _check(values, schema)


def test_blocks_with_byte_sizes_enums_fixed_and_long_edges():
    """Negative block counts (a byte size follows, as Java writers may do), enums, fixed, int64 edges."""
    schema = {"type": "record", "name": "r", "fields": [
        {"name": "e", "type": ["null", {"type": "enum", "name": "E", "symbols": ["A", "B", "C"]}]},
        {"name": "f", "type": {"type": "fixed", "name": "F", "size": 3}},
        {"name": "l", "type": "long"},
        {"name": "a", "type": {"type": "array", "items": "int"}}]}
    recs = [{"e": e, "f": bytes([i, 2, 3]), "l": l, "a": list(range(i))}
            for i, (e, l) in enumerate([("A", 0), (None, -1), ("C", 2**63 - 1), ("B", -2**63), (None, 300)])]
    values = fastavro_values(schema, recs)
    _check(values, schema)
    # The same array written as ONE block with a negative count and its byte size.
    body = b"".join(bytes([2 * x]) for x in range(4))  # zig-zag ints 0..3, one byte each
    blocked = values[4][:-len(b"\x08" + body + b"\x00")] + b"\x07" + bytes([2 * len(body)]) + body + b"\x00"
    assert ArrowDecoder(schema).table([blocked])["a"].to_pylist() == [[0, 1, 2, 3]]


def test_corrupt_message_is_never_a_silently_wrong_table():
    schema, values, _ = make_values(20)
    bad = values[:5] + [values[5][:-3]] + values[6:]
    with pytest.raises(Corrupt):
        ArrowDecoder(schema).table(bad)
    with pytest.raises(Exception):  # the Decoder falls back to fastavro, which raises its own error
        Decoder(schema).table(bad)
    extra = values[:5] + [values[5] + b"\x00"] + values[6:]
    with pytest.raises(Corrupt):
        ArrowDecoder(schema).table(extra)


def test_unsupported_union_keeps_the_fastavro_path():
    schema = {"type": "record", "name": "r", "fields": [{"name": "x", "type": ["null", "int", "string"]}]}
    with pytest.raises(Unsupported):
        ArrowDecoder(schema)
    dec = Decoder(schema)
    assert dec.vectorised is None
    assert dec.table(fastavro_values(schema, [{"x": 3}, {"x": None}]))["x"].to_pylist() == [3, None]
