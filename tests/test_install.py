"""A non-editable install works on its own: wheel in a fresh venv, run from outside the source tree."""

from __future__ import annotations

import subprocess

import pyarrow.parquet as pq

from engine.archive import reader
from tests.helpers import ROOT, kill_tree, wait_for_health


def _run(installed_wheel, *cmd, **kw):
    return subprocess.run([str(installed_wheel.bin / cmd[0]), *cmd[1:]], cwd=installed_wheel.cwd,
                          env=kw.pop("env", installed_wheel.env), capture_output=True, text=True, timeout=300, **kw)


def test_the_project_is_imported_from_the_wheel_with_its_data(installed_wheel):
    proc = _run(installed_wheel, "python", "-c",
                "import engine, app_pages, engine.config as c; print(engine.__file__); print(app_pages.app_script());"
                "print(c.load_settings().data_dir)")
    assert proc.returncode == 0, proc.stderr
    engine_file, script, _data_dir = proc.stdout.split()
    assert engine_file.startswith(str(installed_wheel.site)) and not engine_file.startswith(str(ROOT))
    assert script.startswith(str(installed_wheel.site))
    for data in ("engine/default_config.yaml", "engine/schemas/ztf/v4.02/alert.avsc",
                 "engine/taxonomy_data/fclass_2022_060708_coeffs.parquet",
                 "engine/archive/samples/ztf_lake_2021-11-22_fink1.3.parquet",
                 "app_pages/query.py", "app_pages/.streamlit/config.toml"):
        assert (installed_wheel.site / data).is_file(), data
    assert not (installed_wheel.site / "tests").exists()


def test_fink_datatransfer_runs_from_the_wheel(installed_wheel):
    proc = _run(installed_wheel, "fink_datatransfer", "--help")
    assert proc.returncode == 0 and "-topic" in proc.stdout, proc.stderr


def test_archive_build_has_the_real_samples_and_the_app_serves(installed_wheel, broker):
    from kafka_io.broker import free_port

    out = installed_wheel.cwd / "archive_ztf"
    proc = _run(installed_wheel, "fink-transfer", "archive", "build", "--survey", "ztf", "--start", "2021-11-22",
                "--nights", "1", "--alerts-per-night", "30", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    built = set(reader.read_table(out, reader.list_nights(out)).column("candid").to_pylist())
    real = set(pq.read_table(ROOT / "engine" / "archive" / "samples" / "ztf_lake_2021-11-22_fink1.3.parquet",
                             columns=["candid"]).column("candid").to_pylist())
    assert real and real <= built  # the real 2021-11-22 lake alerts were added from the installed samples

    port = free_port()
    env = dict(installed_wheel.env, FINK_TRANSFER_KAFKA__BOOTSTRAP_SERVERS=broker.bootstrap_servers,
               FINK_TRANSFER_ARCHIVES__ZTF=str(out))
    log_path = installed_wheel.cwd / "app.log"
    with open(log_path, "wb") as log:
        app = subprocess.Popen([str(installed_wheel.bin / "fink-transfer"), "app", "--port", str(port), "--no-demo"],
                               cwd=installed_wheel.cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        wait_for_health(port, app, log_path, timeout=120)
    finally:
        kill_tree(app.pid)
        app.wait(15)
