"""Spark cluster helpers: a LOCAL standalone master + worker, and what a real cluster needs.

* :class:`LocalCluster` starts ``org.apache.spark.deploy.master.Master`` and ``...worker.Worker``
  from pyspark's own jars on loopback with free ports (spark.md 5.1), the master's REST
  submission server **off** (it is on by default in 4.3 and accepts unauthenticated
  submissions). Tests use it; users can too (``fink-transfer submit --master spark://...``).
* :func:`project_zip` packs the project's Python packages (``engine``, ``kafka_io``) into one
  zip; the Spark job sends it as ``spark.archives=<zip>#fink_transfer_py`` (unpacked on each
  executor, found through ``spark.executorEnv.PYTHONPATH``) whenever the master is not
  ``local`` - not ``--py-files``, because the schema ``.avsc`` files must be real files. Third-party dependencies (pyarrow, duckdb, confluent-kafka, ...)
  must exist on the executors: same venv path on every node, or a venv-pack archive via
  ``--archives env.tar.gz#environment`` (docs/cluster.md).
* :func:`spark_submit_command` is the client-mode command for a real cluster (cluster deploy
  mode is refused for Python on standalone).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

PACKAGES = ("engine", "kafka_io")


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def project_zip(cache_dir: str | os.PathLike) -> Path:
    """``<cache_dir>/fink_transfer_py.zip`` with the engine and kafka_io packages (rebuilt if stale)."""
    import importlib

    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    roots = [Path(importlib.import_module(p).__file__).resolve().parent for p in PACKAGES]
    files = [(f, f.relative_to(root.parent)) for root in roots for f in sorted(root.rglob("*"))
             if f.is_file() and "__pycache__" not in f.parts and f.suffix not in (".pyc", ".pyo")]
    newest = max(f.stat().st_mtime for f, _ in files)
    target = cache / "fink_transfer_py.zip"
    if target.exists() and target.stat().st_mtime >= newest:
        return target
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, arc in files:
            zf.write(path, arc.as_posix())
    os.replace(tmp, target)
    return target


def spark_submit_command(master: str, job_id: str, py_zip: str, archive: str | None = None,
                         driver_python: str | None = None) -> list[str]:
    """The client-mode spark-submit of a recorded job on a real cluster (documented in docs/cluster.md)."""
    archives = [f"{py_zip}#fink_transfer_py"] + ([f"{archive}#environment"] if archive else [])
    cmd = [str(spark_home() / "bin" / "spark-submit"), "--master", master, "--deploy-mode", "client",
           "--archives", ",".join(archives), "--conf", "spark.executorEnv.PYTHONPATH=fink_transfer_py",
           "--conf", "spark.ui.showConsoleProgress=false"]
    if archive:
        cmd += ["--conf", "spark.pyspark.python=./environment/bin/python"]
    cmd += ["--conf", f"spark.pyspark.driver.python={driver_python or sys.executable}"]
    cmd += [str(Path(__file__).resolve().parent / "submit_entry.py"), job_id]
    return cmd


def _free_port() -> int:
    from kafka_io.broker import free_port

    return free_port("127.0.0.1")


@dataclass
class LocalCluster:
    """A standalone master + one worker on 127.0.0.1, owned by this process."""

    work_dir: Path
    cores: int = 2
    memory: str = "2g"
    python: str = sys.executable
    master_port: int = 0
    procs: list = field(default_factory=list)

    @property
    def master_url(self) -> str:
        return f"spark://127.0.0.1:{self.master_port}"

    def _env(self) -> dict:
        env = dict(os.environ)
        env.update({
            "SPARK_HOME": str(spark_home()),
            "SPARK_LOCAL_IP": "127.0.0.1",
            "SPARK_LOG_DIR": str(self.work_dir / "logs"),
            "SPARK_WORKER_DIR": str(self.work_dir / "work"),
            "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false",
            "PYSPARK_PYTHON": self.python,
        })
        return env

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.work_dir / "logs" / f"{name}.log", "ab")
        try:
            proc = subprocess.Popen([str(spark_home() / "bin" / "spark-class"), *args], stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self._env(),
                                    start_new_session=True, cwd=str(self.work_dir))
        finally:
            log.close()
        self.procs.append(proc)
        return proc

    def _wait_for(self, name: str, text: str, proc: subprocess.Popen, timeout: float) -> None:
        path = self.work_dir / "logs" / f"{name}.log"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in path.read_text(errors="replace"):
                return
            if proc.poll() is not None:
                break
            time.sleep(0.2)
        tail = path.read_text(errors="replace").strip().splitlines()[-3:]
        self.stop()
        raise RuntimeError(f"Spark {name} did not start: {' | '.join(tail)}")

    def start(self, timeout: float = 60.0) -> "LocalCluster":
        for sub in ("logs", "work"):
            (self.work_dir / sub).mkdir(parents=True, exist_ok=True)
        self.master_port = self.master_port or _free_port()
        master = self._spawn("master", ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                                        "--port", str(self.master_port), "--webui-port", str(_free_port())])
        self._wait_for("master", "I have been elected leader", master, timeout)
        worker = self._spawn("worker", ["org.apache.spark.deploy.worker.Worker", self.master_url,
                                        "--host", "127.0.0.1", "--port", str(_free_port()),
                                        "--webui-port", str(_free_port()), "--cores", str(self.cores),
                                        "--memory", self.memory])
        self._wait_for("worker", "Successfully registered with master", worker, timeout)
        return self

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        self.procs.clear()

    def __enter__(self) -> "LocalCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
