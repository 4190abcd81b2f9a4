"""`fink-transfer app`: checks the broker, builds demo archives when none exist, serves the app."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request

from tests.helpers import ROOT, app_environment, kill_tree, wait_for_health


def test_app_command_builds_demo_archives_and_serves(settings_env, tmp_path):
    from kafka_io.broker import free_port

    port = free_port()
    env = dict(os.environ)
    env.update(app_environment(settings_env.data_dir, settings_env.bootstrap_servers))
    log_path = tmp_path / "app.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "cli", "app", "--port", str(port), "--demo-nights", "2",
                                 "--demo-alerts-per-night", "40"], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_health(port, proc, log_path, timeout=120)
        for survey in ("ztf", "elasticc", "lsst"):
            assert (settings_env.archive_dir(survey) / "_stats" / "index.parquet").is_file(), survey
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read()
        assert b"<div id=\"root\">" in page or b"streamlit" in page.lower()
    finally:
        kill_tree(proc.pid)
        proc.wait(15)


def test_app_command_refuses_bad_port(settings_env):
    from cli.main import run

    assert run(["app", "--port", "70000"]) == 2
