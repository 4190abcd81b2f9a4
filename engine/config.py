"""The one place where configuration is read: packaged defaults, a YAML file, then the environment.

Order (later wins):
1. ``engine/default_config.yaml`` (shipped with the package);
2. the file named by ``FINK_TRANSFER_CONFIG``, else ``./fink_transfer.yaml`` if it exists;
3. environment variables ``FINK_TRANSFER_DATA_DIR`` and ``FINK_TRANSFER_<SECTION>__<KEY>``
   (values parsed as YAML scalars, so ``10`` is an int and ``true`` a bool).

Child processes (jobs, downloads) inherit the environment, so a setting given to the app
reaches them without being passed by hand.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Mapping, get_args, get_origin, get_type_hints

import yaml

from engine.errors import UserError
from engine.fileio import InDataDir
from engine.surveys import NAMES as SURVEYS

ENV_PREFIX = "FINK_TRANSFER_"


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap_servers: str = ""
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI", "OAUTHBEARER"] = ""
    sasl_username: str = ""
    sasl_password: str = ""
    ssl_ca_location: str = ""
    partitions: int = 10
    retention_days: float = 7
    replication_factor: int = -1
    schema_copies: int = 1000
    timeout_s: float = 10.0


@dataclass(frozen=True)
class BrokerSettings:
    host: str = "127.0.0.1"
    port: int = 29092
    controller_port: int = 29093
    heap: str = "1g"
    kafka_libs: str = ""
    security: Literal["none", "scram"] = "none"
    admin_user: str = "admin"
    admin_password: str = ""
    retention_check_ms: int = 300_000
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SparkSettings:
    master: str = "local[*]"
    driver_memory: str = "2g"
    executor_memory: str = "2g"
    conf: Mapping[str, Any] = field(default_factory=dict)
    class_sharing: bool = True    # local jobs map the JVM classes of an earlier job (engine/job/jvm_classes.py)
    class_archive_dir: str = ""   # empty = $XDG_CACHE_HOME (or ~/.cache)/fink-transfer/jvm-classes


@dataclass(frozen=True)
class JobSettings:
    small_job_threshold: int = 50_000
    local_processes: int = 0      # 0 = one per CPU
    throttle_s: float = 0.0       # test/demo hook: wait before each batch


@dataclass(frozen=True)
class ServiceSettings:
    enabled: bool = False         # false = single-user local mode (no login, no isolation)
    users_file: str = ""          # empty = <data_dir>/users.yaml (bcrypt hashes, roles)
    audit_file: str = ""          # empty = <data_dir>/audit.jsonl


@dataclass(frozen=True)
class QuotaSettings:
    alerts_per_job: int = 0       # 0 = no limit (every quota)
    bytes_per_job: int = 0
    running_per_user: int = 0     # a user's jobs running at once; more wait in the queue
    bytes_per_day: int = 0        # estimated bytes a user may submit per UTC day
    concurrent_jobs: int = 0      # jobs running at once on this machine/cluster; more wait in the queue


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    archives: Mapping[str, Path]
    kafka: KafkaSettings
    broker: BrokerSettings
    spark: SparkSettings
    jobs: JobSettings
    service: ServiceSettings = field(default_factory=ServiceSettings)
    quotas: QuotaSettings = field(default_factory=QuotaSettings)

    jobs_dir = InDataDir("jobs")
    downloads_dir = InDataDir("downloads")
    broker_dir = InDataDir("broker")
    users_dir = InDataDir("users", "Per-user download folders (service mode): ``<data_dir>/users/<name>``.")

    @property
    def embedded_broker(self) -> bool:
        """True when no external Kafka is configured: the project runs its own broker."""
        return not self.kafka.bootstrap_servers

    @property
    def bootstrap_servers(self) -> str:
        if self.kafka.bootstrap_servers:
            return self.kafka.bootstrap_servers
        return f"{self.broker.host}:{self.broker.port}"

    @property
    def users_file(self) -> Path:
        return Path(self.service.users_file).expanduser() if self.service.users_file else self.data_dir / "users.yaml"

    @property
    def audit_file(self) -> Path:
        return Path(self.service.audit_file).expanduser() if self.service.audit_file else self.data_dir / "audit.jsonl"

    def archive_dir(self, survey: str) -> Path:
        if survey not in self.archives:
            raise UserError(f"unknown survey {survey!r}: choose one of {', '.join(SURVEYS)}")
        return self.archives[survey]


def _deep_merge(base: dict, extra: Mapping) -> dict:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _env_overrides(env: Mapping[str, str]) -> dict:
    out: dict = {}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX + "CONFIG":
            continue
        path = name[len(ENV_PREFIX):].lower().split("__")
        value = yaml.safe_load(raw) if raw != "" else ""
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return out


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise UserError(f"cannot read config file {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise UserError(f"config file {path} is not valid YAML: {exc}".splitlines()[0]) from exc
    if not isinstance(data, dict):
        raise UserError(f"config file {path} must hold a mapping at top level")
    return data


# Ranges beyond the type: (least, most, least excluded); librdkafka refuses timeouts under 1 s.
BOUNDS = {
    ("kafka", "timeout_s"): (1, None, False), ("kafka", "partitions"): (1, None, False),
    ("kafka", "retention_days"): (0, None, True), ("kafka", "schema_copies"): (1, None, False),
    ("broker", "port"): (0, 65535, False), ("broker", "controller_port"): (0, 65535, False),
    ("jobs", "small_job_threshold"): (0, None, False), ("jobs", "local_processes"): (0, None, False),
    ("jobs", "throttle_s"): (0, None, False),
    **{("quotas", name): (0, None, False) for name in ("alerts_per_job", "bytes_per_job", "running_per_user",
                                                       "bytes_per_day", "concurrent_jobs")},
}
TRUE, FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _checked(section: str, name: str, hint, value):
    """``value`` as the field's declared type (str, int, float, bool, or one of a ``Literal``'s
    choices, matched in any case) within BOUNDS, else one line naming the key."""
    key = f"{section}.{name}"
    annotation = getattr(hint, "__name__", "")
    if get_origin(hint) is Literal:
        choices = get_args(hint)
        spelled = {str(c).lower(): c for c in choices}.get(str("" if value is None else value).strip().lower())
        if spelled is None:
            shown = ", ".join(c for c in choices if c) + (" (or empty)" if "" in choices else "")
            raise UserError(f"{key} must be one of {shown}, got {value!r}")
        return spelled
    if annotation == "bool":
        if isinstance(value, bool):
            return value
        if str(value).strip().lower() in TRUE + FALSE:
            return str(value).strip().lower() in TRUE
        raise UserError(f"{key} must be true or false, got {value!r}")
    if annotation in ("int", "float"):
        text = str(value).strip()
        whole = text.lstrip("+-").isdigit()
        if isinstance(value, bool) or (annotation == "int" and not whole):
            raise UserError(f"{key} must be a whole number, got {value!r}")
        try:
            number = int(text) if annotation == "int" else float(text)
        except ValueError:
            raise UserError(f"{key} must be a number, got {value!r}") from None
        least, most, excluded = BOUNDS.get((section, name), (None, None, False))
        if least is not None and (number <= least if excluded else number < least):
            raise UserError(f"{key} must be {'more than' if excluded else 'at least'} {least}, got {value!r}")
        if most is not None and number > most:
            raise UserError(f"{key} must be at most {most}, got {value!r}")
        return number
    if annotation == "str":
        if isinstance(value, (Mapping, list)):
            raise UserError(f"{key} must be text, got {value!r}")
        return "" if value is None else str(value)
    return value


def load_settings(config_file: str | os.PathLike | None = None,
                  env: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from defaults, an optional YAML file and the environment."""
    env = os.environ if env is None else env
    raw = yaml.safe_load(resources.files("engine").joinpath("default_config.yaml").read_text())
    chosen = config_file or env.get(ENV_PREFIX + "CONFIG")
    if chosen:
        raw = _deep_merge(raw, _read_yaml(Path(chosen)))
    elif Path("fink_transfer.yaml").is_file():
        raw = _deep_merge(raw, _read_yaml(Path("fink_transfer.yaml")))
    raw = _deep_merge(raw, _env_overrides(env))

    data_dir = Path(str(raw.get("data_dir") or "var")).expanduser().resolve()
    archives = {name: (data_dir / Path(str(p)).expanduser()).resolve()
                for name, p in (raw.get("archives") or {}).items()}

    def section(cls, key):
        values = raw.get(key) or {}
        if not isinstance(values, Mapping):
            raise UserError(f"{key} must be a mapping of settings")
        hints = get_type_hints(cls)
        return cls(**{k: _checked(key, k, hints[k], v) for k, v in values.items() if k in hints})

    return Settings(
        data_dir=data_dir,
        archives=archives,
        kafka=section(KafkaSettings, "kafka"),
        broker=section(BrokerSettings, "broker"),
        spark=section(SparkSettings, "spark"),
        jobs=section(JobSettings, "jobs"),
        service=section(ServiceSettings, "service"),
        quotas=section(QuotaSettings, "quotas"),
    )
