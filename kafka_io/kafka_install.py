"""Fetch the embedded Apache Kafka broker's jars once, with Maven, into a local cache.

Why Maven: Kafka's jars and their dependency tree are published on Maven Central, and
``mvn dependency:copy-dependencies`` on a fixed ``pom.xml`` (``kafka_io/kafka_dist/pom.xml``, which
pins the version) is the standard resolver: checksums, transitive versions and a local
repository cache come for free. Nothing is downloaded at run time: the broker refuses to start
without the cache and says which command fills it (``fink-transfer broker install``, run by
``scripts/setup.sh``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path

from engine.errors import UserError

DIST = resources.files("kafka_io").joinpath("kafka_dist")


def kafka_version() -> str:
    """The pinned Apache Kafka version (from the pom, the one place it is written)."""
    m = re.search(r"<kafka.version>([^<]+)</kafka.version>", DIST.joinpath("pom.xml").read_text())
    return m.group(1)


def default_libs_dir() -> Path:
    """``<checkout>/.cache/kafka-<version>`` in a source checkout, else the user's cache folder."""
    here = Path(__file__).resolve().parents[1]
    base = here / ".cache" if (here / "pyproject.toml").is_file() else Path.home() / ".cache" / "fink-transfer"
    return base / f"kafka-{kafka_version()}"


def libs_dir(explicit: str | os.PathLike = "") -> Path:
    return Path(explicit).expanduser() if explicit else default_libs_dir()


def installed(directory: Path) -> bool:
    return (directory / ".complete").is_file() and any(directory.glob("kafka_2.13-*.jar"))


def require_installed(explicit: str | os.PathLike = "") -> Path:
    directory = libs_dir(explicit)
    if not installed(directory):
        raise UserError(f"Apache Kafka {kafka_version()} is not installed in {directory}: "
                        f"run 'fink-transfer broker install' (or bash scripts/setup.sh) once")
    return directory


def java_binary() -> str:
    found = shutil.which("java")
    if not found:
        raise UserError("Java (17+) is needed for the embedded Kafka broker: "
                        "apt-get install openjdk-17-jre-headless (scripts/setup.sh does it)")
    return found


def install(explicit: str | os.PathLike = "", quiet: bool = True) -> Path:
    """Resolve the pinned Kafka jars with Maven into the cache; a no-op when already there."""
    directory = libs_dir(explicit)
    if installed(directory):
        return directory
    mvn = shutil.which("mvn")
    if not mvn:
        raise UserError("Maven is needed once to fetch Apache Kafka: apt-get install maven "
                        "(scripts/setup.sh does it)")
    directory.mkdir(parents=True, exist_ok=True)
    staging = directory.with_name(directory.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    with resources.as_file(DIST.joinpath("pom.xml")) as pom:
        cmd = [mvn, "-B", "-f", str(pom), "dependency:copy-dependencies", "-DincludeScope=runtime",
               f"-DoutputDirectory={staging}"] + (["-q"] if quiet else [])
        proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "ERROR" in ln]
        raise UserError(f"Maven could not fetch Apache Kafka {kafka_version()}: "
                        f"{lines[0] if lines else 'exit code %d' % proc.returncode}")
    for jar in staging.glob("*.jar"):
        os.replace(jar, directory / jar.name)
    shutil.rmtree(staging, ignore_errors=True)
    (directory / ".complete").write_text(kafka_version() + "\n")
    return directory


def log4j_config() -> Path:
    """Path of the packaged log4j2 configuration (a real file: the JVM reads it by name)."""
    return Path(str(DIST.joinpath("log4j2.yaml")))
