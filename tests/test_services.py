"""The app's service layer converts errors; the library pieces it used to hold work on their own."""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.errors import UserError


def test_any_library_failure_reaches_the_page_as_one_line():
    from components.services import user_errors

    @user_errors
    def broken():
        raise OSError("disk\nfull")

    @user_errors
    def refused():
        raise UserError("bad night range")

    with pytest.raises(UserError) as info:
        broken()
    assert str(info.value) == "OSError: disk full" and isinstance(info.value.__cause__, OSError)
    with pytest.raises(UserError, match="^bad night range$"):
        refused()


def test_leaf_fields_walk_nested_structs():
    from engine.schemas import leaf_fields

    schema = pa.schema([("candid", pa.int64()), ("candidate", pa.struct([("magpsf", pa.float32()),
                                                                       ("pos", pa.struct([("ra", pa.float64())]))]))])
    assert leaf_fields(schema) == [("candid", "int64"), ("candidate.magpsf", "float"), ("candidate.pos.ra", "double")]


def test_parquet_folders_newest_first_and_download_view_absent(tmp_path):
    from kafka_io.consumer.status import download_view
    from kafka_io.consumer.writer import folder_mtime, parquet_folders

    for i, name in enumerate(("old", "new")):
        part = tmp_path / name / "parquet" / "finkclass=Unknown"
        part.mkdir(parents=True)
        pq.write_table(pa.table({"x": [i]}), part / "p.parquet")
        os.utime(part / "p.parquet", (1000 + i, 1000 + i))
    (tmp_path / "empty").mkdir()
    assert parquet_folders(tmp_path) == [tmp_path / "new", tmp_path / "old"]
    assert folder_mtime(tmp_path / "old") == 1000
    assert download_view(tmp_path / "empty") is None
