"""Credentials in the official client's files, or our configuration when there are none.

Files (fink-client, see research fink.md section 5):
* 7.x: ``~/.finkclient/credentials.yml`` with ``username, password, group_id, mytopics, servers,
  maxtimeout`` (``--tmp``: ``/tmp/credentials.yml``);
* v10+: ``~/.finkclient/<survey>_credentials.yml`` with ``survey, username, groupid, servers,
  maxtimeout``.
``servers``, the group id and ``maxtimeout`` matter for a download, and ``username`` with
``password`` (7.x file) authenticate with SASL SCRAM-SHA-512 as the official client does. Without a file we use
``engine.config.load_settings()`` (bootstrap servers incl. SASL/TLS) and a group id derived from
the output folder, so each folder resumes on its own and a fresh folder downloads everything.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from engine.errors import UserError
from engine.fileio import write_text_atomic

DEFAULT_MAXTIMEOUT = 10.0


def credentials_dir(tmp: bool = False) -> Path:
    return Path("/tmp") if tmp else Path(os.path.expanduser("~")) / ".finkclient"


def credentials_path(survey: str | None = None, tmp: bool = False) -> Path:
    """v12 per-survey file when a survey is given, else the 7.x file."""
    name = f"{survey}_credentials.yml" if survey else "credentials.yml"
    return credentials_dir(tmp) / name


def write_credentials(values: dict, survey: str | None = None, tmp: bool = False) -> Path:
    """Write a credentials file in the official format (7.x without survey, v12 with one)."""
    if survey:
        keys = ("survey", "username", "groupid", "servers", "maxtimeout")
        data = {"survey": survey, "username": values.get("username"),
                "groupid": values.get("groupid") or values.get("group_id"),
                "servers": values.get("servers"), "maxtimeout": values.get("maxtimeout")}
    else:
        keys = ("username", "password", "group_id", "mytopics", "servers", "maxtimeout")
        data = {"username": values.get("username"), "password": values.get("password"),
                "group_id": values.get("group_id") or values.get("groupid"),
                "mytopics": list(values.get("mytopics") or []), "servers": values.get("servers"),
                "maxtimeout": values.get("maxtimeout")}
    missing = [k for k in keys if k not in ("password", "mytopics") and data.get(k) in (None, "")]
    if missing:
        raise UserError(f"missing credential value(s): {', '.join(missing)}")
    path = credentials_path(survey, tmp)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, yaml.safe_dump(data, sort_keys=True))
    return path


def load_credentials(survey: str | None = None) -> tuple[dict, Path] | None:
    """The first credentials file found (``<survey>_credentials.yml``, then ``credentials.yml``)."""
    candidates = []
    if survey:
        candidates.append(credentials_path(survey))
    candidates.append(credentials_path(None))
    for path in candidates:
        if path.is_file():
            try:
                data = yaml.safe_load(path.read_text()) or {}
            except (OSError, yaml.YAMLError) as exc:
                raise UserError(f"cannot read credentials {path}: {str(exc).splitlines()[0]}") from exc
            if not isinstance(data, dict):
                raise UserError(f"credentials {path} must be a YAML mapping")
            return data, path
    return None


@dataclass
class Connection:
    """How to reach the topic: librdkafka consumer settings, group id, timeout, and where they came from."""
    conf: dict
    group_id: str
    maxtimeout: float
    source: str


def default_group_id(outdir: str) -> str:
    digest = hashlib.sha1(str(Path(outdir).resolve()).encode()).hexdigest()[:12]
    return f"fink-transfer-{digest}"


def resolve_connection(options, settings=None) -> Connection:
    """Credentials file if any, else our configuration (with SASL/TLS)."""
    from kafka_io.client_config import consumer_config

    if settings is None:
        from engine.config import load_settings
        settings = load_settings()
    found = load_credentials(options.survey)
    if found is not None:
        creds, path = found
        servers = creds.get("servers")
        group = creds.get("groupid") or creds.get("group_id")
        if not servers or not group:
            raise UserError(f"credentials {path} need 'servers' and 'groupid' (or 'group_id'): "
                            f"run fink_client_register again")
        servers = ",".join(servers) if isinstance(servers, list) else str(servers)
        if creds.get("username") and creds.get("password"):
            # The user's own identity, as the official client does (SASL SCRAM-SHA-512).
            conf = {"bootstrap.servers": servers, "group.id": str(group), "auto.offset.reset": "earliest",
                    "enable.auto.commit": False, "enable.auto.offset.store": False,
                    "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-512",
                    "sasl.username": str(creds["username"]), "sasl.password": str(creds["password"])}
        elif servers == settings.bootstrap_servers:
            conf = consumer_config(settings, str(group))  # same cluster: keep its SASL/TLS settings
        else:
            conf = {"bootstrap.servers": servers, "group.id": str(group), "auto.offset.reset": "earliest",
                    "enable.auto.commit": False, "enable.auto.offset.store": False}
        maxtimeout = options.maxtimeout or float(creds.get("maxtimeout") or DEFAULT_MAXTIMEOUT)
        return Connection(conf, str(group), maxtimeout, str(path))
    group = default_group_id(options.outdir)
    conf = consumer_config(settings, group)
    return Connection(conf, group, options.maxtimeout or DEFAULT_MAXTIMEOUT, "configuration")
