"""Schemas: the real .avsc files load, era schemas match the real lake, one unified schema reads all eras."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine import schemas
from engine.surveys import ztf as ztf_survey
from engine.archive.unify import conform_batch
from tests.helpers import REFERENCE

LAKE = REFERENCE / "samples" / "fink_datalake"


@pytest.mark.parametrize("survey,version", [("ztf", "v3.3"), ("ztf", "v4.02"), ("elasticc", "v0_9"), ("elasticc", "v0_9_1")])
def test_avsc_files_parse(survey, version):
    parsed = schemas.parse_alert_schema(survey, version)
    names = [f["name"] for f in parsed["fields"]]
    assert names[0] in ("schemavsn", "alertId")
    if version == "v4.02":
        assert "fp_hists" in names


def test_ztf_402_and_33_have_the_same_arrow_types_except_fp_hists():
    a = schemas.alert_arrow_schema("ztf", "v3.3")
    b = schemas.alert_arrow_schema("ztf", "v4.02")
    assert [f for f in b if f.name != "fp_hists"] == list(a)
    assert len(a.field("candidate").type) == 103 and len(a.field("prv_candidates").type.value_type) == 57


def test_generated_candidate_type_is_the_real_lake_type():
    real = pq.read_schema(LAKE / "science_2021-11-22_fink1.3_mulens_struct.parquet")
    for era in ztf_survey.ERAS:
        s = schemas.era_arrow_schema("ztf", era)
        assert s.field("candidate").type == real.field("candidate").type
        assert s.field("prv_candidates").type == real.field("prv_candidates").type


def test_eras_differ_like_the_real_lake():
    old, mid, new = (schemas.era_arrow_schema("ztf", e) for e in ztf_survey.ERAS)
    assert pa.types.is_struct(old.field("mulens").type)
    assert mid.field("mulens").type == pa.float64() and "DR3Name" in mid.names and "DR3Name" not in old.names
    assert {"x3hsp", "x4lac", "mangrove", "anomaly_score", "lc_features_g", "lc_features_r"} <= set(new.names)
    assert not {"x3hsp", "lc_features_g"} & set(mid.names)
    real_new = pq.read_schema(LAKE / "science_2019-09-03_fink2.9.parquet")
    assert new.field("lc_features_g").type == real_new.field("lc_features_g").type
    assert new.field("mangrove").type.item_type == real_new.field("mangrove").type.item_type


def test_unified_schema_is_a_superset_of_every_era():
    unified = schemas.unified_arrow_schema("ztf")
    assert unified.field("mulens").type == pa.float64()
    for era in ztf_survey.ERAS:
        assert set(schemas.era_arrow_schema("ztf", era).names) <= set(unified.names)
    assert "year" not in unified.names
    assert schemas.unified_with_partitions("ztf").field("day").type == pa.int32()


def test_real_files_of_three_eras_conform_to_one_schema():
    unified = schemas.unified_arrow_schema("ztf")
    parts = []
    for name in ("science_2021-11-22_fink1.3_mulens_struct.parquet", "science_2021-11-22_portal_archive.parquet",
                 "science_2019-09-03_fink2.9.parquet"):
        parts.append(pa.Table.from_batches([conform_batch(pq.read_table(LAKE / name), unified)]))
    table = pa.concat_tables(parts)  # raises if any schema differs
    assert table.num_rows == 57 + 67 + 2
    assert table.schema == unified
    assert table.column("DR3Name").null_count == 57 + 67  # 2021 files have no Gaia columns
    assert set(table.column("mulens").to_pylist()[:57]) == {0.0}  # struct era: no ML/ML alert


def test_elasticc_unified_matches_the_real_lake_sample():
    real = pq.read_schema(REFERENCE / "samples" / "elasticc" / "elasticc_sample_seed0.parquet")
    unified = schemas.unified_arrow_schema("elasticc")
    for f in unified:
        if f.name in real.names and not pa.types.is_timestamp(f.type):
            assert real.field(f.name).type == f.type, f.name
    assert unified.field("classId").type == pa.int32()


def test_schemavsn_switch():
    import datetime as dt
    assert ztf_survey.ztf_schemavsn(dt.date(2023, 10, 15)) == "3.3"
    assert ztf_survey.ztf_schemavsn(dt.date(2023, 10, 16)) == "4.02"
