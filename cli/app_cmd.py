"""``fink-transfer app``: everything a first-time user needs, in one command.

Starts (or finds) the Kafka broker, builds a small demo archive for each registered survey that has none
(ZTF: ``--demo-nights`` nights; ELASTICC: a smaller one), then replaces this process with
``streamlit run`` on the installed ``app_pages/streamlit_app.py``. The data directory is pinned
in the environment, so the app and every job or download it launches use the same folders
whatever their working directory.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from app_pages import app_script
from engine.errors import UserError

from engine import surveys

# First night of each survey's demo archive (declared by the survey).
DEMO_START = {name: surveys.get(name).demo_start for name in surveys.NAMES}


def register(sub) -> None:
    p = sub.add_parser("app", help="start the web app (broker + demo archive if none + Streamlit)")
    p.add_argument("--port", type=int, default=8501, help="port of the web app (default 8501)")
    p.add_argument("--demo-nights", type=int, default=30,
                   help="nights of the demo ZTF archive built when none exists (default 30)")
    p.add_argument("--demo-alerts-per-night", type=int, default=2000,
                   help="alerts per night of the demo ZTF archive (default 2000)")
    p.add_argument("--no-demo", action="store_true", help="never build a demo archive")
    p.set_defaults(func=run)


def has_archive(settings, survey: str) -> bool:
    """True when the survey's archive holds at least one night and its statistics index."""
    from engine.archive.layout import scan_nights

    folder = Path(settings.archive_dir(survey))
    return folder.is_dir() and (folder / "_stats" / "index.parquet").is_file() and bool(scan_nights(folder))


def build_demo_archive(settings, survey: str, nights: int, alerts_per_night: int) -> None:
    """Synthetic archive + statistics index with the project's generator (as ``archive build``)."""
    import datetime as dt

    from engine.archive.generator import build_archive

    out = Path(settings.archive_dir(survey))
    print(f"Building a demo {survey} archive: {nights} nights x {alerts_per_night} alerts in {out} ...",
          flush=True)
    build_archive(survey, dt.date.fromisoformat(DEMO_START[survey]), nights, alerts_per_night, out,
                  progress=True)


def streamlit_command(port: int) -> list[str]:
    """``streamlit run`` on the installed router; theme and the rest come from its .streamlit/config.toml."""
    return [sys.executable, "-m", "streamlit", "run", str(app_script()), "--server.port", str(port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false"]


def run(args) -> int:
    from engine.config import load_settings
    from kafka_io.broker import ensure_broker

    if not 0 < args.port < 65536:
        raise UserError(f"--port must be between 1 and 65535, not {args.port}")
    if args.demo_nights < 1 or args.demo_alerts_per_night < 1:
        raise UserError("--demo-nights and --demo-alerts-per-night must be positive")
    settings = load_settings()
    print(f"Kafka: {ensure_broker(settings)}", flush=True)
    if not args.no_demo:
        plan = {name: surveys.get(name).demo_plan(args.demo_nights, args.demo_alerts_per_night)
                for name in surveys.NAMES}
        for survey, (nights, per_night) in plan.items():
            if not has_archive(settings, survey):
                build_demo_archive(settings, survey, nights, per_night)
    os.environ["FINK_TRANSFER_DATA_DIR"] = str(settings.data_dir)
    cmd = streamlit_command(args.port)
    print(f"Open http://localhost:{args.port}  (Ctrl+C stops the app; "
          f"'fink-transfer broker stop' stops the broker)", flush=True)
    sys.stdout.flush()
    os.execv(cmd[0], cmd)
    return 0  # pragma: no cover - execv does not return
