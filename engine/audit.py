"""Audit log: one JSON line per action (who submitted, started, cancelled, shared, deleted what, when).

Lines are appended with one O_APPEND write each, so the app, the CLI and job processes can log
at once without interleaving. Only an ``admin`` may read it (:func:`read_audit`).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from engine.errors import UserError


def record(settings, user: str | None, action: str, **fields) -> dict:
    """Append ``{"ts", "user", "action", **fields}``; ``user`` None is the local (single) user."""
    entry = {"ts": time.time(), "user": user or "local", "action": action, **fields}
    path = Path(settings.audit_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(entry, sort_keys=True, default=str) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
    return entry


def read_audit(settings, user=None, action: str | None = None) -> list[dict]:
    """Every entry, oldest first (optionally of one action). ``user``: an engine.users.User, or
    None in local mode; a non-admin user is refused."""
    if user is not None and not user.is_admin:
        raise UserError("only an admin may read the audit log")
    path = Path(settings.audit_file)
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if action is None or entry.get("action") == action:
            out.append(entry)
    return out
