"""Every fixture of the suite: a real Apache Kafka broker per test session (and private ones for
the fault tests), isolated settings per test, small real archives, Spark, a headless browser.
Plain helpers live in ``tests/helpers.py``.

Tests talk to the real broker, never to a mock. The layer markers (``broker``, ``spark``,
``e2e``) follow from the fixtures a test uses (``pytest_collection_modifyitems``), so
``pytest -m "not broker and not spark and not e2e"`` is the unit layer, which then runs on every
core (pytest-xdist, ``pytest_cmdline_main`` below); ``-n 0`` keeps it serial.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.helpers import LAYER_FIXTURES, ELASTICC_NIGHTS, ELASTICC_PER_NIGHT, ELASTICC_START, LSST_NIGHTS, LSST_PER_NIGHT, \
    LSST_START, REFERENCE, SERVICE_SPEC, ZTF_NIGHTS, \
    ZTF_PER_NIGHT, ZTF_START, app_environment, ensure_archive, install_users, point_settings_at, unit_layer_workers


# Jobs' JVMs do not share classes (engine/job/jvm_classes.py) unless a test asks: the first job
# of a session would record them (about 20 s more), whichever test that happens to be.
os.environ.setdefault("FINK_TRANSFER_SPARK__CLASS_SHARING", "false")


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    """The unit layer alone gets one pytest-xdist worker per core (2 cores: 69 s -> 40 s)."""
    if hasattr(config, "workerinput") or not config.pluginmanager.hasplugin("xdist") \
            or config.getoption("collectonly") or config.getoption("usepdb"):
        return
    workers = unit_layer_workers(config.getoption("markexpr"), config.getoption("numprocesses"),
                                 len(os.sched_getaffinity(0)))
    if workers:
        config.option.numprocesses, config.option.dist = workers, "load"
        config.option.tx = ["popen"] * workers


def pytest_collection_modifyitems(config, items):
    for item in items:
        used = set(item.fixturenames)
        for marker, fixtures in LAYER_FIXTURES.items():
            if used & fixtures:
                item.add_marker(marker)


def _running(server, timeout: float = 10):
    """Start a broker or cluster for a fixture, stop it at teardown."""
    server.start()
    yield server
    server.stop(timeout=timeout)


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    """A real Apache Kafka broker (KRaft, data on disk) on free loopback ports, for the whole session."""
    from kafka_io.broker import EmbeddedBroker
    yield from _running(EmbeddedBroker(tmp_path_factory.mktemp("broker"), port=0, heap="768m"), timeout=30)


@pytest.fixture(scope="session")
def kafka_jars():
    """The installed Apache Kafka jars (``fink-transfer broker install``), for tests that start brokers."""
    from kafka_io.kafka_install import require_installed
    return require_installed()


@pytest.fixture
def private_broker(tmp_path):
    """A broker of the test's own (fault tests kill and restart it)."""
    from kafka_io.broker import EmbeddedBroker
    yield from _running(EmbeddedBroker(tmp_path / "private-broker", port=0, heap="512m"))


@pytest.fixture(scope="module")
def scram_broker(tmp_path_factory):
    """A broker with the SASL SCRAM-SHA-512 listener and deny-by-default ACLs."""
    from kafka_io.broker import EmbeddedBroker
    yield from _running(EmbeddedBroker(tmp_path_factory.mktemp("scram"), port=0, heap="512m", security="scram"))


@pytest.fixture
def service_mode_env(tmp_path, scram_broker, small_archive, monkeypatch):
    """Service mode on the SCRAM broker: the service is its admin, from the one configuration."""
    point_settings_at(monkeypatch, tmp_path / "var", scram_broker.bootstrap_servers, home=tmp_path / "home",
                      schema_copies=3, security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-512",
                      sasl_username=scram_broker.admin_user, sasl_password=scram_broker.admin_password)
    monkeypatch.setenv("FINK_TRANSFER_SERVICE__ENABLED", "true")
    monkeypatch.setenv("FINK_TRANSFER_ARCHIVES__ZTF", str(small_archive))
    from engine.config import load_settings
    return load_settings()


@pytest.fixture
def app_server(settings_env, tmp_path):
    """The real app served by `streamlit run` on a free port, with ZTF and LSST demo archives."""
    from tests.helpers import LSST_NIGHTS, LSST_PER_NIGHT, LSST_START, serve_app

    ensure_archive(settings_env, "ztf", ZTF_START, ZTF_NIGHTS, ZTF_PER_NIGHT)
    ensure_archive(settings_env, "lsst", LSST_START, LSST_NIGHTS, LSST_PER_NIGHT)
    env = dict(os.environ, **app_environment(settings_env.data_dir, settings_env.bootstrap_servers))
    yield from serve_app(env, tmp_path / "streamlit.log")


@pytest.fixture
def service_app(service_mode_env, tmp_path):
    """The app in service mode (login first) on the SCRAM broker."""
    from tests.helpers import serve_app
    yield from serve_app(dict(os.environ), tmp_path / "streamlit.log")


@pytest.fixture
def cluster(tmp_path):
    """Three KRaft nodes on loopback: replication factor 3, ``min.insync.replicas=2``."""
    from kafka_io.broker import KafkaCluster
    yield from _running(KafkaCluster(tmp_path / "cluster", nodes=3, heap="384m"), timeout=15)


@pytest.fixture
def private_env(tmp_path, private_broker, monkeypatch):
    """Like ``settings_env``, but on the test's own broker (and no ``~/.finkclient``)."""
    point_settings_at(monkeypatch, tmp_path / "var", private_broker.bootstrap_servers, home=tmp_path / "home")
    from engine.config import load_settings
    return load_settings()


@pytest.fixture
def settings_env(tmp_path, broker, monkeypatch):
    """Environment pointing the one configuration at a per-test data dir and the session broker.

    The broker is "external" from the settings' point of view (bootstrap_servers set), so code
    under test never starts or stops it. Child processes inherit these variables.
    """
    point_settings_at(monkeypatch, tmp_path / "var", broker.bootstrap_servers)
    from engine.config import load_settings
    return load_settings()


@pytest.fixture
def topic_name():
    """A fresh fink-style topic name."""
    return f"ftransfer_ztf_2026-11-24_{uuid.uuid4().int % 1_000_000}"


@pytest.fixture(scope="module")
def small_archive(tmp_path_factory):
    """Two synthetic ZTF nights (300 alerts each) for the job tests."""
    import datetime as dt

    from engine.archive.generator import build_archive

    out = tmp_path_factory.mktemp("archive") / "ztf"
    build_archive("ztf", dt.date(2021, 11, 22), 2, 300, out, progress=False)
    return out


@pytest.fixture
def job_env(settings_env, small_archive, monkeypatch):
    """Settings whose ZTF archive is ``small_archive`` (and the session broker)."""
    monkeypatch.setenv("FINK_TRANSFER_ARCHIVES__ZTF", str(small_archive))
    from engine.config import load_settings
    return load_settings()


@pytest.fixture
def spark_job_env(job_env, monkeypatch):
    """``job_env`` with jobs on Spark (two local cores) whatever their size."""
    monkeypatch.setenv("FINK_TRANSFER_SPARK__MASTER", "local[2]")
    from engine.config import load_settings
    return load_settings()


@pytest.fixture(scope="module")
def spark():
    """A local Spark session (one core, no UI) for a module's tests that read with Spark directly."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[1]").appName("fink-transfer-tests")
               .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "1").getOrCreate())
    yield session
    session.stop()


@pytest.fixture(scope="module")
def spark_non_ansi():
    """A local Spark session as the jobs run conditions: non-ANSI, ``runSQLOnFiles`` off (one core, no UI)."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[1]").appName("fink-transfer-conditions")
               .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.ansi.enabled", "false").config("spark.sql.runSQLOnFiles", "false")
               .config("spark.sql.shuffle.partitions", "1").getOrCreate())
    yield session
    session.stop()


@pytest.fixture(scope="module")
def condition_diff_file(tmp_path_factory) -> str:
    """``condition_diff_rows`` written as one Parquet file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tests.helpers import CONDITION_DIFF_SCHEMA, condition_diff_rows

    path = tmp_path_factory.mktemp("diff") / "alerts.parquet"
    pq.write_table(pa.Table.from_pylist(condition_diff_rows(), schema=CONDITION_DIFF_SCHEMA), path)
    return str(path)


@pytest.fixture(scope="module")
def app_settings(broker, tmp_path_factory):
    """Settings (through env variables, like ``settings_env``) with real ZTF and ELASTICC archives."""
    from engine.config import load_settings

    mp = pytest.MonkeyPatch()
    data_dir = tmp_path_factory.mktemp("app") / "var"
    for name, value in app_environment(data_dir, broker.bootstrap_servers).items():
        mp.setenv(name, value)
    mp.delenv("FINK_TRANSFER_CONFIG", raising=False)
    settings = load_settings()
    ensure_archive(settings, "ztf", ZTF_START, ZTF_NIGHTS, ZTF_PER_NIGHT)
    ensure_archive(settings, "elasticc", ELASTICC_START, ELASTICC_NIGHTS, ELASTICC_PER_NIGHT)
    ensure_archive(settings, "lsst", LSST_START, LSST_NIGHTS, LSST_PER_NIGHT)
    yield settings
    mp.undo()


@pytest.fixture(scope="session")
def ztf_schema():
    """The unified ZTF Arrow schema (every era) that conditions are typed against."""
    from engine.schemas import unified_arrow_schema
    return unified_arrow_schema("ztf")


@pytest.fixture(scope="session")
def ztf_archive(tmp_path_factory) -> Path:
    """Two ZTF nights across the 2021/2022 era boundary and one 2023-10 night (4.02), real samples included."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from engine.archive.generator import build_archive
    from engine.stats import build_index

    out = tmp_path_factory.mktemp("ztf") / "archive"
    build_archive("ztf", dt.date(2021, 12, 31), 2, 300, out, seed=7, progress=False, write_index=False)
    # a third night in the 2023+ era, written beside the others
    extra = tmp_path_factory.mktemp("ztf23") / "a"
    build_archive("ztf", dt.date(2023, 10, 20), 1, 300, extra, seed=7, progress=False, write_index=False)
    shutil.copytree(extra / "year=2023", out / "year=2023")
    tns = [pq.read_table(d / "_catalogs" / "tns.parquet") for d in (out, extra)]
    pq.write_table(pa.concat_tables(tns), out / "_catalogs" / "tns.parquet")
    build_index(out)
    return out


@pytest.fixture(scope="session")
def real_lake(tmp_path_factory) -> Path:
    """The real Fink lake samples laid out as year=/month=/day= (two schemas in one night)."""
    root = tmp_path_factory.mktemp("lake") / "science"
    src = REFERENCE / "samples" / "fink_datalake"
    night = root / "year=2021" / "month=11" / "day=22"
    night.mkdir(parents=True)
    shutil.copy(src / "science_2021-11-22_fink1.3_mulens_struct.parquet", night / "part-00003.parquet")
    shutil.copy(src / "science_2021-11-22_portal_archive.parquet", night / "part-00002.parquet")
    old = root / "year=2019" / "month=09" / "day=03"
    old.mkdir(parents=True)
    shutil.copy(src / "science_2019-09-03_fink2.9.parquet", old / "part-00000.parquet")
    return root


@pytest.fixture(scope="session")
def two_classified_ztf_nights():
    """Two generated ZTF nights (400 alerts each, seed 3) in memory, classified: returning objects
    with alerts, history and upper limits. A tuple of immutable batches."""
    from engine.classification import classify_batch
    from tests.helpers import generated_ztf_nights

    return tuple(classify_batch(batch) for _, batch in generated_ztf_nights(3, dt.date(2022, 8, 1), 2, 400))


CHROMIUM = os.environ.get("FINK_TRANSFER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage"]


@pytest.fixture
def chromium_page():
    """A page of Debian's headless Chromium driven by Playwright."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
        pg = context.new_page()
        pg.set_default_timeout(30_000)
        try:
            yield pg
        finally:
            context.close()
            browser.close()


@pytest.fixture(scope="session")
def installed_wheel(tmp_path_factory):
    """The project built as a wheel and installed (no editable link) in a fresh venv outside the tree.

    Only the project comes from the wheel: to stay fast, the venv sees the test venv's
    dependencies through a ``.pth`` line (appended after its own site-packages, so the wheel's
    ``engine`` wins). Returns the venv's bin folder and an environment free of PYTHONPATH.
    """
    import subprocess
    import sys
    import sysconfig
    from types import SimpleNamespace

    from tests.helpers import ROOT

    base = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("FINK_TRANSFER_")}
    run = dict(check=True, capture_output=True, text=True, timeout=300, cwd=base, env=env)
    src = base / "src"  # a copy: the build leaves build/ and *.egg-info beside the sources
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", ".venv", "var", "build", "*.egg-info",
                                                             "__pycache__", "test-output", "data"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(base / "dist"), str(src)],
                   **run)
    wheel = next((base / "dist").glob("fink_transfer-*.whl"))
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], **run)
    site = Path(subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               **run).stdout.strip())
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
                    "--no-deps", str(wheel)], **run)
    # after the install: pip would otherwise see the test venv's fink-transfer and skip the wheel
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "test_venv_dependencies.pth").write_text("\n".join(sorted(deps)) + "\n")
    return SimpleNamespace(bin=venv / "bin", site=site, env=dict(env, FINK_TRANSFER_DATA_DIR=str(base / "var")),
                           cwd=base)


# --------------------------------------------------------------------------- service mode, no broker

@pytest.fixture(scope="session")
def users_yaml(tmp_path_factory) -> Path:
    """A users file made by ``add_user``: alice and bob (users), root (admin), each with the password
    ``<name>-password``. A bcrypt hash costs ~0.3 s, so the session hashes them once and
    ``install_users`` copies the file into each test's data dir."""
    from engine.config import load_settings
    from engine.users import add_user

    mp = pytest.MonkeyPatch()
    mp.setenv("FINK_TRANSFER_DATA_DIR", str(tmp_path_factory.mktemp("users") / "var"))
    mp.delenv("FINK_TRANSFER_CONFIG", raising=False)
    try:
        settings = load_settings()
        for name, role in (("alice", "user"), ("bob", "user"), ("root", "admin")):
            add_user(settings, name, f"{name}-password", role=role)
    finally:
        mp.undo()
    return Path(settings.users_file)


@pytest.fixture
def confined_alice(tmp_path, monkeypatch, users_yaml):
    """Service mode without a broker: alice's folder holds ``link-out``, a symlink to a folder outside
    (with a ``spec.yaml``); bob and root exist too."""
    from engine.users import get_user

    monkeypatch.setenv("FINK_TRANSFER_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("FINK_TRANSFER_SERVICE__ENABLED", "true")
    monkeypatch.delenv("FINK_TRANSFER_CONFIG", raising=False)
    from engine.config import load_settings
    settings = load_settings()
    install_users(settings, users_yaml)
    root = settings.users_dir / "alice"
    root.mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "spec.yaml").write_text("survey: ztf\nstart: 2021-11-22\n")
    os.symlink(tmp_path / "outside", root / "link-out")
    return SimpleNamespace(settings=settings, alice=get_user(settings, "alice"), tmp=tmp_path)


@pytest.fixture
def service_settings(settings_env, monkeypatch, users_yaml):
    """Service mode on the session broker, one concurrent job; alice, bob and root (admin) exist."""
    monkeypatch.setenv("FINK_TRANSFER_SERVICE__ENABLED", "true")
    monkeypatch.setenv("FINK_TRANSFER_QUOTAS__CONCURRENT_JOBS", "1")
    from engine.config import load_settings
    settings = load_settings()
    install_users(settings, users_yaml)
    return settings


@pytest.fixture
def busy_slot(service_settings):
    """bob's job holding the only slot: a live process whose command line names the job."""
    import signal
    import subprocess

    from engine.job.store import create_job, update_status

    rec = create_job(service_settings, SERVICE_SPEC, owner="bob")
    proc = subprocess.Popen(["sh", "-c", f"sleep 120 # {rec.job_id}"], start_new_session=True)
    update_status(service_settings, rec.job_id, state="running", pid=proc.pid, dispatched=1.0)
    yield rec
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(5)


# --------------------------------------------------------------------------- fixtures of single modules

@pytest.fixture(scope="module")
def submitted(app_settings):
    """A test job submitted from the query page (``app_settings``); returns (job_id, topic, the AppTest)."""
    from tests.helpers import assert_clean, new_app

    at = new_app().run()
    at.text_area(key="conditions_ztf").input("candidate.magpsf < 25").run()
    at.button(key="test_job").click().run()
    assert_clean(at)
    sub = at.session_state["submission"]
    return sub["job_id"], sub["topic"], at


@pytest.fixture(scope="module")
def ztf_month(tmp_path_factory):
    """30 ZTF nights x 300 alerts (seed 4), read back as one classified table of the light columns:
    ``(archive folder, table)``."""
    import pyarrow as pa

    from engine.archive import reader
    from engine.archive.generator import build_archive
    from engine.classification import classify_batch, load_tns_catalog
    from tests.helpers import MONTH_NIGHTS, MONTH_PER_NIGHT, MONTH_START

    out = tmp_path_factory.mktemp("month") / "archive"
    build_archive("ztf", MONTH_START, MONTH_NIGHTS, MONTH_PER_NIGHT, out, seed=4, progress=False, write_index=False)
    cols = ["objectId", "candid", "candidate", "prv_candidates", "cdsxmatch", "roid", "mulens", "snn_snia_vs_nonia",
            "snn_sn_vs_all", "rf_snia_vs_nonia", "rf_kn_vs_nonkn", "tracklet"]
    table = reader.read_table(out, reader.list_nights(out), columns=cols)
    return out, pa.Table.from_batches([classify_batch(table, load_tns_catalog(out))])


@pytest.fixture(scope="module")
def survey_archives(tmp_path_factory):
    """One small archive per survey (150 alerts a night) under one root, for the codec tests."""
    from engine.archive.generator import build_archive

    root = tmp_path_factory.mktemp("archives")
    # ZTF: the last night of 2022 and the first of 2023 = both eras, with their real sample alerts.
    build_archive("ztf", dt.date(2022, 12, 31), 2, 150, root / "ztf", seed=3, progress=False, write_index=False)
    build_archive("elasticc", dt.date(2023, 11, 27), 1, 150, root / "elasticc", seed=3, progress=False,
                  write_index=False)
    build_archive("lsst", dt.date(2026, 3, 6), 1, 150, root / "lsst", seed=3, progress=False, write_index=False)
    return root


@pytest.fixture
def cluster_env(tmp_path, cluster, small_archive, monkeypatch):
    """Settings on the three-node cluster, ZTF archive ``small_archive``."""
    point_settings_at(monkeypatch, tmp_path / "var", cluster.bootstrap_servers, home=tmp_path / "home",
                      schema_copies=5)
    monkeypatch.setenv("FINK_TRANSFER_ARCHIVES__ZTF", str(small_archive))
    from engine.config import load_settings
    return load_settings()


@pytest.fixture
def scram_admin_env(tmp_path, scram_broker, monkeypatch):
    """The service's settings: the embedded broker's own SCRAM admin, from the one configuration."""
    point_settings_at(monkeypatch, tmp_path / "var", scram_broker.bootstrap_servers, home=tmp_path / "home",
                      schema_copies=3, security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-512",
                      sasl_username=scram_broker.admin_user, sasl_password=scram_broker.admin_password)
    from engine.config import load_settings
    return load_settings()


@pytest.fixture
def no_finkclient_env(settings_env, tmp_path, monkeypatch):
    """``settings_env`` with an empty HOME: no ``~/.finkclient``, the project's configuration is used."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return settings_env


@pytest.fixture(scope="module")
def cli_data_dir(tmp_path_factory):
    """A data dir whose ZTF archive holds two nights of 20 alerts (for CLI subprocesses)."""
    from engine.archive.generator import build_archive

    data = tmp_path_factory.mktemp("var")
    build_archive("ztf", dt.date(2021, 11, 22), 2, 20, data / "archive" / "ztf", progress=False,
                  write_index=False)
    return data


@pytest.fixture(scope="module")
def estimate_archive(tmp_path_factory):
    """Two ZTF nights (2021-12-31, 2022-01-01: two eras), 150 alerts each, with the statistics index."""
    from engine.archive.generator import build_archive

    out = tmp_path_factory.mktemp("arch") / "ztf"
    build_archive("ztf", dt.date(2021, 12, 31), 2, 150, out, seed=3, progress=False)
    return out


@pytest.fixture
def local_settings(tmp_path):
    """Local-mode settings on a per-test data dir, from an explicit environment (no broker)."""
    from engine.config import load_settings
    return load_settings(env={"FINK_TRANSFER_DATA_DIR": str(tmp_path / "var")})


@pytest.fixture
def service_mode_settings(tmp_path, monkeypatch):
    """Service mode on a per-test data dir, no broker and no users yet."""
    monkeypatch.setenv("FINK_TRANSFER_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("FINK_TRANSFER_SERVICE__ENABLED", "true")
    monkeypatch.delenv("FINK_TRANSFER_CONFIG", raising=False)
    from engine.config import load_settings
    return load_settings()


@pytest.fixture
def archive_env(settings_env):
    """``settings_env`` whose ZTF archive holds two nights of 50 alerts."""
    from engine.archive.generator import build_archive

    build_archive("ztf", dt.date(2021, 11, 22), 2, 50, settings_env.archive_dir("ztf"), progress=False,
                  write_index=False)
    return settings_env


@pytest.fixture
def service_jobs(job_env, monkeypatch):
    """Service mode on ``job_env``: two concurrent jobs, 100 alerts per job, throttled jobs."""
    monkeypatch.setenv("FINK_TRANSFER_SERVICE__ENABLED", "true")
    monkeypatch.setenv("FINK_TRANSFER_QUOTAS__CONCURRENT_JOBS", "2")
    monkeypatch.setenv("FINK_TRANSFER_QUOTAS__ALERTS_PER_JOB", "100")
    monkeypatch.setenv("FINK_TRANSFER_JOBS__THROTTLE_S", "1")  # each job outlasts the 12 submissions
    from engine.config import load_settings
    return load_settings()


@pytest.fixture(scope="session")
def condition_rows(tmp_path_factory):
    """One batch of classified archive rows for the condition property: 2 synthetic nights + the real
    2021 sample alerts, plus 24 copies whose numbers are edges (``with_edge_rows``)."""
    from engine.archive import reader
    from engine.archive.generator import build_archive
    from engine.classification import classify_batch, load_tns_catalog
    from tests.helpers import with_edge_rows

    out = tmp_path_factory.mktemp("prop") / "ztf"
    build_archive("ztf", dt.date(2021, 11, 22), 2, 150, out, progress=False, write_index=False)
    table = reader.read_table(out, reader.list_nights(out))
    return with_edge_rows(classify_batch(table, load_tns_catalog(out)))


@pytest.fixture
def one_duckdb_connection(monkeypatch):
    """``duckdb.connect`` gives one shared in-memory connection for the test (``OneDuckDBConnection``)."""
    import duckdb

    from tests.helpers import OneDuckDBConnection

    shared = OneDuckDBConnection()
    monkeypatch.setattr(duckdb, "connect", shared)
    yield shared
    shared.con.close()


@pytest.fixture(scope="module")
def survey_edge_archive(tmp_path_factory):
    """survey -> an archive of that survey with alerts at RA ~ 0/360 and the poles
    (tests/xmatch_data.py), built on first use."""
    from tests import xmatch_data

    built: dict = {}

    def get(survey: str) -> Path:
        if survey not in built:
            built[survey] = xmatch_data.edge_archive(tmp_path_factory.mktemp(f"edge_{survey}") / survey, survey=survey)
        return built[survey]
    return get
