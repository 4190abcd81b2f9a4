"""End to end: `streamlit run` headless + real headless Chromium through the whole user journey.

Choose nights, a class and a condition, watch the estimate change, submit a test job, watch it
finish on Monitor, download it on Download, see the Explore charts. Screenshots of each page go
to ``$FINK_TRANSFER_SCREENSHOTS`` (default ``test-output/screenshots/``, gitignored).

Needs Debian's ``chromium`` (``apt-get install -y chromium``); ``playwright install`` is not used.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.helpers import (LSST_NIGHTS, LSST_PER_NIGHT, LSST_START, ROOT, ZTF_NIGHTS, ZTF_PER_NIGHT, ZTF_START,
                           app_environment, ensure_archive, kill_tree, wait_for_health)

SHOTS = Path(os.environ.get("FINK_TRANSFER_SCREENSHOTS", ROOT / "test-output" / "screenshots"))


@pytest.fixture
def app_server(settings_env, tmp_path):
    """The real app served by `streamlit run` (the command `fink-transfer app` runs) on a free port."""
    from cli.app_cmd import streamlit_command
    from kafka_io.broker import free_port

    ensure_archive(settings_env, "ztf", ZTF_START, ZTF_NIGHTS, ZTF_PER_NIGHT)
    ensure_archive(settings_env, "lsst", LSST_START, LSST_NIGHTS, LSST_PER_NIGHT)
    env = dict(os.environ)
    env.update(app_environment(settings_env.data_dir, settings_env.bootstrap_servers))
    port = free_port()
    log_path = tmp_path / "streamlit.log"
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


def test_user_journey(app_server, chromium_page, settings_env):
    from engine.archive.reader import list_nights

    pg = chromium_page
    nights = list_nights(settings_env.archive_dir("ztf"))
    pg.goto(app_server)
    wait_for_app_run(pg)
    pg.get_by_text("Define your query").first.wait_for()
    before = as_int(metric_value(pg, "Alerts"))

    # nights: the whole archive, typed into the range field
    type_date(pg, "start", nights[0])
    type_date(pg, "end", nights[-1])
    pg.get_by_text("Define your query").first.click()  # leave the field: the value is committed
    wait_for_app_run(pg)
    all_nights = as_int(metric_value(pg, "Alerts"))
    assert all_nights > before

    # a class: the most frequent Fink class of the estimate
    fink = pg.locator("[data-testid='stMultiSelect']").filter(has_text="Fink").first
    fink.click()
    pg.keyboard.type("Unknown")
    pg.keyboard.press("Enter")
    pg.keyboard.press("Escape")
    wait_for_app_run(pg)
    with_class = as_int(metric_value(pg, "Alerts"))
    assert 0 < with_class < all_nights

    # a condition, validated as typed
    area = pg.get_by_role("textbox", name="One SQL condition per line (all must hold)")
    area.fill("candidate.magpsf < 25")
    area.press("Control+Enter")
    wait_for_app_run(pg)
    pg.get_by_text("condition(s) valid").wait_for()
    shot(pg, "1-query")

    # test job
    pg.get_by_role("button", name="Test job (a few alerts)").click()
    wait_for_app_run(pg)
    pg.get_by_text("Your topic name is").wait_for()
    topic = re.search(r"ftransfer_ztf_\S+", pg.locator("[data-testid='stAlert']").filter(
        has_text="Your topic name is").inner_text()).group(0).strip("`.")
    shot(pg, "2-submitted")

    # monitor until done
    pg.get_by_role("link", name="Monitor this job").click()
    wait_for_app_run(pg)
    pg.get_by_text("Download this topic").wait_for(timeout=180_000)
    wait_for_app_run(pg)
    shot(pg, "3-monitor")

    # download in the app
    pg.get_by_role("link", name="Download this topic").click()
    wait_for_app_run(pg)
    pg.get_by_role("button", name=re.compile("Start download|Resume download")).click()
    wait_for_app_run(pg)
    pg.get_by_text("Complete: every alert of the manifest is on disk.").wait_for(timeout=180_000)
    wait_for_app_run(pg)
    assert as_int(metric_value(pg, "Alerts written")) > 0
    shot(pg, "4-download")

    # explore
    pg.get_by_role("link", name="Explore the downloaded alerts").click()
    wait_for_app_run(pg)
    pg.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 4", timeout=60_000)
    pg.wait_for_timeout(800)  # let plotly finish drawing before the picture
    assert as_int(metric_value(pg, "Alerts")) > 0
    assert not pg.locator("[data-testid='stException']").count()
    shot(pg, "5-explore")
    assert topic.startswith("ftransfer_ztf_")


def test_lsst_query_with_custom_fields_from_an_uploaded_configuration(app_server, chromium_page, settings_env,
                                                                     tmp_path):
    """Rubin/LSST: a YAML configuration fills the form (custom field list, a block with NOT, a
    condition), the estimate follows, a test job publishes, the in-app download gets it."""
    import pyarrow.dataset as ds

    pg = chromium_page
    spec = tmp_path / "lsst.yml"
    spec.write_text(f"survey: lsst\nstart: '{LSST_START}'\nstop: '2026-03-07'\n"
                    "conditions: ['diaSource.psfFlux > 2000']\nfilters: ['NOT b_is_solar_system']\n"
                    "fields: [diaSource.psfFlux, xm]\n")
    pg.goto(app_server)
    wait_for_app_run(pg)
    pg.get_by_text("Load a configuration (YAML)").click()
    pg.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(spec))
    wait_for_app_run(pg)
    pg.get_by_text("Loaded lsst.yml").wait_for()
    fields = pg.locator("[data-testid='stMultiSelect']").filter(has_text="Fields or whole sections").first
    filters = pg.locator("[data-testid='stMultiSelect']").filter(has_text="Fink filters and blocks").first
    assert "diaSource.psfFlux" in fields.inner_text() and "NOT b_is_solar_system" in filters.inner_text()
    with_block = as_int(metric_value(pg, "Alerts"))
    assert with_block > 0
    # one more field, picked by hand: the estimate's volume grows
    volume = metric_value(pg, "Volume")
    fields.locator("input").click()
    pg.keyboard.type("prvDiaSources")
    pg.keyboard.press("Enter")
    pg.keyboard.press("Escape")
    wait_for_app_run(pg)
    assert "prvDiaSources" in fields.inner_text()
    assert metric_value(pg, "Volume") != volume
    shot(pg, "lsst-1-query-custom-fields")
    fields.screenshot(path=str(SHOTS / "lsst-widget-fields.png"))
    filters.screenshot(path=str(SHOTS / "lsst-widget-filters.png"))

    pg.get_by_role("button", name="Test job (a few alerts)").click()
    wait_for_app_run(pg)
    pg.get_by_text("Your topic name is").wait_for()
    shot(pg, "lsst-2-submitted")
    pg.get_by_role("link", name="Monitor this job").click()
    wait_for_app_run(pg)
    pg.get_by_text("Download this topic").wait_for(timeout=180_000)
    pg.get_by_role("link", name="Download this topic").click()
    wait_for_app_run(pg)
    outdir = pg.get_by_role("textbox", name="Output folder").input_value()
    pg.get_by_role("button", name=re.compile("Start download|Resume download")).click()
    wait_for_app_run(pg)
    pg.get_by_text("Complete: every alert of the manifest is on disk.").wait_for(timeout=180_000)
    wait_for_app_run(pg)
    shot(pg, "lsst-3-download")
    table = ds.dataset(outdir, format="parquet", partitioning="hive").to_table()
    assert 0 < table.num_rows <= 10
    assert {"psfFlux", "xm", "prvDiaSources", "midpointMjdTai"} <= set(table.column_names)
    assert "diaSource" not in table.column_names
