"""Class data sharing (AppCDS) for the JVM of a ``local[*]`` Spark job: its start-up, halved.

Why: a Spark job's JVM loads and verifies ~15 000 classes before the first row is read; on the
cross-match bench (1M alerts, 2 cores) that cold start was 10.6 s of a 22 s job (session 5.8 s,
first read 3.5 s, join planning 1.4 s; warm: 1.1 s). With the classes of an earlier job mapped
from an archive (JDK 13+ dynamic CDS, ``-XX:SharedArchiveFile``) the same steps take 5.8 s
(docs/benchmarks.md, "JVM class data sharing").

How: the first local job of a given JVM + Spark + options records its classes
(``-XX:ArchiveClassesAtExit``) into a temporary file; when the job ends, :func:`finish_recording`
shuts its JVM down (the archive is written at exit) and renames the file into place only if the
JVM exited cleanly, because a truncated archive makes the JVM die with SIGBUS. Later jobs map
it. The key covers the java binary, the Spark jars and the JVM options, so an upgrade records a
new archive (and removes the old ones) instead of feeding the JVM one it would refuse.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

SUFFIX = ".jsa"


def archive_dir(settings) -> Path | None:
    """Where archives live (shared by every data dir of the user), or None when sharing is off."""
    if not settings.spark.class_sharing:
        return None
    if settings.spark.class_archive_dir:
        return Path(settings.spark.class_archive_dir).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "fink-transfer" / "jvm-classes"


def _java_binary() -> Path | None:
    home = os.environ.get("JAVA_HOME")
    found = Path(home) / "bin" / "java" if home else shutil.which("java")
    return Path(found).resolve() if found and Path(found).exists() else None


def archive_key(jvm_options: str) -> str | None:
    """A digest of what an archive is valid for: java, the Spark jars, the JVM options."""
    import pyspark

    java = _java_binary()
    if java is None:
        return None
    jars = Path(pyspark.__file__).parent / "jars"
    parts = [str(java), str(java.stat().st_mtime_ns), pyspark.__version__, jvm_options]
    parts += sorted(f"{p.name}:{p.stat().st_size}" for p in jars.glob("*.jar"))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]


def sharing_options(settings, jvm_options: str) -> tuple[str, Path | None]:
    """(JVM options to add, temporary archive being recorded or None).

    The archive of this key when it exists, else a recording into a file of this process, unless
    a live process records already (one recorder at a time: a job started while the first one's
    JVM still wrote the archive recorded as well, and paid for it); a folder that cannot be
    written means no sharing (the job runs as before).
    """
    folder = archive_dir(settings)
    key = archive_key(jvm_options) if folder is not None else None
    if key is None:
        return "", None
    final = folder / f"{key}{SUFFIX}"
    if final.is_file():
        # ErrorFile: if the archive is damaged the JVM dies (SIGBUS); its crash report goes here,
        # not into the job's working directory.
        return (f"-XX:SharedArchiveFile={final} -Xshare:auto -Xlog:cds=off -Xlog:cds+dynamic=off "
                f"-XX:ErrorFile={folder / 'hs_err_pid%p.log'}"), None
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return "", None
    if not os.access(folder, os.W_OK):
        return "", None
    _forget_abandoned(folder)
    if any(folder.glob(f"{key}.*.recording")):  # another job records (or its JVM still writes)
        return "", None
    recording = folder / f"{key}.{os.getpid()}.recording"
    return f"-XX:ArchiveClassesAtExit={recording} -Xlog:cds=off -Xlog:cds+dynamic=off", recording


def forget_archive(settings, jvm_options: str) -> None:
    """Delete the archive of this key (the JVM could not start with it); the next job records anew."""
    folder, key = archive_dir(settings), archive_key(jvm_options)
    if folder is not None and key is not None:
        (folder / f"{key}{SUFFIX}").unlink(missing_ok=True)


def _forget_abandoned(folder: Path) -> None:
    """Recordings of processes that are gone (a killed job) are never complete: delete them."""
    for stale in folder.glob("*.recording"):
        try:
            os.kill(int(stale.name.split(".")[1]), 0)
        except (ValueError, IndexError, ProcessLookupError):
            stale.unlink(missing_ok=True)
        except PermissionError:  # another user's live process
            pass


def finish_recording(recording: Path, timeout: float = 120.0) -> bool:
    """End the stopped session's JVM (it writes the archive as it exits) and put the archive in
    place if the JVM exited cleanly; older archives of other keys go. True when one was kept."""
    from pyspark import SparkContext

    gateway = SparkContext._gateway
    proc = getattr(gateway, "proc", None)
    clean = False
    if gateway is not None and proc is not None:
        try:
            gateway.shutdown()
        except Exception:  # noqa: BLE001 - the JVM is going away anyway
            pass
        SparkContext._gateway = SparkContext._jvm = None
        try:
            proc.stdin.close()  # PythonGatewayServer exits on EOF: System.exit(0) dumps the archive
            clean = proc.wait(timeout=timeout) == 0
        except Exception:  # noqa: BLE001 - a JVM that does not end leaves no archive
            proc.kill()
    final = recording.with_name(recording.name.split(".")[0] + SUFFIX)
    try:
        if clean and recording.is_file() and recording.stat().st_size > 0:
            os.replace(recording, final)
            for old in recording.parent.glob(f"*{SUFFIX}"):
                if old != final:
                    old.unlink(missing_ok=True)
            return True
    except OSError:
        pass
    recording.unlink(missing_ok=True)
    return False
