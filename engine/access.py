"""Who may see, cancel, share, download and explore what; paths confined to the user's folder.

``user`` is an :class:`engine.users.User` in service mode and ``None`` in single-user local mode,
where every check passes and paths are used as given (today's behaviour). A job belongs to its
``owner``; it is visible to the owner, to the users it is shared with, and to admins. A topic is
visible when the job that made it is. Someone else's job is reported as unknown, so ids and
topic names cannot be probed.

The same checks guard the library functions, the CLI and the app pages.
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.errors import UserError


def can_see(user, rec) -> bool:
    if user is None or user.is_admin:
        return True
    return rec.owner == user.name or user.name in (rec.shared_with or [])


def can_manage(user, rec) -> bool:
    """Cancel, share, delete: the owner or an admin."""
    return user is None or user.is_admin or rec.owner == user.name


def visible_jobs(settings, user) -> list:
    from engine.job.store import list_jobs
    return [r for r in list_jobs(settings) if can_see(user, r)]


def require_job(settings, user, job_id: str, manage: bool = False):
    """The job's record if ``user`` may see it (or manage it, with ``manage``), else a UserError."""
    from engine.job.store import load_job

    rec = load_job(settings, job_id)
    if not can_see(user, rec):
        raise UserError(f"unknown job {job_id}")
    if manage and not can_manage(user, rec):
        raise UserError(f"job {job_id} belongs to {rec.owner}: only its owner or an admin may change it")
    return rec


def job_of_topic(settings, topic: str):
    from engine.job.store import list_jobs
    return next((r for r in list_jobs(settings) if r.topic == topic), None)


def require_topic(settings, user, topic: str, manage: bool = False):
    """The job that made ``topic`` if ``user`` may read it (or manage it); None in local mode
    for a topic no job of ours made."""
    rec = job_of_topic(settings, topic)
    if user is None:
        return rec
    if rec is None or not can_see(user, rec):
        raise UserError(f"topic {topic} is not yours and was not shared with you")
    if manage and not can_manage(user, rec):
        raise UserError(f"topic {topic} belongs to {rec.owner}: only its owner or an admin may change it")
    return rec


def visible_topics(settings, user, rows: list[dict]) -> list[dict]:
    """Broker topic rows (``kafka_io.topic_admin.topic_rows``) the user may see."""
    if user is None or user.is_admin:
        return rows
    mine = {r.topic for r in visible_jobs(settings, user)}
    return [row for row in rows if row["topic"] in mine]


def user_root(settings, user) -> Path:
    """The user's folder inside data_dir (downloads, uploads, spec files)."""
    return Path(settings.users_dir) / user.name


def confine(settings, user, path: str | os.PathLike, must_exist: bool = False) -> Path:
    """``path`` as an absolute path inside the user's folder, or a UserError.

    Relative paths are taken from the user's folder; an absolute path is accepted only inside it.
    Refused, with one message: ``..`` components, ``~``, NUL bytes, and any path whose resolved
    form (symlinks followed) leaves the folder. Local mode returns the path unchanged.
    """
    raw = os.fspath(path)
    if user is None:
        return Path(raw).expanduser()
    root = user_root(settings, user)
    root.mkdir(parents=True, exist_ok=True)
    root = root.resolve()
    text = raw.strip()
    refused = UserError(f"path {raw!r} is refused: use a folder inside your space {root}")
    if not text or "\x00" in text or text.startswith("~") or "\\" in text:
        raise refused
    parts = Path(text).parts
    if ".." in parts:
        raise refused
    candidate = Path(text) if Path(text).is_absolute() else root / text
    resolved = candidate.resolve()  # follows every symlink, existing or not
    if resolved != root and root not in resolved.parents:
        raise refused
    if must_exist and not resolved.exists():
        raise UserError(f"{raw} does not exist in your space {root}")
    return resolved


def confine_name(name: str) -> str:
    """A bare file name (an upload's name): no folder part, no dot-file, no NUL."""
    base = os.path.basename(name or "")
    if (not name or base != name or name in (".", "..") or name.startswith(".") or "\x00" in name
            or "\\" in name):
        raise UserError(f"file name {name!r} is refused: give a plain name without folders")
    return name
