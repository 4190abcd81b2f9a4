"""End to end in a real browser: upload a CSV catalogue, see the estimate drop, submit, download,
find the catalogue's id column in Explore."""

from __future__ import annotations

import re

from tests.helpers import as_int, download_in_app, metric_value, shot, type_date, wait_for_app_run


def _catalogue(settings, path):
    """20 sources on alert positions of the app's archive (0.5" away), as a CSV with comments."""
    import numpy as np

    from engine.archive.reader import list_nights
    from tests import xmatch_data

    archive = settings.archive_dir("ztf")
    alerts = xmatch_data.alert_positions(archive, list_nights(archive))
    cat = alerts.drop_duplicates("objectId").iloc[:20][["ra", "dec"]].copy()
    cat["dec"] = np.clip(cat["dec"] + 0.5 / 3600, -90, 90)
    cat["name"] = [f"MYTARGET-{i}" for i in range(len(cat))]
    return xmatch_data.write_csv(cat, path)


def test_upload_catalogue_submit_download_explore(app_server, chromium_page, settings_env, tmp_path):
    from engine.archive.reader import list_nights

    pg = chromium_page
    nights = list_nights(settings_env.archive_dir("ztf"))
    csv = _catalogue(settings_env, tmp_path / "targets.csv")
    pg.goto(app_server)
    wait_for_app_run(pg)
    type_date(pg, "start", nights[0])
    type_date(pg, "end", nights[-1])
    pg.get_by_text("Define your query").first.click()
    wait_for_app_run(pg)
    plain = as_int(metric_value(pg, "Alerts"))

    pg.get_by_role("region", name=re.compile("Catalogue: CSV")).get_by_test_id(
        "stFileUploaderDropzoneInput").set_input_files(str(csv))
    wait_for_app_run(pg)
    pg.get_by_text("20 of 1,000,000 rows").wait_for()
    pg.get_by_text("Options applied: catalogue footprint").wait_for()
    matched = as_int(metric_value(pg, "Alerts"))
    assert 0 < matched < plain
    shot(pg, "xmatch-1-query")

    pg.get_by_role("button", name="Submit job").click()
    wait_for_app_run(pg)
    pg.get_by_text("Your topic name is").wait_for()
    download_in_app(pg)
    written = as_int(metric_value(pg, "Alerts written"))
    assert 20 <= written <= matched

    pg.get_by_role("link", name="Explore the downloaded alerts").click()
    wait_for_app_run(pg)
    assert as_int(metric_value(pg, "Alerts")) == written
    pg.get_by_text("Table preview (first 200 alerts)").click()
    wait_for_app_run(pg)
    grid = pg.locator("[data-testid='stDataFrame']").first
    grid.wait_for()
    grid.hover()  # the grid is a canvas: its column menu lists the column names in the DOM
    grid.get_by_role("button", name="Show/hide columns").click()
    pg.get_by_text("xmatch_id", exact=True).first.wait_for(timeout=30_000)
    pg.get_by_text("xmatch_sep_arcsec", exact=True).first.wait_for()
    pg.keyboard.press("Escape")
    import pandas as pd
    frame = pd.concat(pd.read_parquet(p) for p in settings_env.downloads_dir.rglob("*.parquet"))
    assert frame["xmatch_id"].str.startswith("MYTARGET-").all() and (frame["xmatch_sep_arcsec"] <= 2.0).all()
    assert not pg.locator("[data-testid='stException']").count()
    shot(pg, "xmatch-2-explore")
