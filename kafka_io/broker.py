"""Start, check and stop the embedded Apache Kafka broker (KRaft, one combined broker+controller).

The broker is a detached JVM on loopback whose data (topics, committed offsets, KRaft metadata)
lives on disk under ``<data_dir>/broker/kafka-logs``, so stopping it - ``broker stop``, a crash,
a reboot - loses nothing: the next start reopens the same logs, and Kafka itself applies each
topic's ``retention.ms``. Its pid and ports are kept in the same folder, so ``fink-transfer
broker stop`` from another shell (or the app) finds it again; the controller port is chosen once
and kept, because a KRaft node records its own controller endpoint when its storage is formatted.

``security: scram`` turns the client listener into SASL_PLAINTEXT with SCRAM-SHA-512 (what the
official fink-client speaks) and the standard authorizer with deny-by-default ACLs; the service
itself connects as the ``admin`` super user (``kafka_io.acl`` manages users and ACLs). The
controller listener stays PLAINTEXT on loopback, so its principal (ANONYMOUS) is a super user.

:class:`KafkaCluster` starts several such nodes as one KRaft quorum on loopback (tests and
benchmarks of the multi-broker path; production clusters are run by their operators).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from engine.errors import BrokerUnavailable, UserError
from engine.fileio import InDataDir, write_json_atomic, write_text_atomic
from engine.supervisor import pid_alive, send_signal, spawn

MAIN_CLASS = "kafka.Kafka"
SCRAM_MECHANISM = "SCRAM-SHA-512"


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


def auth_failed(err) -> bool:
    """True when a librdkafka error says the credentials were refused (not a network problem)."""
    from confluent_kafka import KafkaError

    code = err.code() if hasattr(err, "code") else None
    return code in (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED)


def check_bootstrap(bootstrap_servers: str, extra_conf: dict | None = None, timeout: float = 5.0) -> None:
    """Raise BrokerUnavailable unless the cluster answers a metadata request in time."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    # log_level 0: librdkafka would print one "Connection refused" line per retry on stderr,
    # drowning the one-line error the CLI promises.
    conf = {"socket.connection.setup.timeout.ms": int(timeout * 1000), "log_level": 0}
    conf.update(extra_conf or {})
    conf["bootstrap.servers"] = bootstrap_servers
    seen: list = []
    conf["error_cb"] = seen.append  # authentication failures arrive here, the call only times out
    client = AdminClient(conf)
    try:
        client.list_topics(timeout=timeout)
    except KafkaException as exc:
        client.poll(0.2)  # serves error_cb
        if auth_failed(exc.args[0] if exc.args else None) or any(auth_failed(e) for e in seen):
            raise BrokerUnavailable(f"Kafka at {bootstrap_servers} refused the credentials: "
                                    f"check the user name and password") from exc
        raise BrokerUnavailable(
            f"Kafka broker at {bootstrap_servers} is not reachable "
            f"(start it with 'fink-transfer broker start' or check kafka.bootstrap_servers)") from exc


def _leaders_known(conf: dict, timeout: float) -> bool:
    """Metadata answers and every partition of every topic has a leader (logs recovered)."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    try:
        md = AdminClient({**conf, "log_level": 0}).list_topics(timeout=timeout)
    except KafkaException:
        return False
    return all(part.leader >= 0 and part.error is None
               for topic in md.topics.values() for part in topic.partitions.values())


def _groups_served(conf: dict, timeout: float) -> bool:
    """The group coordinator answers offset fetches (its internal topic exists and is loaded).

    A fresh broker creates ``__consumer_offsets`` on the first group request and answers
    NOT_COORDINATOR while loading it; the official client's first ``committed()`` does not retry
    that and stops. Asking once here, until it answers, makes the broker ready for it.
    """
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    consumer = Consumer({**conf, "group.id": "fink-transfer-readiness", "log_level": 0})
    try:
        consumer.committed([TopicPartition("fink-transfer-readiness", 0)], timeout=timeout)
        return True
    except KafkaException:
        return False
    finally:
        consumer.close()


@dataclass
class BrokerStatus:
    running: bool
    pid: int | None
    host: str
    port: int
    data_dir: str
    log_file: str
    security: str = "none"

    def describe(self) -> str:
        where = f"data {self.data_dir}, log {self.log_file}"
        if not self.running:
            return f"embedded Kafka broker: stopped (would listen on {self.host}:{self.port}; {where})"
        auth = ", SASL/SCRAM + ACLs" if self.security == "scram" else ""
        return f"embedded Kafka broker: running, pid {self.pid}, {self.host}:{self.port}{auth}; {where}"


class EmbeddedBroker:
    """One Apache Kafka KRaft node (broker and controller) bound to loopback, owned by this project.

    Parameters
    ----------
    data_dir: folder for the Kafka logs, ``server.properties``, the pid file and ``broker.log``.
    port: client port; 0 picks a free one at the first start, kept for the next ones.
    controller_port: KRaft controller port; 0 picks one at the first start (then fixed).
    heap: JVM heap (``-Xmx``/``-Xms``), e.g. ``1g``.
    security: ``none`` (PLAINTEXT) or ``scram`` (SASL_PLAINTEXT SCRAM-SHA-512 + ACL authorizer).
    voters / cluster_id / node_id: set by :class:`KafkaCluster` for a multi-node quorum.
    properties: extra ``server.properties`` entries (strings), applied last.
    """

    def __init__(self, data_dir: str | os.PathLike, host: str = "127.0.0.1", port: int = 29092,
                 controller_port: int = 0, heap: str = "1g", libs: str = "", security: str = "none",
                 admin_user: str = "admin", admin_password: str = "", retention_check_ms: int = 300_000,
                 node_id: int = 1, voters: list[tuple[int, str, int]] | None = None,
                 cluster_id: str | None = None, properties: dict | None = None):
        if security not in ("none", "scram"):
            raise UserError(f"broker.security must be 'none' or 'scram', not {security!r}")
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port
        self.controller_port = controller_port
        self.heap = heap
        self.libs = libs
        self.security = security
        self.admin_user = admin_user
        self._admin_password = admin_password
        self.retention_check_ms = int(retention_check_ms)
        self.node_id = node_id
        self.voters = voters
        self.cluster_id = cluster_id
        self.properties = dict(properties or {})
        self._proc: subprocess.Popen | None = None
        self._restore_ports()

    @classmethod
    def from_settings(cls, settings) -> "EmbeddedBroker":
        b = settings.broker
        return cls(settings.broker_dir, b.host, b.port, b.controller_port, b.heap, b.kafka_libs, b.security,
                   b.admin_user, b.admin_password, b.retention_check_ms, properties=dict(b.properties or {}))

    # -- files -------------------------------------------------------------------------------
    state_file = InDataDir("broker.json")
    node_file = InDataDir("node.json", "Ports and cluster id chosen at the first start (kept: the quorum remembers them).")
    log_file = InDataDir("broker.log")
    log_dirs = InDataDir("kafka-logs")
    properties_file = InDataDir("server.properties")
    admin_secret_file = InDataDir("admin.secret")

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def admin_password(self) -> str:
        """The service user's password: the configured one, else one generated at first start."""
        if self._admin_password:
            return self._admin_password
        secret = self.admin_secret_file
        if secret.is_file():
            return secret.read_text().strip()
        return ""

    def client_config(self) -> dict:
        """librdkafka settings for the service itself (the super user when SCRAM is on)."""
        conf = {"bootstrap.servers": self.bootstrap_servers}
        if self.security == "scram":
            conf.update({"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": SCRAM_MECHANISM,
                         "sasl.username": self.admin_user, "sasl.password": self.admin_password})
        return conf

    def _restore_ports(self) -> None:
        try:
            node = json.loads(self.node_file.read_text())
        except (OSError, ValueError):
            return
        if not self.port:
            self.port = int(node["port"])
        self.controller_port = int(node["controller_port"])
        self.cluster_id = node.get("cluster_id") or self.cluster_id

    def _read_state(self) -> dict | None:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None

    # -- life cycle ----------------------------------------------------------------------------
    def status(self) -> BrokerStatus:
        state = self._read_state()
        if state and pid_alive(state.get("pid"), cmdline_marker=str(self.properties_file)):
            return BrokerStatus(True, state["pid"], state["host"], state["port"], str(self.log_dirs),
                                str(self.log_file), state.get("security", "none"))
        return BrokerStatus(False, None, self.host, self.port, str(self.log_dirs), str(self.log_file),
                            self.security)

    def start(self, timeout: float = 90.0) -> BrokerStatus:
        """Start the broker unless ours already runs; wait until it answers Kafka requests."""
        current = self.status()
        if current.running:
            self.host, self.port = current.host, current.port
            return current
        self.launch()
        return self.wait_ready(timeout)

    def launch(self) -> None:
        """Format the storage on first use and spawn the JVM (without waiting for it)."""
        from kafka_io.kafka_install import java_binary, log4j_config, require_installed

        libs = require_installed(self.libs)
        java = java_binary()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port(self.host)
        if not self.controller_port:
            self.controller_port = free_port(self.host)
        for port in (self.port, self.controller_port):
            if port_open(self.host, port):
                raise UserError(f"port {self.host}:{port} is already in use by another program; "
                                f"set broker.port / broker.controller_port to free ports")
        if self.security == "scram" and not self.admin_password:
            write_text_atomic(self.admin_secret_file, secrets.token_urlsafe(24))
            os.chmod(self.admin_secret_file, 0o600)
        write_text_atomic(self.properties_file, self._server_properties())
        classpath = f"{libs}/*"
        if not (self.log_dirs / "meta.properties").is_file():
            self._format(java, classpath)
        write_json_atomic(self.node_file, {"port": self.port, "controller_port": self.controller_port,
                                           "cluster_id": self.cluster_id, "node_id": self.node_id})
        cmd = [java, f"-Xmx{self.heap}", f"-Xms{self.heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
               "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
               "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={log4j_config()}",
               f"-Dkafka.logs.dir={self.data_dir}", "-cp", classpath, MAIN_CLASS, str(self.properties_file)]
        self._proc = spawn(cmd, self.log_file)
        write_json_atomic(self.state_file, {"pid": self._proc.pid, "host": self.host, "port": self.port,
                                            "controller_port": self.controller_port, "security": self.security,
                                            "started": time.time()})

    def wait_ready(self, timeout: float = 90.0) -> BrokerStatus:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                self.state_file.unlink(missing_ok=True)
                raise UserError(f"embedded Kafka broker exited at start: {self._last_error_line()} "
                                f"(log {self.log_file})")
            if port_open(self.host, self.port):
                if _leaders_known(self.client_config(), 2.0) and _groups_served(self.client_config(), 2.0):
                    return self.status()
            time.sleep(0.2)
        self.stop()
        raise UserError(f"embedded Kafka broker did not become ready within {timeout:.0f} s (see {self.log_file})")

    def _last_error_line(self) -> str:
        try:
            lines = self.log_file.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no output"
        errors = [ln for ln in lines if " ERROR " in ln or "Exception" in ln]
        return (errors or lines or ["no output"])[-1][:300]

    def _format(self, java: str, classpath: str) -> None:
        """``kafka-storage format`` once: a new cluster id, and the admin SCRAM user when enabled."""
        if not self.cluster_id:
            self.cluster_id = _random_cluster_id()
        cmd = [java, "-Xmx256m", f"-Dlog4j2.configurationFile={_quiet_log4j(self.data_dir)}", "-cp", classpath,
               "kafka.tools.StorageTool", "format", "-t", self.cluster_id, "-c", str(self.properties_file),
               "--ignore-formatted"]
        if not self.voters:
            cmd.append("--standalone")
        if self.security == "scram":
            cmd += ["--add-scram", f"{SCRAM_MECHANISM}=[name={self.admin_user},password={self.admin_password}]"]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=self.data_dir)
        if proc.returncode != 0:
            last = (proc.stderr.strip() or proc.stdout.strip() or f"exit code {proc.returncode}").splitlines()[-1]
            raise UserError(f"could not format the Kafka storage in {self.log_dirs}: {last}")

    def _server_properties(self) -> str:
        scram = self.security == "scram"
        replicas = len(self.voters) if self.voters else 1
        props = {
            "process.roles": "broker,controller",
            "node.id": self.node_id,
            "listeners": f"CLIENT://{self.host}:{self.port},CONTROLLER://{self.host}:{self.controller_port}",
            "advertised.listeners": f"CLIENT://{self.host}:{self.port}",
            "listener.security.protocol.map":
                f"CLIENT:{'SASL_PLAINTEXT' if scram else 'PLAINTEXT'},CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "CLIENT",
            "controller.listener.names": "CONTROLLER",
            "log.dirs": str(self.log_dirs),
            "num.partitions": 1,
            "default.replication.factor": replicas,
            "min.insync.replicas": 2 if replicas >= 3 else 1,
            "offsets.topic.replication.factor": replicas,
            "offsets.topic.num.partitions": 10,          # 50 by default: slow first group use on one node
            "transaction.state.log.num.partitions": 10,
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": 2 if replicas >= 3 else 1,
            "share.coordinator.state.topic.replication.factor": replicas,
            "share.coordinator.state.topic.min.isr": 2 if replicas >= 3 else 1,
            "group.initial.rebalance.delay.ms": 0,
            "auto.create.topics.enable": "false",
            "log.retention.check.interval.ms": self.retention_check_ms,
            "message.max.bytes": 10_485_760,
            "replica.fetch.max.bytes": 10_485_760,
            "num.network.threads": 2,
            "num.io.threads": 4,
        }
        if self.voters:
            props["controller.quorum.voters"] = ",".join(f"{i}@{h}:{p}" for i, h, p in self.voters)
        else:
            props["controller.quorum.bootstrap.servers"] = f"{self.host}:{self.controller_port}"
        if scram:
            props.update({
                "sasl.enabled.mechanisms": SCRAM_MECHANISM,
                "sasl.mechanism.inter.broker.protocol": SCRAM_MECHANISM,
                "listener.name.client.scram-sha-512.sasl.jaas.config":
                    "org.apache.kafka.common.security.scram.ScramLoginModule required "
                    f'username="{self.admin_user}" password="{self.admin_password}";',
                "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                "super.users": f"User:{self.admin_user};User:ANONYMOUS",
                "allow.everyone.if.no.acl.found": "false",
            })
        props.update(self.properties)
        header = "# Written by fink-transfer at each start (kafka_io/broker.py); edit broker.* settings instead.\n"
        return header + "".join(f"{k}={v}\n" for k, v in props.items())

    def pid(self) -> int | None:
        return self.status().pid

    def kill(self) -> None:
        """SIGKILL the JVM (fault tests: a crash, not a shutdown)."""
        pid = self.pid()
        if pid:
            send_signal(pid, signal.SIGKILL)
            _wait_gone(pid, 10)
        self.state_file.unlink(missing_ok=True)

    def stop(self, timeout: float = 30.0) -> bool:
        """Controlled shutdown (SIGTERM, then SIGKILL after ``timeout``); True if it was running."""
        state = self._read_state()
        pid = state.get("pid") if state else None
        running = bool(pid) and pid_alive(pid, cmdline_marker=str(self.properties_file))
        if running:
            send_signal(pid, signal.SIGTERM)
            if not _wait_gone(pid, timeout):
                send_signal(pid, signal.SIGKILL)
                _wait_gone(pid, 10)
        self.state_file.unlink(missing_ok=True)
        self._proc = None
        return running

    def __enter__(self) -> "EmbeddedBroker":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return not pid_alive(pid)


def _random_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (what random-uuid prints)."""
    import base64
    while True:  # like Kafka's Uuid.randomUuid: an id starting with '-' reads as a command-line flag
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def _quiet_log4j(folder: Path) -> Path:
    path = folder / "log4j2-tools.yaml"
    if not path.is_file():
        write_text_atomic(path, "Configuration:\n  Loggers:\n    Root:\n      level: ERROR\n")
    return path


class KafkaCluster:
    """``n`` KRaft nodes (each broker + controller) on loopback forming one cluster.

    Topics default to replication factor ``n`` (3: ``min.insync.replicas=2``), the layout users
    move to when one machine is not enough; clients only change ``bootstrap_servers``.
    """

    def __init__(self, data_dir: str | os.PathLike, nodes: int = 3, heap: str = "512m", host: str = "127.0.0.1",
                 retention_check_ms: int = 300_000):
        data_dir = Path(data_dir)
        ports = [(free_port(host), free_port(host)) for _ in range(nodes)]
        voters = [(i + 1, host, cport) for i, (_, cport) in enumerate(ports)]
        cluster_id = _random_cluster_id()
        self.nodes = [EmbeddedBroker(data_dir / f"node{i + 1}", host, port, cport, heap, node_id=i + 1,
                                     voters=voters, cluster_id=cluster_id, retention_check_ms=retention_check_ms)
                      for i, (port, cport) in enumerate(ports)]

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(n.bootstrap_servers for n in self.nodes)

    def start(self, timeout: float = 120.0) -> "KafkaCluster":
        for node in self.nodes:
            if not node.status().running:
                node.launch()
        for node in self.nodes:
            node.wait_ready(timeout)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM every node at once (a node waiting for a quorum that is shutting down would
        otherwise hold each sequential stop for its whole timeout), then SIGKILL what remains."""
        pids = [n.pid() for n in self.nodes]
        for pid in pids:
            if pid:
                send_signal(pid, signal.SIGTERM)
        for node, pid in zip(self.nodes, pids):
            if pid and not _wait_gone(pid, timeout):
                send_signal(pid, signal.SIGKILL)
                _wait_gone(pid, 10)
            node.state_file.unlink(missing_ok=True)

    def __enter__(self) -> "KafkaCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def ensure_broker(settings) -> str:
    """Bootstrap servers to use: start the embedded broker if configured so, else check the cluster."""
    from kafka_io.client_config import base_config

    if settings.embedded_broker:
        broker = EmbeddedBroker.from_settings(settings)
        broker.start()
        return broker.bootstrap_servers
    check_bootstrap(settings.bootstrap_servers, base_config(settings), timeout=settings.kafka.timeout_s)
    return settings.bootstrap_servers
