"""``fink-transfer submit`` with a condition that validation must refuse: one line, exit 2, no job.

The three conditions of the issue: one crashed the CLI with a traceback (``isnull()``), two
passed validation and then killed the job (``floor()`` in DuckDB's binder, ``candid * candid``
overflowing INT64). No broker runs here: validation comes before any broker contact.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BASE = ["submit", "--survey", "ztf", "--start", "2021-11-22", "--stop", "2021-11-23", "--engine", "local"]


def _submit(cli_data_dir, condition):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINK_TRANSFER_")}
    env.update(FINK_TRANSFER_DATA_DIR=str(cli_data_dir), PYTHONPATH=str(ROOT),
               # a broker nobody listens on: reaching it would be a bug (validation comes first); a
               # valid condition gets there and waits for it 1 s instead of the default 10 s
               FINK_TRANSFER_KAFKA__BOOTSTRAP_SERVERS="127.0.0.1:9", FINK_TRANSFER_KAFKA__TIMEOUT_S="1")
    return subprocess.run([sys.executable, "-m", "cli", *BASE, "--condition", condition], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)


def test_the_archive_is_where_the_cli_looks(cli_data_dir):
    from engine.config import load_settings

    os.environ["FINK_TRANSFER_DATA_DIR"] = str(cli_data_dir)
    try:
        assert Path(load_settings().archive_dir("ztf")) == cli_data_dir / "archive" / "ztf"
    finally:
        del os.environ["FINK_TRANSFER_DATA_DIR"]


@pytest.mark.parametrize("condition,fragments", [
    ("isnull() < 3", ["isnull()", "expects 1 argument"]),
    ("floor() = 1", ["floor()", "expects 1 argument"]),
    ("size(candid) > 1", ["size()", "an array column", "bigint"]),
    ("objectId > 3", ["'>'", "a string", "a number"]),
])
def test_a_wrong_call_is_one_line_and_exit_2(cli_data_dir, condition, fragments):
    result = _submit(cli_data_dir, condition)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("error: line 1: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert not (cli_data_dir / "jobs").exists() or not any((cli_data_dir / "jobs").iterdir()), "a job was created"


def test_an_overflowing_product_is_valid_and_wraps_like_spark(cli_data_dir):
    """``candid * candid`` is accepted (Spark wraps it); its DuckDB rendering cannot raise any more."""
    from engine.archive import reader
    from engine.conditions import compile_conditions
    from engine.job.pipeline import condition_mask
    from engine.schemas import unified_arrow_schema

    archive = cli_data_dir / "archive" / "ztf"
    c = compile_conditions(["candid * candid > 0"], unified_arrow_schema("ztf"))[0]
    batch = next(reader.read_arrow(archive, reader.list_nights(archive), columns=["candid"]))
    keep = condition_mask(batch, [c.duckdb_sql]).to_pylist()
    wrapped = [((x * x + 2**63) % 2**64 - 2**63) > 0 for x in batch.column(0).to_pylist()]
    assert keep == wrapped and False in wrapped  # some products wrap to negative numbers, as in Spark
    # the broker is down in this test: a valid condition gets past validation and fails on the broker
    result = _submit(cli_data_dir, "candid * candid > 0")
    assert result.returncode == 2 and "line 1" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_section_flags_override_the_spec_key_by_key(tmp_path):
    """--xmatch-radius / --seed alone change that key of the spec's xmatch / dataset section and
    keep the others (before, --xmatch-radius without --xmatch was silently ignored)."""
    import yaml

    from cli.main import build_parser
    from cli.submit_cmd import build_spec

    spec = tmp_path / "job.yaml"
    spec.write_text(yaml.safe_dump({"survey": "ztf", "start": "2021-11-22",
                                    "xmatch": {"path": "cat.csv", "ra": "ra", "dec": "dec", "id": "name",
                                               "radius_arcsec": 2},
                                    "dataset": {"max_per_class": 5, "seed": 1}}))
    args = build_parser().parse_args(["submit", "--spec", str(spec), "--xmatch-radius", "7.5", "--seed", "3"])
    out = build_spec(args)
    assert out["xmatch"] == {"path": "cat.csv", "ra": "ra", "dec": "dec", "id": "name", "radius_arcsec": "7.5"}
    assert out["dataset"] == {"max_per_class": 5, "seed": "3"}
    args = build_parser().parse_args(["submit", "--spec", str(spec)])
    assert build_spec(args)["xmatch"]["radius_arcsec"] == 2
