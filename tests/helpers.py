"""Plain helpers of the tests (no fixtures: those live in conftest.py). Import as ``from tests.helpers import ...``.

Paths: ``ROOT`` (the checkout), ``REFERENCE`` (``tests/data``: the real Fink samples, see its
README), ``APP`` (the Streamlit router). Then: archives and AppTest drivers for the app tests,
Fink-format topics built from a real Data Transfer sample for the consumer tests, the job tests'
independent pandas selection, the CLI and the official client.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import fastavro
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "data"
APP = ROOT / "app_pages" / "streamlit_app.py"


# --------------------------------------------------------------------------- app tests

# Small archives: ZTF nights straddle 2021 -> 2022 (two schema periods), ELASTICC a few nights.
ZTF_START, ZTF_NIGHTS, ZTF_PER_NIGHT = "2021-12-29", 5, 150
LSST_START, LSST_NIGHTS, LSST_PER_NIGHT = "2026-03-05", 3, 150
ELASTICC_START, ELASTICC_NIGHTS, ELASTICC_PER_NIGHT = "2023-11-27", 3, 60
# A month of ZTF for the object-model tests (``ztf_month``): light curves, returning sources.
MONTH_START, MONTH_NIGHTS, MONTH_PER_NIGHT = dt.date(2022, 6, 1), 30, 300


# A test using any of these fixtures (directly or through another fixture) gets the marker.
LAYER_FIXTURES = {
    "broker": {"broker", "private_broker", "scram_broker", "cluster", "kafka_jars"},
    "spark": {"spark", "spark_job_env", "spark_non_ansi"},
    "e2e": {"chromium_page", "installed_wheel"},
}
LAYERS = tuple(LAYER_FIXTURES)


def unit_layer_workers(markexpr: str, numprocesses, cpus: int) -> int:
    """pytest-xdist workers for a run: one per core when ``-m`` keeps unmarked tests and drops each
    of LAYERS (the unit layer alone) and ``-n`` was not given; else 0, serial. Why serial for the
    rest: the whole suite shares one broker per session, and its Spark and browser tests would
    fight over the cores."""
    from _pytest.mark.expression import Expression

    if numprocesses is not None or cpus < 2 or not markexpr:
        return 0
    try:
        expr = Expression.compile(markexpr)
    except Exception:  # noqa: BLE001 - pytest itself reports a bad -m expression
        return 0
    keeps = lambda marks: expr.evaluate(lambda name, **_: name in marks)  # noqa: E731
    if not keeps(set()) or any(keeps({layer}) for layer in LAYERS):
        return 0
    return cpus


def ensure_archive(settings, survey: str, start: str, nights: int, per_night: int) -> Path:
    """A synthetic archive with its statistics index, made by the project's own generator."""
    import datetime as dt

    from engine.archive.generator import build_archive as generate

    out = Path(settings.archive_dir(survey))
    if not (out / "_stats" / "index.parquet").is_file():
        generate(survey, dt.date.fromisoformat(start), nights, per_night, out, progress=False)
    return out


# The spec of the service-mode tests' jobs: two ZTF nights (no archive needed to create the job).
SERVICE_SPEC = {"survey": "ztf", "start": "2021-11-22", "stop": "2021-11-23"}


def install_users(settings, users_yaml: Path) -> None:
    """Copy a users file (the ``users_yaml`` fixture's) to where ``settings`` reads it, mode 0600."""
    import shutil

    dest = Path(settings.users_file)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(users_yaml, dest)
    os.chmod(dest, 0o600)


def generated_ztf_nights(seed: int, start, nights: int, per_night: int):
    """The generator's ZTF nights in memory, one after the other from one warm population (retired
    after each night, as ``build_archive`` does): yields ``(night generator, its raw alert batch)``."""
    import datetime as dt

    from engine.archive import cutouts
    from engine.archive.generator import ZtfNight, warm_population

    pop = warm_population("ztf", seed, start, per_night)
    for d in range(nights):
        gen = ZtfNight(start + dt.timedelta(days=d), seed, cutouts.StampBank(0, size=2), pop)
        gen.plan_night(per_night)
        yield gen, gen.chunk(0, per_night)
        pop.retire(gen.ordinal + 1)


def compile_idempotent(text: str, schema):
    """One condition compiled; its vetted Spark rendering compiles again to itself (idempotent)."""
    from engine.conditions import compile_conditions

    c = compile_conditions([text], schema)[0]
    again = compile_conditions([c.spark_sql], schema)[0]
    assert again.spark_sql == c.spark_sql
    return c


def app_environment(data_dir: Path, bootstrap: str) -> dict[str, str]:
    """Environment variables the app (and the jobs/downloads it starts) run with in tests."""
    return {
        "FINK_TRANSFER_DATA_DIR": str(data_dir),
        "FINK_TRANSFER_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "FINK_TRANSFER_KAFKA__SCHEMA_COPIES": "10",
        # Small selections take the single-machine path (a Spark start costs ~20 s on 2 cores).
        "FINK_TRANSFER_JOBS__SMALL_JOB_THRESHOLD": "1000000",
    }


def new_app(timeout: float = 60):
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(APP), default_timeout=timeout)


def monitor_as(user: str):
    """The Monitor page, run once for ``user`` logged in (service mode), checked clean."""
    at = new_app()
    at.session_state["auth_user"] = user
    at.switch_page("monitor.py")
    at.run()
    assert_clean(at)
    return at


def download_to_completion(topic: str, timeout: float = 180):
    """The Download page opened on ``topic`` (as Monitor's link does; checked clean, the topic
    preselected), the download started, the page rerun until its progress says Complete."""
    at = new_app()
    at.query_params["topic"] = topic
    at.switch_page("download.py").run()
    assert_clean(at)
    assert at.selectbox(key="download_topic").value == topic
    at.button(key="download_start").click().run()
    return rerun_until(at, lambda a: any("Complete" in (p.text or "") for p in a.get("progress")), timeout=timeout)


def assert_clean(at) -> None:
    """No exception element and no error box on the page."""
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def metric(at, label: str) -> str:
    for m in at.metric:
        if m.label == label:
            return m.value
    raise AssertionError(f"no metric {label!r}: {[m.label for m in at.metric]}")


def rerun_until(at, predicate, timeout: float = 120, every: float = 0.5):
    """Rerun the page (as the polling fragment would) until ``predicate(at)`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        at.run()
        if predicate(at):
            return at
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached; page text: "
                                 + " | ".join([e.value for e in at.error] + [m.value for m in at.markdown])[:2000])
        time.sleep(every)


def wait_for_health(port: int, proc: subprocess.Popen, log_path: Path, timeout: float) -> None:
    """Until Streamlit's health endpoint answers ``ok``; fails with the server log's tail if it dies or is slow."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read() == b"ok":
                return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the app did not serve (exit {proc.poll()}):\n" + log_path.read_text()[-3000:])
        time.sleep(0.3)


def kill_tree(pid: int) -> None:
    """SIGTERM to the process group of ``pid`` (started with start_new_session=True)."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass


# --------------------------------------------------------------------------- consumer tests
# The 31 alerts of ``samples/fink_datatransfer_2026/part-3-305711.avro`` (real writer schema, with
# nested records, arrays of records and maps) are replicated with new candids, a class drawn from
# a few Fink classes and a jd spread over three nights; cutout stamps are dropped to keep the
# topics small (the schema keeps the cutout records).

SAMPLE = REFERENCE / "samples" / "fink_datatransfer_2026" / "part-3-305711.avro"
CLASSES = ["SN candidate", "Early SN Ia candidate", "Solar System MPC", "Unknown", "Kilonova candidate"]
JD0 = 2461121.5  # 2026-03-22 00:00 UTC


def sample() -> tuple[dict, list[dict]]:
    with open(SAMPLE, "rb") as fh:
        reader = fastavro.reader(fh)
        return reader.writer_schema, list(reader)


def fastavro_values(schema: dict, records: list[dict]) -> list[bytes]:
    """The records written by fastavro (the oracle), one schemaless message each."""
    parsed = fastavro.parse_schema(schema)
    out = []
    for rec in records:
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, parsed, rec)
        out.append(buf.getvalue())
    return out


def make_values(n: int, first_candid: int = 10_000_000, seed: int = 0,
                classes: list[str] = CLASSES) -> tuple[dict, list[bytes], list[int]]:
    """Schema, n encoded alerts (their finkclass cycling through ``classes``), and their candids."""
    schema, records = sample()
    parsed = fastavro.parse_schema(schema)
    rng = random.Random(seed)
    values, candids = [], []
    for i in range(n):
        rec = dict(records[i % len(records)])
        rec["candid"] = first_candid + i
        rec["finkclass"] = classes[i % len(classes)]
        cand = dict(rec["candidate"])
        cand["jd"] = JD0 + (i % 3) + rng.random() * 0.9
        rec["candidate"] = cand
        for c in ("cutoutScience", "cutoutTemplate", "cutoutDifference"):
            rec[c] = {"fileName": rec[c]["fileName"], "stampData": None}
        rec["prv_candidates"] = (rec["prv_candidates"] or [])[:5]
        rec["Plx"] = None  # an all-null column: must stay float32 on read
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, parsed, rec)
        values.append(buf.getvalue())
        candids.append(rec["candid"])
    return schema, values, candids


def publish(settings, topic: str, values: list[bytes], schema: dict | None, manifest: str | None = "done",
            workers: int = 2, create: bool = True) -> dict:
    """Publish like a job: topics, schema, alerts from ``workers`` writers, manifest."""
    from kafka_io.client_config import base_config, producer_config
    from kafka_io.manifest import Manifest, publish_manifest
    from kafka_io.producer import PartitionWriter, create_transfer_topics, merge_reports, publish_schema

    admin, pconf = base_config(settings), producer_config(settings)
    if create:
        create_transfer_topics(admin, topic)
    if schema is not None:
        publish_schema(pconf, topic, json.dumps(schema), copies=3)
    reports = []
    chunk = (len(values) + workers - 1) // workers
    for w in range(workers):
        writer = PartitionWriter(pconf, topic, seed=w)
        writer.send(values[w * chunk:(w + 1) * chunk])
        reports.append(writer.close())
    totals = merge_reports(reports)
    if manifest is not None:
        publish_manifest(pconf, Manifest(topic=topic, status=manifest,
                                         partitions=totals if manifest != "running" else {},
                                         total=sum(t["count"] for t in totals.values())))
    return totals


# --------------------------------------------------------------------------- job tests

def point_settings_at(monkeypatch, data_dir: Path, bootstrap: str, home: Path | None = None, **kafka) -> None:
    """Environment of the one configuration for a test: its data dir, a broker, optional Kafka keys.

    Child processes (jobs, downloads) inherit it. ``home`` hides ``~/.finkclient`` files.
    """
    monkeypatch.setenv("FINK_TRANSFER_DATA_DIR", str(data_dir))
    monkeypatch.setenv("FINK_TRANSFER_KAFKA__BOOTSTRAP_SERVERS", bootstrap)
    monkeypatch.setenv("FINK_TRANSFER_KAFKA__SCHEMA_COPIES", str(kafka.pop("schema_copies", 10)))
    for key, value in kafka.items():
        monkeypatch.setenv(f"FINK_TRANSFER_KAFKA__{key.upper()}", str(value))
    if home is not None:
        monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("FINK_TRANSFER_CONFIG", raising=False)


def wait_for(predicate, timeout: float, what: str, every: float = 0.1) -> None:
    """Poll ``predicate`` until it is true; fail the test naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def start_download(*args) -> subprocess.Popen:
    """``fink-transfer download ARGS`` as a child in its own session (kill it with its group)."""
    return subprocess.Popen([sys.executable, "-m", "cli", "download", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def finish(proc: subprocess.Popen, timeout: float) -> tuple[str, str]:
    """Wait for a child started by :func:`start_download`; kill its group if it outlives ``timeout``."""
    try:
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def candids_on_disk(outdir: Path) -> list[int]:
    """The candids of every Parquet file a download wrote (Hive folders included)."""
    import pandas as pd
    return pd.read_parquet(outdir, columns=["candid"])["candid"].tolist()


def candids_so_far(outdir: Path) -> list[int]:
    """Like :func:`candids_on_disk` while a download still writes: [] when a file is mid-rename."""
    try:
        return candids_on_disk(outdir)
    except Exception:  # noqa: BLE001 - a file appearing while we read: look again later
        return []


def topic_totals(settings, topic: str) -> dict[int, dict]:
    """Per-partition message counts read from the broker's watermarks."""
    from confluent_kafka import Consumer, TopicPartition

    from kafka_io.client_config import base_config
    from kafka_io.retry import call_retrying

    c = Consumer({**base_config(settings), "group.id": "w-" + topic})
    try:
        out = {}
        for p in sorted(c.list_topics(topic, timeout=10).topics[topic].partitions):
            low, high = call_retrying(lambda left, p=p: c.get_watermark_offsets(
                TopicPartition(topic, p), timeout=left, cached=False), 30)
            if high > low:
                out[p] = {"count": high - low, "last_offset": high - 1}
        return out
    finally:
        c.close()


def expected_rows(archive_dir: Path, nights, predicate=None, classes=None):
    """What the query selects, computed independently in pandas: DataFrame indexed by candid."""
    import datetime as dt

    from engine.archive.reader import read_table
    from engine.classification import classify_batch, load_tns_catalog

    table = read_table(archive_dir, [dt.date.fromisoformat(n) for n in nights])
    tns = load_tns_catalog(archive_dir)
    frames = [classify_batch(b, tns).to_pandas() for b in table.to_batches() if b.num_rows]
    import pandas as pd

    df = pd.concat(frames, ignore_index=True)
    if predicate is not None:
        df = df[df.apply(predicate, axis=1)]
    if classes is not None:
        df = df[df["finkclass"].isin(classes)]
    return df.set_index("candid", drop=False)


def cli(*args, env=None, timeout=180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=ROOT, env=env or os.environ.copy(),
                          capture_output=True, text=True, timeout=timeout)


def wait_group_coordinator(bootstrap: str, group: str, topic: str, timeout: float = 60) -> None:
    """Until the broker answers committed-offset requests for ``group``: on a fresh broker the
    official client's first ``committed()`` can meet NOT_COORDINATOR, which it does not retry."""
    import time

    from confluent_kafka import Consumer, KafkaException, TopicPartition

    deadline = time.monotonic() + timeout
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        while True:
            try:
                consumer.committed([TopicPartition(topic, 0)], timeout=10)
                return
            except KafkaException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
    finally:
        consumer.close()


def official_transfer(topic: str, bootstrap: str, home: Path, outdir: Path, timeout: float = 150,
                      maxtimeout: int = 10, attempts: int = 2, survey: str = "ztf", extra: tuple = ()):
    """Download ``topic`` with fink-client 12.3.0's ``finkctl transfer``: the official client, unmodified.

    It reads ``~/.finkclient/<survey>_credentials.yml`` (v12 format, as ``finkctl register`` writes it)
    under a private HOME and runs with its default settings (``-nconsumers -1``, the timeout of
    the credentials file): what a user types; ``extra`` adds options (``-partitionby time``).

    Why a second attempt: once in four full-suite runs on the former embedded broker the official
    client never exited (its processes leave on a racy ``while not queue.empty(): queue.get()``,
    fink.md section 8); the cause was not pinned down, so it may be the client's own. A hung
    attempt is killed and the download redone from scratch with a fresh group and folder, so the
    rows compared are always those of one complete run.
    """
    import shutil

    def attempt_args(attempt):
        creds = home / ".finkclient"
        creds.mkdir(parents=True, exist_ok=True)
        (creds / f"{survey}_credentials.yml").write_text(
            f"survey: {survey}\nusername: test\ngroupid: grp_{topic}_{attempt}\nservers: '{bootstrap}'\n"
            f"maxtimeout: {maxtimeout}\n")
        shutil.rmtree(outdir, ignore_errors=True)
        wait_group_coordinator(bootstrap, f"grp_{topic}_{attempt}", topic)
        return ["transfer", "-survey", survey, "-topic", topic, "-outdir", str(outdir), *extra]

    return _finkctl_until_it_exits(home, attempts, timeout, attempt_args)


def _finkctl_until_it_exits(home: Path, attempts: int, timeout: float, attempt_args) -> subprocess.CompletedProcess:
    """Run ``finkctl <attempt_args(n)>`` under HOME=home (``attempt_args`` also writes that attempt's
    credentials and empties its folder); an attempt that hangs is killed with its forked consumer
    processes and the next one starts from scratch; the last one's TimeoutExpired is raised."""
    env = dict(os.environ, HOME=str(home))
    finkctl = Path(sys.executable).parent / "finkctl"
    for attempt in range(1, attempts + 1):
        proc = subprocess.Popen([str(finkctl), *attempt_args(attempt)], env=env, cwd=str(home),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
            return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _err = proc.communicate()
            if attempt == attempts:
                raise
            print(f"official client attempt {attempt} hung after {timeout:.0f} s; stdout tail: {out[-500:]!r}",
                  file=sys.stderr)


def finkctl_transfer_as(topic, user, password, group, servers, outdir, timeout: float = 120, attempts: int = 2):
    """The official CLI with the user's v12 credentials file (a password key added).

    A hung attempt is killed with its forked consumers and redone from scratch (an empty folder,
    group ``<group>_retry<n>``, still under the user's group prefix): the client's racy exit of
    :func:`official_transfer` also struck here once, after all 10 alerts were written.
    """
    import shutil

    home = outdir.parent / f"finkctl-home-{user}"

    def attempt_args(attempt):
        (home / ".finkclient").mkdir(parents=True, exist_ok=True)
        (home / ".finkclient" / "ztf_credentials.yml").write_text(
            f"survey: ztf\nusername: {user}\npassword: {password}\n"
            f"groupid: {group if attempt == 1 else f'{group}_retry{attempt}'}\nservers: '{servers}'\nmaxtimeout: 3\n")
        shutil.rmtree(outdir, ignore_errors=True)
        return ["transfer", "-survey", "ztf", "-topic", topic, "-outdir", str(outdir), "-maxtimeout", "3"]

    return _finkctl_until_it_exits(home, attempts, timeout, attempt_args)


def consume_all(settings, topic: str) -> list[bytes]:
    """Every message of the data topic, read up to the manifest's last offsets."""
    from confluent_kafka import Consumer, TopicPartition

    from kafka_io.client_config import base_config
    from kafka_io.manifest import read_manifest

    manifest = read_manifest(base_config(settings), topic)
    out = []
    consumer = Consumer({**base_config(settings), "group.id": "t-" + topic, "enable.auto.commit": False})
    try:
        for p, t in manifest.partitions.items():
            consumer.assign([TopicPartition(topic, p, 0)])
            got = 0
            deadline = time.monotonic() + 60  # a cluster that lost a broker elects new leaders meanwhile
            while got < t["count"] and time.monotonic() < deadline:
                msgs = consumer.consume(min(500, t["count"] - got), 5.0)
                for m in msgs:
                    if not m.error():
                        out.append(m.value())
                        got += 1
    finally:
        consumer.close()
    return out


# --------------------------------------------------------------------------- Avro tests

_AVRO_TO_ARROW = {"boolean": pa.bool_(), "int": pa.int32(), "long": pa.int64(),
                  "float": pa.float32(), "double": pa.float64(), "string": pa.string(),
                  "bytes": pa.binary(), "null": pa.null()}


def arrow_type_of_avro(t, named: dict):
    """The Arrow type fastavro-decoded values of Avro type ``t`` take (``named``: types seen so far)."""
    if isinstance(t, list):
        branches = [b for b in t if b != "null"]
        assert len(branches) == 1
        return arrow_type_of_avro(branches[0], named)
    if isinstance(t, str):
        return _AVRO_TO_ARROW[t] if t in _AVRO_TO_ARROW else arrow_type_of_avro(named[t], named)
    kind = t["type"]
    if kind == "record":
        named[t["name"]] = t
        if "namespace" in t:
            named[f"{t['namespace']}.{t['name']}"] = t
        return pa.struct([pa.field(f["name"], arrow_type_of_avro(f["type"], named)) for f in t["fields"]])
    if kind == "array":
        return pa.list_(arrow_type_of_avro(t["items"], named))
    if kind == "map":
        return pa.map_(pa.string(), arrow_type_of_avro(t["values"], named))
    if kind in _AVRO_TO_ARROW:
        return _AVRO_TO_ARROW[kind]
    raise TypeError(t)


# -- the app in a real browser (headless Chromium through Playwright) ---------------------------

SHOTS = Path(os.environ.get("FINK_TRANSFER_SCREENSHOTS", ROOT / "test-output" / "screenshots"))


def serve_app(env: dict, log_path: Path):
    """Generator for fixtures: `streamlit run` (what `fink-transfer app` runs) on a free port, its URL."""
    from cli.app_cmd import streamlit_command
    from kafka_io.broker import free_port

    port = free_port()
    with open(log_path, "wb") as log:  # a file, not a PIPE: a full pipe would block the server
        proc = subprocess.Popen(streamlit_command(port), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        wait_for_health(port, proc, log_path, timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        kill_tree(proc.pid)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(5)


def wait_for_app_run(pg, timeout: float = 60_000) -> None:
    """Like streamlit's e2e conftest: the script is idle and no skeleton is left."""
    pg.wait_for_timeout(150)
    pg.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout)
    pg.wait_for_function("document.querySelectorAll(\"[data-testid='stSkeleton']\").length === 0",
                         timeout=timeout)


def shot(pg, name: str) -> None:
    """Whole page: Streamlit scrolls inside its main block, so grow the viewport to fit it first."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    height = pg.evaluate("Math.max(...[...document.querySelectorAll("
                         "'[data-testid=stMain], [data-testid=stAppViewContainer]')].map(e => e.scrollHeight))")
    pg.set_viewport_size({"width": 1440, "height": min(6000, max(1000, int(height) + 40))})
    pg.wait_for_timeout(1000)
    pg.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    pg.set_viewport_size({"width": 1440, "height": 1000})


def metric_value(pg, label: str) -> str:
    box = pg.locator("[data-testid='stMetric']").filter(has_text=label).first
    return box.locator("[data-testid='stMetricValue']").inner_text().strip()


def as_int(text: str) -> int:
    return int(re.sub(r"[^0-9]", "", text))


def type_date(pg, which: str, day) -> None:
    """Type a date into the start or end field of the range input (segments auto-advance)."""
    label = f"year, Nights (UTC, both ends included) {which} date"
    pg.get_by_role("spinbutton", name=label).click()
    pg.keyboard.type(f"{day:%Y%m%d}")


def download_in_app(pg, monitor_shot: str | None = None) -> str:
    """From a submitted job's page: Monitor until done, then download the topic in the app.

    Returns the output folder the Download page used.
    """
    import re

    pg.get_by_role("link", name="Monitor this job").click()
    wait_for_app_run(pg)
    pg.get_by_text("Download this topic").wait_for(timeout=180_000)
    wait_for_app_run(pg)
    if monitor_shot:
        shot(pg, monitor_shot)
    pg.get_by_role("link", name="Download this topic").click()
    wait_for_app_run(pg)
    outdir = pg.get_by_role("textbox", name="Output folder").input_value()
    pg.get_by_role("button", name=re.compile("Start download|Resume download")).click()
    wait_for_app_run(pg)
    pg.get_by_text("Complete: every alert of the manifest is on disk.").wait_for(timeout=180_000)
    wait_for_app_run(pg)
    return outdir


# --------------------------------------------------------------------------- seeded random nested Arrow data

RANDOM_PRIMS = [pa.bool_(), pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.float32(), pa.float64(),
                pa.string(), pa.large_string(), pa.binary(), pa.large_binary()]


def _random_type(rng: random.Random, depth: int):
    r = rng.random()
    if depth <= 0 or r < 0.55:
        return rng.choice(RANDOM_PRIMS)
    if r < 0.7:
        return pa.struct([pa.field(f"f{i}", _random_type(rng, depth - 1))
                          for i in range(rng.randint(1, 4))])
    if r < 0.85:
        return (pa.large_list if rng.random() < 0.2 else pa.list_)(_random_type(rng, depth - 1))
    return pa.map_(pa.string(), _random_type(rng, depth - 1))


def _random_value(rng: random.Random, t, null_p):
    import numpy as np

    if rng.random() < null_p:
        return None
    if pa.types.is_boolean(t):
        return rng.random() < 0.5
    if pa.types.is_integer(t):
        bits = t.bit_width
        lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        edge = [x for x in (0, 1, -1, hi, lo, 63, 64, -64, -65, 8191, 8192) if lo <= x <= hi]
        return rng.choice(edge) if rng.random() < 0.3 else rng.randint(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    if pa.types.is_floating(t):
        x = rng.choice([0.0, -0.0, float("inf"), float("-inf"), 1e300, 1.5, rng.uniform(-1e6, 1e6)])
        return float(np.float32(x)) if t == pa.float32() and abs(x) < 3e38 else (
            x if t == pa.float64() else 1.25)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "".join(rng.choice("abcé€\u00ff\U0001f600 ") for _ in range(rng.choice([0, 1, 5, 70, 200])))
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 1, 3, 130, 3000])))
    if pa.types.is_struct(t):
        return {f.name: _random_value(rng, f.type, null_p) for f in t}
    if pa.types.is_map(t):
        return [(f"k{i}", _random_value(rng, t.item_type, null_p)) for i in range(rng.choice([0, 1, 2, 5]))]
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return [_random_value(rng, t.value_type, null_p) for _ in range(rng.choice([0, 1, 2, 7, 130]))]
    raise TypeError(t)


@functools.lru_cache(maxsize=None)
def random_batch(seed: int) -> pa.RecordBatch:
    """Seeded random nested data (structs, lists, maps, every primitive) with nulls at every level:
    1 to 6 columns, 1, 3 or 40 rows. The encoder and decoder tests draw the same seeds, so each batch
    is built once (a RecordBatch is immutable)."""
    rng = random.Random(seed)
    fields = [pa.field(f"c{i}", _random_type(rng, 3)) for i in range(rng.randint(1, 6))]
    n = rng.choice([1, 3, 40])
    null_p = rng.choice([0.0, 0.1, 0.5])
    rows = [{f.name: _random_value(rng, f.type, null_p) for f in fields} for _ in range(n)]
    return pa.RecordBatch.from_pylist(rows, schema=pa.schema(fields))


# --------------------------------------------------------------------------- conditions

FLOAT_EDGES = [None, float("nan"), float("inf"), float("-inf"), 0.0, -0.0, -1.0, 1e-30, 3.4e38, 2.675, 19.5]
INT_EDGES = [None, 0, -1, 2147483647, -2147483648]


def with_edge_rows(batch, n=24):
    """Archive rows plus ``n`` copies whose numbers are edges (NULL, NaN, inf, 0, -0, int limits)."""
    copies = batch.slice(0, n).to_pylist()
    top = int(max(batch.column(batch.schema.get_field_index("candid")).to_pylist()))
    for i, row in enumerate(copies):
        row["candid"] = [top + 1 + i, 2**63 - 1 - i, -(2**63) + i][i % 3]
        row["rf_snia_vs_nonia"] = FLOAT_EDGES[i % len(FLOAT_EDGES)]
        row["roid"] = INT_EDGES[i % len(INT_EDGES)]
        cand = row["candidate"]
        for k, name in enumerate(("magpsf", "sigmapsf", "distnr", "magnr", "jd", "ra", "drb")):
            cand[name] = FLOAT_EDGES[(i + k) % len(FLOAT_EDGES)]
        for k, name in enumerate(("fid", "ndethist", "nid", "field")):
            cand[name] = INT_EDGES[(i + k) % len(INT_EDGES)]
        cand["pid"] = [None, 2**63 - 1, -(2**63), 0][i % 4]
        cand["isdiffpos"] = [None, "t", "f", "1", " 2 ", "nan", "", "1e3"][i % 8]
        row["objectId"] = [None, "", "ZTF19%_", "a\\b", "ztf21"][i % 5] if i % 2 else row["objectId"]
        for p in row["prv_candidates"] or []:
            p["magpsf"] = FLOAT_EDGES[(i + 3) % len(FLOAT_EDGES)] if i % 2 else p["magpsf"]
            p["fid"] = INT_EDGES[i % len(INT_EDGES)] if i % 3 == 0 else p["fid"]
        if i % 7 == 0:
            row["prv_candidates"] = None
        elif i % 7 == 1:
            row["prv_candidates"] = []
    edges = pa.RecordBatch.from_pylist(copies, schema=batch.schema)
    return pa.Table.from_batches([batch, edges]).combine_chunks().to_batches()[0]


class OneDuckDBConnection:
    """``duckdb.connect`` for ``condition_mask`` during a property run: the same in-memory connection
    every time (its ``close`` waits for the end of the run), since opening one costs more than
    evaluating a condition. ``condition_mask`` still runs whole: ``SET threads``, registering the
    job's columns as ``batch`` (replacing the previous example's), the query."""

    def __init__(self):
        import duckdb
        self.con = duckdb.connect()

    def __call__(self, *args, **kwargs):
        assert not args and not kwargs, (args, kwargs)  # an in-memory database, like the job's
        return self

    def close(self):
        pass

    def __getattr__(self, name):
        return getattr(self.con, name)


# The Spark/DuckDB differential test's small table (``condition_diff_file``).
_DIFF_CAND = pa.struct([
    ("magpsf", pa.float32()), ("magnr", pa.float32()), ("distnr", pa.float32()),
    ("sigmapsf", pa.float32()), ("fid", pa.int32()), ("jd", pa.float64()),
    ("ndethist", pa.int32()), ("isdiffpos", pa.string()),
])
_DIFF_PRV = pa.list_(pa.struct([("magpsf", pa.float32()), ("fid", pa.int32())]))
CONDITION_DIFF_SCHEMA = pa.schema([
    ("candid", pa.int64()), ("objectId", pa.string()), ("candidate", _DIFF_CAND), ("prv_candidates", _DIFF_PRV),
    ("rf_snia_vs_nonia", pa.float64()), ("tracklet", pa.string()), ("from_upper", pa.bool_()),
    ("finkclass", pa.string()), ("tnsclass", pa.string()),
    ("year", pa.int32()), ("month", pa.int32()), ("day", pa.int32()),
])


def condition_diff_rows(n=400, seed=7) -> list[dict]:
    """Rows of ``CONDITION_DIFF_SCHEMA`` full of edge values (NULL, NaN, 0, -0, negatives, empty and
    NULL arrays, NULL array elements), seeded."""
    rng = random.Random(seed)
    specials = [None, float("nan"), 0.0, -0.0, -999.0, -1.0, 1e-3, 19.1, 19.5, 19.0, 15.0, float("inf")]

    rows = []
    for i in range(n):
        def pick(lo, hi, p=0.25):
            return rng.choice(specials) if rng.random() < p else round(rng.uniform(lo, hi), rng.choice([1, 3, 6]))

        cand = None if rng.random() < 0.03 else {
            "magpsf": pick(13, 22), "magnr": pick(13, 22), "distnr": pick(-2, 10, 0.4),
            "sigmapsf": pick(0, 0.3), "fid": rng.choice([1, 2, 3, None]), "jd": pick(2458000, 2459000),
            "ndethist": rng.choice([0, 1, 5, 30, None]), "isdiffpos": rng.choice(["t", "f", "1", None]),
        }
        r = rng.random()
        if r < 0.1:
            prv = None
        elif r < 0.2:
            prv = []
        else:
            prv = [None if rng.random() < 0.05 else
                   {"magpsf": pick(13, 21, 0.15), "fid": rng.choice([1, 2, None])}
                   for _ in range(rng.randint(1, 6))]
        rows.append({
            "candid": i,
            "objectId": rng.choice(["ZTF19aaaaaab", "ZTF20abcdefa", "ZTF21xyz", "ztf19lower", None,
                                    "a%", "a\\b", "a_b", "ZTF%"]),
            "candidate": cand, "prv_candidates": prv,
            "rf_snia_vs_nonia": pick(0, 1, 0.3),
            "tracklet": rng.choice([None, "TRCK_1", ""]),
            "from_upper": rng.choice([True, False, None]),
            "finkclass": rng.choice(["SN candidate", "Unknown", "Kilonova candidate", "Early SN Ia candidate", None]),
            "tnsclass": rng.choice(["Unknown", "(TNS) SN Ia", None]),
            "year": 2019, "month": 9, "day": rng.choice([3, 4]),
        })
    return rows


def nan_comparable(v):
    """A Python value (from ``to_pylist``) with NaN made equal to NaN, for comparing decoded tables."""
    import math

    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    if isinstance(v, dict):
        return {k: nan_comparable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [nan_comparable(x) for x in v]
    return v
