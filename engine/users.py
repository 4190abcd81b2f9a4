"""Built-in users of service mode: names, roles and bcrypt password hashes in one YAML file.

The file is ``settings.users_file`` (default ``<data_dir>/users.yaml``), written atomically with
mode 0600; it never holds a clear password. The same password is the user's Kafka SCRAM secret
(the broker keeps only its salted SCRAM hash), so one secret serves the app and the clients:
:mod:`engine.accounts` keeps both in step.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from engine.errors import UserError
from engine.fileio import write_text_atomic

ROLES = ("user", "admin")
NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{1,31}$")
MIN_PASSWORD = 8


@dataclass(frozen=True)
class User:
    name: str
    role: str = "user"
    created: float = 0.0

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def group_prefix(self) -> str:
        """Consumer groups the user may use all start with this (a PREFIXED group ACL)."""
        return f"{self.name}."

    @property
    def group_id(self) -> str:
        """The group id shown in "Get your data" (the official client also uses ``<group>_schema``)."""
        return f"{self.name}.transfer"


def check_name(name: str) -> str:
    if not NAME_RE.match(name or ""):
        raise UserError(f"bad user name {name!r}: 2-32 characters, lower-case letters, digits, '_' or '-', "
                        f"starting with a letter")
    return name


def check_password(password: str) -> str:
    if not password or len(password) < MIN_PASSWORD:
        raise UserError(f"a password needs at least {MIN_PASSWORD} characters")
    return password


def _hash(password: str) -> str:
    import bcrypt
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()


def _read(settings) -> dict:
    path = Path(settings.users_file)
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise UserError(f"cannot read the users file {path}: {str(exc).splitlines()[0]}") from exc
    return dict(data.get("users") or {})


def _write(settings, users: dict) -> None:
    path = Path(settings.users_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, yaml.safe_dump({"users": users}, sort_keys=True))
    os.chmod(path, 0o600)


def _user(name: str, entry: dict) -> User:
    return User(name=name, role=entry.get("role", "user"), created=float(entry.get("created") or 0))


def list_users(settings) -> list[User]:
    return [_user(n, e) for n, e in sorted(_read(settings).items())]


def get_user(settings, name: str) -> User | None:
    entry = _read(settings).get(name)
    return None if entry is None else _user(name, entry)


def add_user(settings, name: str, password: str, role: str = "user") -> User:
    check_name(name)
    check_password(password)
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    users = _read(settings)
    if name in users:
        raise UserError(f"user {name} already exists (use `users passwd` to change the password)")
    users[name] = {"role": role, "password_hash": _hash(password), "created": time.time()}
    _write(settings, users)
    return _user(name, users[name])


def set_password(settings, name: str, password: str) -> None:
    check_password(password)
    users = _read(settings)
    if name not in users:
        raise UserError(f"unknown user {name}")
    users[name]["password_hash"] = _hash(password)
    _write(settings, users)


def remove_user(settings, name: str) -> None:
    users = _read(settings)
    if users.pop(name, None) is None:
        raise UserError(f"unknown user {name}")
    _write(settings, users)


def authenticate(settings, name: str, password: str) -> User | None:
    """The user when ``password`` matches its hash, else None (same answer for an unknown name)."""
    import bcrypt

    entry = _read(settings).get(name or "")
    if entry is None or not password:
        bcrypt.checkpw(b"x", _dummy_hash())  # same cost whether the name exists or not
        return None
    if bcrypt.checkpw(password.encode(), str(entry.get("password_hash", "")).encode()):
        return _user(name, entry)
    return None


_DUMMY: list[bytes] = []


def _dummy_hash() -> bytes:
    if not _DUMMY:
        _DUMMY.append(_hash("not a password").encode())
    return _DUMMY[0]
