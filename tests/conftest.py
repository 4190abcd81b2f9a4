"""Every fixture of the suite: a real Apache Kafka broker per test session (and private ones for
the fault tests), isolated settings per test, small real archives, Spark, a headless browser.
Plain helpers live in ``tests/helpers.py``.

Tests talk to the real broker, never to a mock. The layer markers (``broker``, ``spark``,
``e2e``) follow from the fixtures a test uses (``pytest_collection_modifyitems``), so
``pytest -m "not broker and not spark and not e2e"`` is the unit layer.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from pathlib import Path

import pytest

from tests.helpers import ELASTICC_NIGHTS, ELASTICC_PER_NIGHT, ELASTICC_START, LSST_NIGHTS, LSST_PER_NIGHT, \
    LSST_START, REFERENCE, ZTF_NIGHTS, \
    ZTF_PER_NIGHT, ZTF_START, app_environment, ensure_archive, point_settings_at

# A test using any of these fixtures (directly or through another fixture) gets the marker.
LAYER_FIXTURES = {
    "broker": {"broker", "private_broker", "scram_broker", "cluster", "kafka_jars"},
    "spark": {"spark", "spark_job_env"},
    "e2e": {"chromium_page", "installed_wheel"},
}


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


@pytest.fixture(scope="module")
def elasticc_edge_archive(tmp_path_factory) -> Path:
    """An ELASTICC archive with alerts at RA ~ 0/360 and the poles (tests/xmatch_data.py)."""
    from tests import xmatch_data
    return xmatch_data.edge_archive(tmp_path_factory.mktemp("edge_elasticc") / "elasticc", survey="elasticc")
