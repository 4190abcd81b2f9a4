"""Shared pieces of the app tests: a small real archive per module and helpers to drive AppTest.

Imported by tests/test_app_*.py and tests/test_e2e_browser.py (fixtures are re-exported there).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "streamlit_app.py"

# Small archives: ZTF nights straddle 2021 -> 2022 (two schema periods), ELASTICC a few nights.
ZTF_START, ZTF_NIGHTS, ZTF_PER_NIGHT = "2021-12-29", 5, 150
ELASTICC_START, ELASTICC_NIGHTS, ELASTICC_PER_NIGHT = "2023-11-27", 3, 60


def build_archive(settings, survey: str, start: str, nights: int, per_night: int) -> Path:
    """A synthetic archive with its statistics index, made by the project's own generator."""
    import datetime as dt

    from engine.archive.generator import build_archive as generate

    out = Path(settings.archive_dir(survey))
    if not (out / "_stats" / "index.parquet").is_file():
        generate(survey, dt.date.fromisoformat(start), nights, per_night, out, progress=False)
    return out


def app_environment(data_dir: Path, bootstrap: str) -> dict[str, str]:
    """Environment variables the app (and the jobs/downloads it starts) run with in tests."""
    return {
        "FINK_TRANSFER_DATA_DIR": str(data_dir),
        "FINK_TRANSFER_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "FINK_TRANSFER_KAFKA__SCHEMA_COPIES": "10",
        # Small selections take the single-machine path (a Spark start costs ~20 s on 2 cores).
        "FINK_TRANSFER_JOBS__SMALL_JOB_THRESHOLD": "1000000",
    }


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
    build_archive(settings, "ztf", ZTF_START, ZTF_NIGHTS, ZTF_PER_NIGHT)
    build_archive(settings, "elasticc", ELASTICC_START, ELASTICC_NIGHTS, ELASTICC_PER_NIGHT)
    yield settings
    mp.undo()


def new_app(timeout: float = 60):
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(APP), default_timeout=timeout)


def assert_clean(at) -> None:
    """No exception element and no error box on the page."""
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def metric(at, label: str) -> str:
    for m in at.metric:
        if m.label == label:
            return m.value
    raise AssertionError(f"no metric {label!r}: {[m.label for m in at.metric]}")


def rerun_until(at, predicate, timeout: float = 120, every: float = 0.5):
    """Rerun the page (as the polling fragment would) until ``predicate(at)`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        at.run()
        if predicate(at):
            return at
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached; page text: "
                                 + " | ".join(m.value for m in at.markdown)[:2000])
        time.sleep(every)


def kill_tree(pid: int) -> None:
    import signal

    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass
