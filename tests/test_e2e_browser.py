"""End to end: `streamlit run` headless + real headless Chromium through the whole user journey.

Choose nights, a class and a condition, watch the estimate change, submit a test job, watch it
finish on Monitor, download it on Download, see the Explore charts. Screenshots of each page go
to ``$FINK_TRANSFER_SCREENSHOTS`` (default ``test-output/screenshots/``, gitignored).

Needs Debian's ``chromium`` (``apt-get install -y chromium``); ``playwright install`` is not used.
"""

from __future__ import annotations

import re

from tests.helpers import LSST_START, SHOTS, as_int, download_in_app, metric_value, shot, type_date, wait_for_app_run

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

    # monitor until done, then download in the app
    download_in_app(pg, monitor_shot="3-monitor")
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
    pg.get_by_role("region", name=re.compile("Job spec YAML")).get_by_test_id(
        "stFileUploaderDropzoneInput").set_input_files(str(spec))
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
    outdir = download_in_app(pg)
    shot(pg, "lsst-3-download")
    table = ds.dataset(outdir, format="parquet", partitioning="hive").to_table()
    assert 0 < table.num_rows <= 10
    assert {"psfFlux", "xm", "prvDiaSources", "midpointMjdTai"} <= set(table.column_names)
    assert "diaSource" not in table.column_names
