"""The processes the app and the CLI start (jobs, downloads, the broker): spawn, check, stop, reap.

Each is a fresh interpreter in its own session, never a fork of the caller (a forked
Streamlit/JVM/librdkafka process is unsafe); the session makes stopping the whole tree (job,
Spark JVM, Python workers) one ``killpg``. Their output goes to a log file, not a pipe, so a
full pipe can never block them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

# The folder holding engine/ and cli/: the checkout, or site-packages once installed.
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def cli_command(*args: str) -> list[str]:
    """``python -m cli ...`` with this interpreter (the one whose packages we run)."""
    return [sys.executable, "-m", "cli", *args]


def child_env(**extra: str) -> dict[str, str]:
    """The caller's environment plus ``extra``, with the project importable from any folder."""
    env = dict(os.environ, **extra)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    return env


def spawn(cmd: list[str], log_path: str | os.PathLike, **env: str) -> subprocess.Popen:
    """Start ``cmd`` detached (own session, no stdin), stdout and stderr appended to ``log_path``."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=str(PROJECT_ROOT), env=child_env(**env))


def reap(pid: int | None) -> None:
    """Collect ``pid`` if it is our finished child, so it does not linger as a zombie."""
    try:
        os.waitpid(int(pid), os.WNOHANG)
    except (ChildProcessError, ValueError, TypeError, OSError):
        pass


def send_signal(pid: int, sig: int, group: bool = True) -> bool:
    """``sig`` to the process group led by ``pid`` (or to ``pid`` alone); False if it is gone."""
    try:
        if group:
            try:
                os.killpg(pid, sig)  # a spawned process leads its session: pgid == pid
            except PermissionError:
                os.kill(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        return False
    reap(pid)
    return True


def pid_alive(pid: int | None, cmdline_marker: str = "") -> bool:
    """True when ``pid`` runs (zombies count as dead; our own exited children are reaped).

    With ``cmdline_marker``, also require it in the process's command line, so a pid reused by
    an unrelated program after a reboot or a long pause is not taken for ours.
    """
    if not pid:
        return False
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            if fh.read().split(")")[-1].split()[0] == "Z":
                return False
        if cmdline_marker:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                return cmdline_marker.encode() in fh.read()
    except OSError:
        pass
    return True
