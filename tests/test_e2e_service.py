"""Service mode end to end: the real app (`streamlit run`) on a SCRAM broker, two users in Chromium.

alice owns a job; bob, logged in, sees neither it nor its topic on Monitor and Download, cannot
download it through a crafted URL, and the broker refuses it to his own client; alice shares it
from Monitor; then bob sees it, downloads it into his own space (a folder outside is refused),
and his client reads it.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd

from kafka_io.sasl_proxy import SaslProxy
from tests.helpers import ROOT, finkctl_transfer_as, shot, wait_for_app_run

SPEC = {"survey": "ztf", "start": "2021-11-22", "stop": "2021-11-23", "content": "lightcurve"}


def login(pg, url, name, password):
    pg.goto(url)
    wait_for_app_run(pg)
    pg.get_by_role("textbox", name="User name").fill(name)
    pg.get_by_role("textbox", name="Password", exact=True).fill(password)
    pg.get_by_role("button", name="Log in").click()
    wait_for_app_run(pg)


def go(pg, title):
    pg.get_by_role("link", name=title, exact=True).click()
    wait_for_app_run(pg)


def bob_client_download(tmp_path, servers, topic, outdir):
    """bob's own client: the credentials file fink_client_register writes, then a download."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINK_TRANSFER_KAFKA__SASL")
           and k != "FINK_TRANSFER_KAFKA__SECURITY_PROTOCOL"}
    env["HOME"] = str(tmp_path / "home-bob")
    subprocess.run([sys.executable, "-m", "cli.register", "-username", "bob", "-password", "bob-password",
                    "-group_id", "bob.transfer", "-servers", servers], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=60)
    return subprocess.run([sys.executable, "-m", "cli", "download", "-topic", topic, "-outdir", str(outdir),
                           "-nconsumers", "2", "-maxtimeout", "5"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=180)


def bob_finkctl(topic, servers, outdir, group="bob.finkctl"):
    """The unmodified `finkctl transfer` as bob, through his SCRAM proxy (`fink-transfer kafka-proxy`)."""
    proxy = SaslProxy(servers, "bob", "bob-password")
    try:
        proxy.check()
        return finkctl_transfer_as(topic, "bob", "bob-password", group, proxy.bootstrap_servers, outdir)
    finally:
        proxy.stop()


def test_two_users_isolation_and_sharing_in_chromium(service_mode_env, service_app, chromium_page, scram_broker, tmp_path):
    from engine.accounts import create_account
    from engine.job.launcher import submit_job, wait_job
    from engine.job.store import load_job

    alice = create_account(service_mode_env, "alice", "alice-password")
    create_account(service_mode_env, "bob", "bob-password")
    _plan, rec = submit_job(service_mode_env, SPEC, test=True, user=alice)
    rec = wait_job(service_mode_env, rec.job_id, timeout=180)
    assert rec.state == "done", rec.error
    pg, url = chromium_page, service_app

    # login first: no page before it, a wrong password is refused
    pg.goto(url)
    wait_for_app_run(pg)
    assert pg.get_by_role("link", name="Monitor", exact=True).count() == 0
    login(pg, url, "bob", "not-his-password")
    pg.get_by_text("Unknown user or wrong password.").wait_for()

    # bob sees nothing of alice's
    login(pg, url, "bob", "bob-password")
    go(pg, "Monitor")
    pg.get_by_text("No job yet").wait_for()
    pg.get_by_text("No transfer topic on the broker.").wait_for()
    assert rec.job_id not in pg.content() and rec.topic not in pg.content()
    shot(pg, "service-bob-monitor-before")
    go(pg, "Download")
    pg.get_by_text("No topic to download yet").wait_for()
    # a crafted link naming alice's topic is refused
    login(pg, f"{url}/download?topic={rec.topic}", "bob", "bob-password")
    pg.get_by_text("is not yours and was not shared with you").first.wait_for()
    # and the broker refuses it to bob's own client
    r = bob_client_download(tmp_path, scram_broker.bootstrap_servers, rec.topic, tmp_path / "bob-before")
    assert r.returncode == 2 and "not authorized" in r.stderr, r.stderr
    r = bob_finkctl(rec.topic, scram_broker.bootstrap_servers, tmp_path / "finkctl-before")
    assert r.returncode != 0 and "TOPIC_AUTHORIZATION_FAILED" in r.stderr, r.stderr[-800:]

    # alice shares it from Monitor
    login(pg, url, "alice", "alice-password")
    go(pg, "Monitor")
    pg.locator("code", has_text=rec.topic).first.wait_for()  # the job panel's heading
    shot(pg, "service-alice-monitor")
    pg.locator("[data-testid='stSelectbox']").filter(has_text="Share this topic with").click()
    pg.get_by_role("option", name="bob").click()
    wait_for_app_run(pg)
    pg.get_by_role("button", name="Share", exact=True).click()
    wait_for_app_run(pg)
    pg.get_by_text("Shared with: bob").first.wait_for(timeout=30_000)
    assert load_job(service_mode_env, rec.job_id).shared_with == ["bob"]

    # now bob sees it and downloads it, into his own space only
    login(pg, url, "bob", "bob-password")
    go(pg, "Monitor")
    pg.locator("code", has_text=rec.topic).first.wait_for()  # the job panel's heading
    assert pg.get_by_role("button", name="Share", exact=True).count() == 0  # not his to share
    go(pg, "Download")
    box = pg.get_by_role("textbox", name="Output folder")
    default = box.input_value()
    assert default.startswith(str(service_mode_env.users_dir / "bob")), default
    box.fill("/tmp/elsewhere")
    box.press("Enter")
    wait_for_app_run(pg)
    pg.get_by_role("button", name="Start download").click()
    wait_for_app_run(pg)
    pg.get_by_text("is refused: use a folder inside your space").first.wait_for()
    box.fill(default)
    box.press("Enter")
    wait_for_app_run(pg)
    pg.get_by_role("button", name="Start download").click()
    wait_for_app_run(pg)
    pg.get_by_text("Complete: every alert of the manifest is on disk.").wait_for(timeout=180_000)
    shot(pg, "service-bob-download-after-share")
    assert list((service_mode_env.users_dir / "bob").rglob("*.parquet"))
    assert not os.path.exists("/tmp/elsewhere")
    r = bob_client_download(tmp_path, scram_broker.bootstrap_servers, rec.topic, tmp_path / "bob-after")
    assert r.returncode == 0, r.stderr
    for attempt in range(2):  # finkctl exits at once when its first offset read sees no lag
        out = tmp_path / f"finkctl-after-{attempt}"
        r = bob_finkctl(rec.topic, scram_broker.bootstrap_servers, out, group=f"bob.finkctl{attempt}")
        assert r.returncode == 0, r.stderr[-800:]
        if out.exists():
            break
    assert len(pd.read_parquet(out)) == 10
