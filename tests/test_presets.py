"""Content presets per survey against the portals' definitions (research/lsst_transfer.md
section 2), and custom field lists (flat ``a.b``, whole sections, the partitioning column)."""

from __future__ import annotations

import pytest

from engine.content import custom_columns, output_arrow_schema
from engine.errors import UserError
from engine.query import JobSpec
from engine.schemas import unified_arrow_schema

CUTOUTS = {"cutoutScience", "cutoutTemplate", "cutoutDifference"}
PARTS = ["year", "month", "day"]


def names(survey, content):
    return output_arrow_schema(survey, content).names


def test_ztf_presets_are_the_portal_definitions():
    unified = unified_arrow_schema("ztf").names
    full = unified + PARTS + ["finkclass", "tnsclass"]
    assert names("ztf", "full") == full
    assert names("ztf", "medium") == [n for n in full if not n.startswith("cutout")]   # "all but cutouts"
    light = names("ztf", "light")
    picks = ["magpsf", "sigmapsf", "fid", "jd", "ra", "dec", "ssnamenr"]
    assert light[:7] == picks
    assert set(light[7:]) == set(full) - CUTOUTS - {"candidate", "prv_candidates"} - set(PARTS)
    assert {"finkclass", "tnsclass", "lc_features_g", "lc_features_r", "snn_snia_vs_nonia"} <= set(light)
    # the 2023 contents stay
    assert names("ztf", "lightcurve")[:8] == ["objectId", "candid", "magpsf", "sigmapsf", "fid", "jd", "ra", "dec"]
    assert CUTOUTS <= set(names("ztf", "cutouts"))


def test_lsst_presets_are_the_job_definitions():
    unified = unified_arrow_schema("lsst").names
    full = unified + PARTS + ["tns_type_recomputed"]
    assert names("lsst", "full") == full
    assert names("lsst", "medium") == [n for n in full if not n.startswith("cutout")]
    source = ["diaObjectId", "snr", "psfFlux", "psfFluxErr", "scienceFlux", "scienceFluxErr", "templateFlux",
              "templateFluxErr", "band", "midpointMjdTai", "ra", "dec", "reliability"]
    static = names("lsst", "light_static")
    assert static[:13] == source
    dropped = CUTOUTS | {"diaSource", "prvDiaSources", "prvDiaForcedSources", "diaObject", "ssSource",
                         "mpc_orbits"} | set(PARTS)
    assert static[13:] == [n for n in full if n not in dropped]
    assert {"clf", "xm", "pred", "misc", "lc_features", "tns_type_recomputed", "diaSourceId"} <= set(static)
    assert names("lsst", "light_sso") == (
        ["diaSourceId", "ssObjectId", "phaseAngle", "diaDistanceRank"] + source[1:]
        + ["packed_primary_provisional_designation", "unpacked_primary_provisional_designation",
           "lsst_schema_version", "fink_broker_version", "fink_science_version"])


def test_elasticc_has_the_full_packet_only():
    assert names("elasticc", "full")[-3:] == PARTS
    with pytest.raises(UserError, match="choose one of full"):
        JobSpec(survey="elasticc", start="2023-11-27", stop="2023-11-27", content="light")


def test_custom_fields_are_flat_with_the_partitioning_column_added():
    cols = custom_columns("lsst", ["diaSource.psfFlux", "xm", "diaObject.nDiaSources"])
    assert [c.field.name for c in cols] == ["psfFlux", "xm", "nDiaSources", "midpointMjdTai"]
    assert cols[-1].path == ("diaSource", "midpointMjdTai")
    assert [c.field.name for c in custom_columns("lsst", ["diaSource"])] == ["diaSource"]   # already inside
    assert [c.field.name for c in custom_columns("ztf", ["candidate.magpsf", "finkclass"])] == ["magpsf", "finkclass", "jd"]
    spec = JobSpec(survey="lsst", start="2026-03-05", stop="2026-03-06", fields=["diaSource.psfFlux", "xm"])
    assert spec.content == "custom" and output_arrow_schema("lsst", spec.selector).names == ["psfFlux", "xm", "midpointMjdTai"]
    assert JobSpec.from_yaml(spec.to_yaml()).fields == ["diaSource.psfFlux", "xm"]


@pytest.mark.parametrize("fields, fragment", [
    (["diaSource.psfFlx"], "did you mean 'diaSource.psfFlux'"),
    (["xmm"], "did you mean 'xm'"),
    (["diaSource.ra", "diaObject.ra"], "both be published as column 'ra'"),
])
def test_bad_field_lists_are_one_line_errors(fields, fragment):
    with pytest.raises(UserError) as info:
        JobSpec(survey="lsst", start="2026-03-05", stop="2026-03-06", fields=fields)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_a_preset_cannot_be_combined_with_fields():
    with pytest.raises(UserError, match="cannot be combined"):
        JobSpec(survey="lsst", start="2026-03-05", stop="2026-03-06", content="full", fields=["xm"])


@pytest.mark.parametrize("text, fragment", [
    ("survey: lsst\nstart: 2026-03-05\nstop: 2026-03-06\nfilterz: [in_tns]\n", "unknown job spec key(s): filterz"),
    ("survey: lsst\nstart: 2026-03-05\nstop: 2026-03-06\nfilters: [b_is_nwe]\n", "did you mean 'b_is_new'"),
    ("survey: lsst\nstart: 2026-03-05\nstop: 2026-03-06\nfields: 5\n", "fields must be a list"),
    ("survey: lsst\nstart: 2026-03-05\nstop: 2026-03-06\ncontent: light\n", "choose one of full, medium"),
    ("survey: lsst\nstart: 2026-03-05\n  stop: [\n", "not valid YAML"),
])
def test_uploaded_configuration_errors_name_the_key(text, fragment):
    """The app's YAML upload and the CLI's --spec share JobSpec.from_yaml: one line naming the key."""
    with pytest.raises(UserError) as info:
        JobSpec.from_yaml(text)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_uploaded_configuration_round_trips_filters_and_fields():
    spec = JobSpec.from_yaml("survey: lsst\nstart: 2026-03-05\nstop: 2026-03-06\nfilters: ['not  b_is_new', in_tns]\n"
                             "fields: [diaSource.psfFlux, xm]\nconditions: ['diaSource.psfFlux > 10']\n")
    assert spec.filters == ["NOT b_is_new", "in_tns"] and spec.content == "custom"
    assert JobSpec.from_yaml(spec.to_yaml()) == spec
    assert len(spec.all_conditions()) == 3   # the condition, then b_is_new's negation, then in_tns
