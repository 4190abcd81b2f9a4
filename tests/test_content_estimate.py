"""JobSpec round trips, the content projection / output schema, and the estimates."""

from __future__ import annotations

import datetime as dt
import time

import fastavro
import pyarrow as pa
import pytest

from engine.avro.encoder import encode_batch
from engine.avro.oracle import fastavro_encode
from engine.content import (columns_needed, content_options, output_arrow_schema, output_avro_schema,
                            project)
from engine.errors import UserError
from engine.estimate import estimate, exact_count, synthetic_index
from engine.query import JobSpec, parse_conditions_text


# ----------------------------------------------------------------------------- JobSpec

def test_jobspec_round_trips():
    spec = JobSpec(survey="ztf", start="2023-01-01", stop="2023-01-03", classes=["SN candidate"],
                   conditions=["candidate.magpsf > 19.5"], content="Full packet", limit=10)
    assert spec.content == "full" and spec.nights()[-1] == dt.date(2023, 1, 3) and len(spec.nights()) == 3
    assert JobSpec.from_yaml(spec.to_yaml()) == spec
    assert JobSpec.from_json(spec.to_json()) == spec
    assert JobSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize("kwargs,fragment", [
    (dict(survey="hsc"), "unknown survey"),
    (dict(stop="2022-12-31"), "before start"),
    (dict(content="mediumish"), "unknown content"),
    (dict(limit=0), "positive"),
    (dict(limit="ten"), "whole number"),
    (dict(start="2023-13-01"), "not a date"),
    (dict(survey="elasticc", content="lightcurve"), "choose one of full"),
    (dict(conditions=["a > 1; DROP TABLE x"]), "';'"),
])
def test_jobspec_validation(kwargs, fragment):
    base = dict(survey="ztf", start="2023-01-01", stop="2023-01-02")
    base.update(kwargs)
    with pytest.raises(UserError) as info:
        JobSpec(**base)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_conditions_textarea():
    text = "candidate.magpsf > 19.5;\n\n  rf_snia_vs_nonia > 0.5  \nroid = 3;"
    assert parse_conditions_text(text) == ["candidate.magpsf > 19.5", "rf_snia_vs_nonia > 0.5", "roid = 3"]
    with pytest.raises(UserError, match="line 2"):
        parse_conditions_text("a > 1\nb > 1; DROP TABLE x")
    with pytest.raises(UserError, match="unknown job spec key"):
        JobSpec.from_yaml("survey: ztf\nstart: 2023-01-01\nstop: 2023-01-01\nfoo: 1\n")


# ----------------------------------------------------------------------------- content

def test_content_options_and_schemas():
    assert [c["key"] for c in content_options("ztf")] == ["lightcurve", "cutouts", "full", "medium", "light"]
    assert [c["key"] for c in content_options("elasticc")] == ["full"]
    lc = output_arrow_schema("ztf", "lightcurve")
    assert lc.names[:8] == ["objectId", "candid", "magpsf", "sigmapsf", "fid", "jd", "ra", "dec"]
    assert "finkclass" in lc.names and "lc_features_g" in lc.names and "prv_candidates" not in lc.names
    full = output_arrow_schema("ztf", "full")
    assert full.field("timestamp").type == pa.string() and full.field("year").type == pa.int32()
    assert full.names[-2:] == ["finkclass", "tnsclass"]
    el = output_arrow_schema("elasticc", "full")
    assert el.field("brokerIngestTimestamp").type == pa.string() and el.field("classId").type == pa.int32()
    for survey, content in [("ztf", "lightcurve"), ("ztf", "cutouts"), ("ztf", "full"), ("elasticc", "full")]:
        fastavro.parse_schema(output_avro_schema(survey, content))
    cols = columns_needed("ztf", "lightcurve", ["prv_candidates", "candidate.magpsf"])
    assert "prv_candidates" in cols and "cutoutScience" not in cols and "candidate" in cols


def test_projection_of_every_era_gives_the_same_schema_and_fastavro_bytes(estimate_archive):
    from engine.archive import reader
    from engine.classification import classify_batch, load_tns_catalog

    tns = load_tns_catalog(estimate_archive)
    nights = reader.list_nights(estimate_archive)
    for content in ("lightcurve", "cutouts", "full"):
        avro = output_avro_schema("ztf", content)
        for night in nights:  # 2021 and 2022 eras: different files, one output schema
            batch = next(iter(reader.read_arrow(estimate_archive, [night], batch_size=60)))
            out = project(classify_batch(batch, tns), "ztf", content)
            assert out.schema == output_arrow_schema("ztf", content)
            part = out.slice(5, 40)
            assert encode_batch(part, avro) == fastavro_encode(part, avro)


def test_estimate_from_the_index_and_exact_count(estimate_archive):
    from engine.estimate import load_index

    from engine.archive import reader
    import pyarrow.compute as pc

    index = load_index(estimate_archive)
    table = reader.read_table(estimate_archive, reader.list_nights(estimate_archive), columns=["candidate"])
    total = table.num_rows
    spec = JobSpec(survey="ztf", start="2021-12-31", stop="2022-01-01", content="lightcurve")
    est = estimate(spec, index)
    assert est.total_alerts == est.n_alerts == total and est.fraction == 1.0 and est.bytes > 0
    assert est.per_night["n_alerts"].sum() == total and set(est.per_night.columns) >= {"night", "class", "n_alerts"}
    exact = exact_count(spec, estimate_archive)
    assert int(exact) == total and exact.method == "exact"

    top_class = index.groupby("finkclass")["n_alerts"].sum().idxmax()
    spec_c = JobSpec(survey="ztf", start="2021-12-31", stop="2022-01-01", classes=[top_class])
    est_c = estimate(spec_c, index)
    assert 0 < est_c.n_alerts < total
    assert int(exact_count(spec_c, estimate_archive)) == est_c.n_alerts  # same class semantics as the job

    spec_cond = JobSpec(survey="ztf", start="2021-12-31", stop="2022-01-01",
                        conditions=["candidate.magpsf > 19"])
    assert not estimate(spec_cond, index).conditions_applied
    n = int(exact_count(spec_cond, estimate_archive))
    expected = pc.sum(pc.greater(pc.struct_field(table["candidate"], "magpsf"), 19)).as_py()
    assert n == expected
    assert int(estimate(JobSpec(survey="ztf", start="2021-12-31", stop="2022-01-01", limit=7), index).n_alerts) == 7


def test_estimate_latency_on_a_30_night_index():
    index = synthetic_index(nights=30, classes=200)
    spec = JobSpec(survey="ztf", start="2023-01-02", stop="2023-01-29", classes=["(TNS) SN Ia", "SN candidate"],
                   content="full")
    estimate(spec, index)
    t0 = time.perf_counter()
    for _ in range(10):
        est = estimate(spec, index)
    per_call = (time.perf_counter() - t0) / 10
    assert est.n_alerts > 0 and per_call < 0.05, per_call


def test_pruned_candidate_gives_the_same_published_bytes(estimate_archive):
    """The Spark path ships only candidate_fields_needed(); classification + projection + encoding
    of the pruned rows must give exactly the bytes of the whole rows (else the pruning is wrong)."""
    from engine.archive import reader
    from engine.classification import classify_batch, load_tns_catalog
    from engine.content import candidate_fields_needed

    tns = load_tns_catalog(estimate_archive)
    assert candidate_fields_needed("ztf", "full") is None and candidate_fields_needed("elasticc", "full") is None
    batch = pa.Table.from_batches(list(reader.read_arrow(estimate_archive, reader.list_nights(estimate_archive)))).combine_chunks()
    batch = batch.to_batches()[0]
    cand = batch.column("candidate")
    for content in ("lightcurve", "cutouts"):
        fields = candidate_fields_needed("ztf", content)
        assert 5 < len(fields) < 20
        slim = pa.StructArray.from_arrays([cand.field(f) for f in fields], names=list(fields),
                                          mask=cand.is_null())
        pruned = batch.set_column(batch.schema.get_field_index("candidate"), "candidate", slim)
        avro = output_avro_schema("ztf", content)
        whole = encode_batch(project(classify_batch(batch, tns), "ztf", content), avro)
        assert encode_batch(project(classify_batch(pruned, tns), "ztf", content), avro) == whole
