"""``scan_nights`` caches night folders by mtime: what changes on disk must still show at once."""

from __future__ import annotations

import datetime as dt
import shutil

from engine.archive import layout


def test_scan_sees_new_filled_and_removed_nights(tmp_path):
    a, b = dt.date(2023, 1, 1), dt.date(2023, 1, 2)
    (layout.night_dir(tmp_path, a)).mkdir(parents=True)
    (layout.night_dir(tmp_path, a) / "part-0.parquet").touch()
    empty = layout.night_dir(tmp_path, b)
    empty.mkdir(parents=True)
    (empty / ".part-0.parquet.tmp").touch()  # a night being built
    assert list(layout.scan_nights(tmp_path)) == [a]
    (empty / ".part-0.parquet.tmp").rename(empty / "part-0.parquet")  # the build finishes
    assert list(layout.scan_nights(tmp_path)) == [a, b]
    shutil.rmtree(layout.night_dir(tmp_path, a))
    assert list(layout.scan_nights(tmp_path)) == [b]
    (empty / "part-0.parquet").unlink()
    assert layout.scan_nights(tmp_path) == {}
