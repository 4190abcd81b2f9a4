"""Cross-match and data-set options through real jobs (both engines) against the embedded broker.

The kept alerts, their ids and separations equal astropy's ``match_coordinates_sky`` on the same
data, with alerts at RA ~ 0/360 and at the poles, a sexagesimal catalogue on Spark, ELASTICC and
LSST archives on both engines; the class cap is exact with two worker processes and with two Spark
tasks, the sample and split are reproducible and no object straddles two splits.
"""

from __future__ import annotations

import io
import json

import fastavro
import pytest

from engine.job.launcher import submit_job, wait_job
from engine.job.store import job_dir, read_log, read_spec
from kafka_io.client_config import base_config
from tests import xmatch_data
from tests.helpers import cli, consume_all

RADIUS = 2.0


@pytest.fixture(scope="module")
def edge_archive(tmp_path_factory):
    return xmatch_data.edge_archive(tmp_path_factory.mktemp("edge") / "ztf")


@pytest.fixture
def env(settings_env, edge_archive, monkeypatch):
    monkeypatch.setenv("FINK_TRANSFER_ARCHIVES__ZTF", str(edge_archive))
    monkeypatch.setenv("FINK_TRANSFER_JOBS__LOCAL_PROCESSES", "2")
    from engine.config import load_settings
    return load_settings()


@pytest.fixture(scope="module")
def alerts(edge_archive):
    return xmatch_data.alert_positions(edge_archive)


@pytest.fixture(scope="module")
def cat(alerts):
    return xmatch_data.catalogue_near(alerts, RADIUS)


def _spec(**kw):
    spec = {"survey": "ztf", "start": xmatch_data.NIGHTS[0], "stop": xmatch_data.NIGHTS[-1], "content": "lightcurve"}
    spec.update(kw)
    return spec


def _rows(settings, topic):
    from confluent_kafka import Consumer, TopicPartition

    from kafka_io.topics import schema_topic
    c = Consumer({**base_config(settings), "group.id": "s-" + topic})
    c.assign([TopicPartition(schema_topic(topic), 0, 0)])
    schema = fastavro.parse_schema(json.loads(c.poll(10).key()))
    c.close()
    return [fastavro.schemaless_reader(io.BytesIO(v), schema) for v in consume_all(settings, topic)]


def _run(settings, spec, engine):
    _plan, rec = submit_job(settings, spec, engine=engine)
    rec = wait_job(settings, rec.job_id, timeout=240)
    assert rec.state == "done", (rec.error, read_log(settings, rec.job_id)[-3000:])
    return rec, _rows(settings, rec.topic)


def _check_against_astropy(rows, alerts, cat, key="candid"):
    expected = xmatch_data.reference(alerts, cat, RADIUS)
    edge = alerts[(alerts["ra"] < 0.01) | (alerts["ra"] > 359.99) | (alerts["dec"].abs() > 89.99)]
    assert set(edge["candid"]) <= set(expected)  # the awkward places are really exercised
    got = {r[key]: (r["xmatch_id"], r["xmatch_sep_arcsec"]) for r in rows}
    assert sorted(got) == sorted(expected)
    for candid, (name, sep) in expected.items():
        assert got[candid][0] == name
        assert got[candid][1] == pytest.approx(sep, abs=1e-3)  # sexagesimal rounding: < 0.2 mas


def test_local_job_keeps_what_astropy_matches(env, alerts, cat, tmp_path):
    path = xmatch_data.write_csv(cat, tmp_path / "targets.csv")
    spec = _spec(xmatch={"path": str(path), "ra": "ra", "dec": "dec", "id": "name", "radius_arcsec": RADIUS})
    rec, rows = _run(env, spec, "local")
    _check_against_astropy(rows, alerts, cat)
    stored = read_spec(env, rec.job_id)["xmatch"]["path"]
    assert stored.startswith(str(job_dir(env, rec.job_id)))  # the catalogue lives with the job


def test_spark_job_with_sexagesimal_catalogue(env, alerts, cat, tmp_path, monkeypatch):
    monkeypatch.setenv("FINK_TRANSFER_SPARK__MASTER", "local[2]")
    from engine.config import load_settings
    settings = load_settings()
    path = xmatch_data.write_csv(xmatch_data.sexagesimal(cat), tmp_path / "targets_hms.csv")
    spec = _spec(xmatch={"path": str(path), "ra": "ra", "dec": "dec", "id": "name", "radius_arcsec": RADIUS},
                 dataset={"split": "0.6,0.2,0.2", "seed": 1})
    _rec, rows = _run(settings, spec, "spark")
    _check_against_astropy(rows, alerts, cat)
    assert {r["split"] for r in rows} <= {"train", "validation", "test"}


@pytest.mark.parametrize("engine", ["local", "spark"])
@pytest.mark.parametrize("survey", ["elasticc", "lsst"])
def test_survey_job_keeps_what_astropy_matches(settings_env, survey_edge_archive, tmp_path, monkeypatch, survey,
                                               engine):
    """ELASTICC and LSST positions (diaSource.ra/decl, diaSource.ra/dec) come from the registry."""
    from engine.dataset import alert_id_column

    archive = survey_edge_archive(survey)
    monkeypatch.setenv(f"FINK_TRANSFER_ARCHIVES__{survey.upper()}", str(archive))
    monkeypatch.setenv("FINK_TRANSFER_SPARK__MASTER", "local[2]")
    from engine.config import load_settings
    settings = load_settings()
    alerts = xmatch_data.alert_positions(archive, survey=survey)
    cat = xmatch_data.catalogue_near(alerts, RADIUS)
    path = xmatch_data.write_csv(cat, tmp_path / "targets.csv")
    nights = xmatch_data.nights_of(survey)
    spec = _spec(survey=survey, start=nights[0], stop=nights[-1], content="full",
                 xmatch={"path": str(path), "ra": "ra", "dec": "dec", "id": "name", "radius_arcsec": RADIUS})
    _rec, rows = _run(settings, spec, engine)
    _check_against_astropy(rows, alerts, cat, key=alert_id_column(survey))


def _class_counts(rows) -> dict:
    got = {}
    for r in rows:
        got[r["finkclass"]] = got.get(r["finkclass"], 0) + 1
    return got


def test_spark_class_cap_equals_local_and_is_reproducible(env, monkeypatch):
    """The cap on Spark (two tasks sharing the job's counter file): per class min(N, sampled), the
    classes below the cap exactly the sampled alerts, as on the local engine (docs/xmatch.md)."""
    from engine.config import load_settings
    from engine.dataset import unit_hash
    from tests.helpers import expected_rows

    full = expected_rows(env.archive_dir("ztf"), xmatch_data.NIGHTS)
    sampled = full[unit_hash(full["candid"].tolist(), 9) < 0.8]
    per_class = sampled["finkclass"].value_counts()
    cap = int(per_class.iloc[0] // 3)
    assert cap > 0 and (per_class > cap).sum() >= 1 and (per_class < cap).sum() >= 1
    options = {"max_per_class": cap, "sample_fraction": 0.8, "seed": 9}
    _rec, local = _run(env, _spec(dataset=options), "local")
    monkeypatch.setenv("FINK_TRANSFER_SPARK__MASTER", "local[2]")
    spark_settings = load_settings()
    _rec, spark = _run(spark_settings, _spec(dataset=options), "spark")
    _rec, again = _run(spark_settings, _spec(dataset=options), "spark")

    want = per_class.clip(upper=cap).to_dict()
    assert _class_counts(spark) == _class_counts(again) == _class_counts(local) == want
    uncapped = {c for c, n in per_class.items() if n < cap}
    below = lambda rs: sorted(r["candid"] for r in rs if r["finkclass"] in uncapped)  # noqa: E731
    assert below(spark) == below(again) == below(local) == sorted(sampled[sampled["finkclass"].isin(uncapped)]
                                                                  ["candid"])
    assert {r["candid"] for r in spark} <= set(sampled["candid"])


def test_class_cap_sample_and_split(env, alerts):
    from tests.helpers import expected_rows

    full = expected_rows(env.archive_dir("ztf"), xmatch_data.NIGHTS)
    per_class = full["finkclass"].value_counts()
    cap = int(per_class.iloc[0] // 3)
    assert cap > 0 and (per_class > cap).sum() >= 1
    options = {"max_per_class": cap, "sample_fraction": 0.7, "seed": 5, "split": {"train": 0.7, "validation": 0.2,
                                                                                  "test": 0.1}}
    _rec, rows = _run(env, _spec(dataset=options), "local")
    _rec2, again = _run(env, _spec(dataset=options), "local")

    from engine.dataset import unit_hash
    sampled = full[unit_hash(full["candid"].tolist(), 5) < 0.7]
    want = sampled["finkclass"].value_counts().clip(upper=cap)
    got = {}
    for r in rows:
        got[r["finkclass"]] = got.get(r["finkclass"], 0) + 1
    assert got == want.to_dict()  # exact cap with two worker processes
    assert {r["candid"] for r in rows} <= set(sampled["candid"])
    splits = {}
    for r in rows + again:
        splits.setdefault(r["objectId"], set()).add(r["split"])
    assert all(len(s) == 1 for s in splits.values())
    assert {next(iter(s)) for s in splits.values()} == {"train", "validation", "test"}
    # same seed -> same sample below the cap, same split labels
    uncapped = {c for c, n in want.items() if n < cap}
    pick = lambda rs: sorted((r["candid"], r["split"]) for r in rs if r["finkclass"] in uncapped)  # noqa: E731
    assert pick(rows) == pick(again) and pick(rows)
    _rec3, other = _run(env, _spec(dataset={**options, "seed": 6}), "local")
    assert pick(other) != pick(rows)


def test_cli_bad_xmatch_is_one_line_exit_2(env, tmp_path, alerts):
    far = tmp_path / "far.csv"
    far.write_text("id,ra,dec\nX,10.0,-89.0\n")
    cases = [
        (["--xmatch", str(far), "--xmatch-radius", "0"], "radius"),
        (["--xmatch", str(tmp_path / "missing.csv")], "does not exist"),
        (["--xmatch", str(far), "--xmatch-ra", "alpha"], "no RA column"),
        (["--xmatch", str(far)], "overlaps no alert position"),
        (["--xmatch-radius", "3"], "xmatch is missing: path"),  # column flags without a catalogue
    ]
    base = ["submit", "--start", xmatch_data.NIGHTS[0], "--stop", xmatch_data.NIGHTS[1], "--engine", "local"]
    for extra, message in cases + [(["--split", "0.5,0.5,0.5"], "sum to 1")]:
        xmatch = ["--xmatch-ra", "ra", "--xmatch-dec", "dec", "--xmatch-id", "id", "--xmatch-radius", "2"]
        # later flags win: the case's own values override the defaults above
        proc = cli(*base, *(xmatch if (extra, message) in cases else []), *extra)
        assert proc.returncode == 2, (extra, proc.stdout, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (extra, proc.stderr)
        assert "job:" not in proc.stdout
