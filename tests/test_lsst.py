"""Rubin/LSST as a data source: the synthetic archive, the real Fink LSST wire schema, a job
downloaded by the official client (``finkctl transfer -survey lsst -partitionby time``)."""

from __future__ import annotations

import datetime as dt
import io
import json

import fastavro
import numpy as np
import pyarrow as pa
import pytest

from tests.helpers import REFERENCE

NIGHTS = ["2026-03-05", "2026-03-06"]
REAL_SCHEMA = REFERENCE / "schemas" / "fink_datatransfer" / "avro_schema_ftransfer_lsst_2026-03-18_803281.json"


@pytest.fixture(scope="module")
def lsst_archive(tmp_path_factory):
    from engine.archive.generator import build_archive

    out = tmp_path_factory.mktemp("archive") / "lsst"
    build_archive("lsst", dt.date.fromisoformat(NIGHTS[0]), 2, 250, out, progress=False)
    return out


def _table(archive):
    from engine.archive import reader

    return pa.Table.from_batches(list(reader.read_arrow(archive, reader.list_nights(archive))))


def test_archive_follows_the_object_model_and_holds_the_real_sample(lsst_archive):
    from engine.archive.layout import detect_survey

    assert detect_survey(lsst_archive) == "lsst"
    df = _table(lsst_archive).to_pandas()
    src = df["diaSource"]
    dec = np.array([s["dec"] for s in src])
    assert (dec < 5.01).all() and (dec > -90).all()          # Rubin's southern footprint
    assert (df["fink_science_version"] == "8.39.0").all()
    real = df[df["observation_reason"] != "wfd"]
    assert len(real) == 7                                      # the real transfer sample, mixed in
    # objects recur across nights, with their earlier points in prvDiaSources
    synth = df[df["observation_reason"] == "wfd"]
    by_night = synth.groupby("day")["diaSource"].apply(lambda s: {x["diaObjectId"] for x in s})
    assert len(by_night.iloc[0] & by_night.iloc[1]) > 10
    assert (synth["prvDiaSources"].apply(len) > 0).mean() > 0.3
    # solar-system sources: an ssSource and a null diaObject
    sso = synth[synth["pred"].apply(lambda p: p["is_sso"])]
    assert len(sso) > 0 and sso["ssSource"].notna().all() and sso["diaObject"].isna().all()
    assert synth[~synth["pred"].apply(lambda p: p["is_sso"])]["ssSource"].isna().all()


def test_full_packet_decodes_with_the_real_fink_lsst_schema(lsst_archive):
    """Our Full-packet bytes, read with the schema the real service published (fink-client data)."""
    from engine import surveys
    from engine.avro.encoder import encode_batch
    from engine.classification import load_tns_catalog
    from engine.content import output_avro_schema, project

    real = fastavro.parse_schema(json.loads(REAL_SCHEMA.read_text()))
    ours = output_avro_schema("lsst", "full")
    assert [f["name"] for f in ours["fields"]] == [f["name"] for f in json.loads(REAL_SCHEMA.read_text())["fields"]]
    batch = _table(lsst_archive).combine_chunks().to_batches()[0]
    batch = surveys.get("lsst").classify(batch, load_tns_catalog(lsst_archive))
    values = encode_batch(project(batch, "lsst", "full"), ours)
    assert len(values) == batch.num_rows
    rows = [fastavro.schemaless_reader(io.BytesIO(v), real) for v in values]
    psf = batch.column("diaSource").field("psfFlux").to_pylist()
    assert [r["diaSource"]["psfFlux"] for r in rows] == pytest.approx(psf, nan_ok=True)
    assert {r["lsst_schema_version"] for r in rows} == {"lsst.v10_0"}
    assert all(isinstance(r["timestamp"], str) for r in rows)


def test_conditions_on_lsst_sections_compile():
    from engine.conditions import compile_conditions
    from engine.errors import UserError
    from engine.schemas import unified_arrow_schema

    schema = unified_arrow_schema("lsst")
    ok = compile_conditions(["diaSource.psfFlux > 1000", "diaObject.nDiaSources >= 2", "xm.simbad_otype = 'Star'",
                             "clf.cats_class = 11", "pred.is_sso", "misc.firstDiaSourceMjdTaiFink > 60000"], schema)
    assert len(ok) == 6
    with pytest.raises(UserError):
        compile_conditions(["diaSource.psfFlx > 1"], schema)


def _psf_selection(archive, threshold):
    df = _table(archive).to_pandas()
    return df[df["diaSource"].apply(lambda s: s["psfFlux"] is not None and s["psfFlux"] > threshold)]


def test_local_job_downloaded_by_the_official_client(settings_env, lsst_archive, monkeypatch, tmp_path):
    import pyarrow.dataset as ds

    from engine.config import load_settings
    from engine.job.launcher import launch_job, wait_job
    from engine.job.store import read_log
    from tests.helpers import official_transfer

    monkeypatch.setenv("FINK_TRANSFER_ARCHIVES__LSST", str(lsst_archive))
    settings = load_settings()
    spec = {"survey": "lsst", "start": NIGHTS[0], "stop": NIGHTS[-1], "conditions": ["diaSource.psfFlux > 5000"],
            "content": "full"}
    rec = wait_job(settings, launch_job(settings, spec, engine="local").job_id, timeout=200)
    assert rec.state == "done", (rec.error, read_log(settings, rec.job_id)[-3000:])
    expected = _psf_selection(lsst_archive, 5000)
    assert rec.published == len(expected) > 0
    out = tmp_path / "download"
    result = official_transfer(rec.topic, settings.bootstrap_servers, tmp_path / "home", out, survey="lsst",
                               extra=("-partitionby", "time"))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert list(out.glob("year=*/month=*/day=*"))                 # partitioned on diaSource.midpointMjdTai
    table = ds.dataset(str(out), format="parquet", partitioning="hive").to_table()
    got = {r["diaSourceId"]: r for r in table.select(["diaSourceId", "diaSource"]).to_pylist()}
    assert sorted(got) == sorted(expected["diaSourceId"])
    for _, want in expected.iterrows():
        assert got[want["diaSourceId"]]["diaSource"]["psfFlux"] == pytest.approx(want["diaSource"]["psfFlux"])


def test_block_with_not_and_a_field_list_downloaded_by_the_official_client(settings_env, lsst_archive, monkeypatch,
                                                                           tmp_path):
    """Done-when of the issue: a psfFlux condition, a block with NOT and a custom field list; the
    official client gets exactly those columns (plus midpointMjdTai it partitions on)."""
    import pyarrow.dataset as ds

    from engine.config import load_settings
    from engine.job.launcher import launch_job, wait_job
    from engine.job.store import read_log
    from tests.helpers import official_transfer

    monkeypatch.setenv("FINK_TRANSFER_ARCHIVES__LSST", str(lsst_archive))
    settings = load_settings()
    spec = {"survey": "lsst", "start": NIGHTS[0], "stop": NIGHTS[-1], "conditions": ["diaSource.psfFlux > 2000"],
            "filters": ["NOT b_is_solar_system"], "fields": ["diaSourceId", "diaSource.psfFlux", "xm"]}
    rec = wait_job(settings, launch_job(settings, spec, engine="local").job_id, timeout=200)
    assert rec.state == "done", (rec.error, read_log(settings, rec.job_id)[-3000:])
    df = _psf_selection(lsst_archive, 2000)
    expected = df[~df["pred"].apply(lambda p: bool(p["is_sso"]))]
    assert len(expected) < len(df) and rec.published == len(expected) > 0
    out = tmp_path / "download"
    result = official_transfer(rec.topic, settings.bootstrap_servers, tmp_path / "home", out, survey="lsst",
                               extra=("-partitionby", "time"))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    files = list(out.rglob("*.parquet"))
    import pyarrow.parquet as pq

    assert pq.read_schema(files[0]).names[:4] == ["diaSourceId", "psfFlux", "xm", "midpointMjdTai"]
    table = ds.dataset(str(out), format="parquet", partitioning="hive").to_table()
    got = {r["diaSourceId"]: r for r in table.to_pylist()}
    assert sorted(got) == sorted(expected["diaSourceId"])
    for _, want in expected.iterrows():
        row = got[want["diaSourceId"]]
        assert row["psfFlux"] == pytest.approx(want["diaSource"]["psfFlux"])
        assert row["xm"]["simbad_otype"] == want["xm"]["simbad_otype"]


@pytest.mark.parametrize("content", ["fields", "full"])
def test_spark_job_publishes_what_pandas_selects(spark_job_env, lsst_archive, monkeypatch, content):
    """LSST on Spark: a field list (exact columns) and the Full packet (decoded with the real
    Fink LSST schema), the rows pandas selects."""
    from confluent_kafka import Consumer, TopicPartition

    from engine.config import load_settings
    from engine.job.launcher import launch_job, wait_job
    from engine.job.store import read_log
    from kafka_io.client_config import base_config
    from kafka_io.topics import schema_topic
    from tests.helpers import consume_all

    monkeypatch.setenv("FINK_TRANSFER_ARCHIVES__LSST", str(lsst_archive))
    settings = load_settings()
    spec = {"survey": "lsst", "start": NIGHTS[0], "stop": NIGHTS[-1], "conditions": ["diaSource.psfFlux > 2000"],
            "filters": ["NOT b_is_solar_system"]}
    if content == "fields":
        spec["fields"] = ["diaSourceId", "diaSource.psfFlux", "xm"]
    else:
        spec["content"] = "full"
    rec = wait_job(settings, launch_job(settings, spec, engine="spark").job_id, timeout=400)
    assert rec.state == "done" and rec.engine == "spark", (rec.error, read_log(settings, rec.job_id)[-3000:])
    df = _psf_selection(lsst_archive, 2000)
    expected = df[~df["pred"].apply(lambda p: bool(p["is_sso"]))]
    c = Consumer({**base_config(settings), "group.id": "s-" + rec.topic})
    c.assign([TopicPartition(schema_topic(rec.topic), 0, 0)])
    msg = c.poll(10)
    c.close()
    schema = fastavro.parse_schema(json.loads(msg.key()))
    if content == "full":
        schema = fastavro.parse_schema(json.loads(REAL_SCHEMA.read_text()))
    else:
        assert [f["name"] for f in json.loads(msg.key())["fields"]] == ["diaSourceId", "psfFlux", "xm", "midpointMjdTai"]
    rows = [fastavro.schemaless_reader(io.BytesIO(v), schema) for v in consume_all(settings, rec.topic)]
    assert sorted(r["diaSourceId"] for r in rows) == sorted(expected["diaSourceId"])


def test_estimate_per_preset_per_field_and_with_yields(lsst_archive):
    from engine import fink_filters
    from engine.estimate import estimate, exact_count, load_index
    from engine.query import JobSpec
    from engine.stats import field_bytes

    index = load_index(lsst_archive)
    base = dict(survey="lsst", start=NIGHTS[0], stop=NIGHTS[-1])
    full = estimate(JobSpec(**base), index)
    light = estimate(JobSpec(**base, content="light_static"), index)
    assert full.n_alerts == light.n_alerts == len(_table(lsst_archive)) and light.bytes < full.bytes / 5
    custom = estimate(JobSpec(**base, fields=["diaSource.psfFlux", "xm"]), index)
    sizes = field_bytes(lsst_archive)
    per_alert = sizes["diaSource.psfFlux"] + sizes["xm"] + sizes["diaSource.midpointMjdTai"]
    assert custom.bytes == pytest.approx(custom.n_alerts * per_alert, rel=1e-3)
    spec = JobSpec(**base, filters=["NOT b_is_solar_system"])
    y = {f.name: f.yield_ for f in fink_filters.options("lsst")}["b_is_solar_system"]
    assert estimate(spec, index).n_alerts == round(full.n_alerts * (1 - y))
    exact = exact_count(spec, lsst_archive).count       # the exact count applies the block for real
    sso = _table(lsst_archive).column("pred").combine_chunks().field("is_sso").to_pylist()
    assert exact == sum(1 for s in sso if not s) < full.n_alerts


def test_explore_reads_lsst_alerts(lsst_archive):
    """The Explore page's roles come from the registry: LSST fluxes, bands and prvDiaSources."""
    from components import alerts
    from engine import surveys
    from engine.content import project

    batch = _table(lsst_archive).combine_chunks().to_batches()[0]
    full = pa.Table.from_batches([project(surveys.get("lsst").classify(batch, None), "lsst", "full")])
    df = alerts.to_pandas(full)
    roles = alerts.columns_for(df)
    assert (roles.value, roles.time, roles.band, roles.history) == ("psfFlux", "midpointMjdTai", "band",
                                                                    "prvDiaSources")
    assert not roles.is_magnitude
    obj = next(iter(alerts.alerts_per_object(df, roles)))
    points = alerts.photometry(df, obj, roles)
    assert len(points) >= 1 and set(points["band"]) <= set("ugrizy")
    assert alerts.columns_for(alerts.to_pandas(pa.table({"objectId": ["a"], "magpsf": [18.0], "jd": [1.0]}))).value \
        == "magpsf"


def test_lc_features_are_computed_from_each_alert_light_curve(lsst_archive):
    """Fink's lc_features (fink-science rubin/ad_features, the light-curve package): per band of
    diaSource + prvDiaSources, on flux; checked here against numpy on the alert's own points."""
    df = _table(lsst_archive).to_pandas()
    synth = df[df["observation_reason"] == "wfd"]
    assert synth["lc_features"].notna().all()
    checked = 0
    for _, r in synth.head(200).iterrows():
        points = list(r["prvDiaSources"]) + [r["diaSource"]]
        feats = dict(r["lc_features"])
        assert set(feats) == {p["band"] for p in points}
        for band, f in feats.items():
            pts = {}
            for p in points:   # Fink drops repeated times (the first kept); our points have none
                if p["band"] == band:
                    pts.setdefault(p["midpointMjdTai"], p)
            flux = np.array([p["psfFlux"] for _, p in sorted(pts.items())], dtype=np.float64)
            err = np.array([p["psfFluxErr"] for _, p in sorted(pts.items())], dtype=np.float64)
            assert f["mean"] == pytest.approx(flux.mean(), rel=1e-9)
            assert f["median"] == pytest.approx(np.median(flux), rel=1e-9)
            assert f["amplitude"] == pytest.approx((flux.max() - flux.min()) / 2, rel=1e-9, abs=1e-9)
            w = err ** -2
            assert f["weighted_mean"] == pytest.approx((flux * w).sum() / w.sum(), rel=1e-9)
            if len(flux) >= 2:
                assert f["standard_deviation"] == pytest.approx(flux.std(ddof=1), rel=1e-9)
                checked += 1
            else:
                assert np.isnan(f["standard_deviation"])
    assert checked > 50
    # the real sample alerts keep Fink's own values
    real = df[df["observation_reason"] != "wfd"]
    assert real["lc_features"].apply(lambda m: len(dict(m)) if m is not None else 0).min() >= 1
