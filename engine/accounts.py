"""Service-mode accounts and the actions users take, with their checks, Kafka ACLs and audit lines.

An account is a built-in user (:mod:`engine.users`) plus, when the service talks to Kafka with
SCRAM (``broker.security: scram`` or ``kafka.sasl_mechanism: SCRAM-*``), the same name and
password as a SCRAM credential on the broker and a READ ACL on its consumer groups
(``<name>.*``). A job's topics get READ for the owner (and WRITE for the service principal);
sharing adds READ for another user. The CLI and the app call these functions, never the
stores or ACL helpers directly, so the checks hold whichever shell is used.
"""

from __future__ import annotations

from engine import audit, users
from engine.access import require_job, require_topic, visible_jobs, visible_topics
from engine.errors import UserError


def kafka_identity(settings) -> bool:
    """True when users authenticate to Kafka as themselves (SCRAM + ACLs)."""
    if settings.embedded_broker:
        return settings.broker.security == "scram"
    return settings.kafka.sasl_mechanism.upper().startswith("SCRAM")


def _admin_conf(settings) -> dict:
    from kafka_io.client_config import base_config
    return base_config(settings)


def service_principal(settings) -> str:
    if settings.kafka.sasl_username:
        return settings.kafka.sasl_username
    return settings.broker.admin_user


# ----------------------------------------------------------------------------- accounts

def create_account(settings, name: str, password: str, role: str = "user", actor: str | None = None):
    from kafka_io import acl

    user = users.add_user(settings, name, password, role)
    if kafka_identity(settings):
        try:
            conf = _admin_conf(settings)
            acl.upsert_user(conf, name, password)
            acl.grant_group_prefix(conf, name, user.group_prefix)
        except UserError:
            users.remove_user(settings, name)  # all or nothing
            raise
    audit.record(settings, actor, "user-add", target=name, role=role)
    return user


def change_password(settings, name: str, password: str, actor: str | None = None) -> None:
    from kafka_io import acl

    users.set_password(settings, name, password)
    if kafka_identity(settings):
        acl.upsert_user(_admin_conf(settings), name, password)
    audit.record(settings, actor, "user-passwd", target=name)


def remove_account(settings, name: str, actor: str | None = None) -> None:
    from kafka_io import acl

    users.remove_user(settings, name)
    if kafka_identity(settings):
        conf = _admin_conf(settings)
        acl.revoke_user(conf, name)
        try:
            acl.delete_user(conf, name)
        except UserError:  # no SCRAM credential (created before scram was on)
            pass
    audit.record(settings, actor, "user-remove", target=name)


def connection_details(settings, user) -> dict:
    """What "Get your data" shows: name, group id, servers, and the register command."""
    servers = settings.bootstrap_servers
    return {"username": user.name, "group_id": user.group_id, "servers": servers,
            "register": (f"fink_client_register -username {user.name} -password '<your password>' "
                         f"-group_id {user.group_id} -servers {servers}"),
            # finkctl 12.3 sends no credentials: it reads through the user's own SCRAM proxy
            "proxy": (f"fink-transfer kafka-proxy -username {user.name} -password '<your password>' "
                      f"-servers {servers} --port 9099   # then: fink_client_register -survey ztf "
                      f"-username {user.name} -group_id {user.group_id} -servers 127.0.0.1:9099")}


# ----------------------------------------------------------------------------- topic ACLs

def grant_owner(settings, rec) -> None:
    """Called by the job before it publishes: owner READ, the service principal WRITE."""
    from kafka_io import acl

    if not rec.owner or not kafka_identity(settings):
        return
    conf = _admin_conf(settings)
    acl.grant_write(conf, service_principal(settings), rec.topic)
    acl.grant_read(conf, rec.owner, rec.topic)


# ----------------------------------------------------------------------------- user actions

def list_jobs_for(settings, user) -> list:
    return visible_jobs(settings, user)


def list_topics_for(settings, user, rows: list[dict]) -> list[dict]:
    return visible_topics(settings, user, rows)


def cancel(settings, user, job_id: str, grace: float = 20.0):
    from engine.job.launcher import cancel_job
    from engine.job.queue import dispatch, queue_limited

    require_job(settings, user, job_id, manage=True)
    rec = cancel_job(settings, job_id, grace=grace)
    audit.record(settings, user.name if user else None, "cancel", job=job_id, topic=rec.topic, state=rec.state)
    if queue_limited(settings):
        dispatch(settings)
    return rec


def share(settings, user, job_id: str, other: str):
    """Let ``other`` read the job's topic: an explicit READ ACL, recorded on the job."""
    from engine.job.store import load_job, update_status
    from kafka_io import acl

    rec = require_job(settings, user, job_id, manage=True)
    if users.get_user(settings, other) is None:
        raise UserError(f"unknown user {other}")
    if other == rec.owner:
        raise UserError(f"{other} owns job {job_id} already")
    if kafka_identity(settings):
        acl.grant_read(_admin_conf(settings), other, rec.topic)
    shared = sorted(set(load_job(settings, job_id).shared_with or []) | {other})
    rec = update_status(settings, job_id, shared_with=shared)
    audit.record(settings, user.name if user else None, "share", job=job_id, topic=rec.topic, target=other)
    return rec


def delete_topic(settings, user, topic: str) -> list[str]:
    from kafka_io.topic_admin import delete_topic as _delete

    require_topic(settings, user, topic, manage=True)
    deleted = _delete(settings, topic)
    audit.record(settings, user.name if user else None, "delete", topic=topic)
    return deleted


# ----------------------------------------------------------------------------- downloads and explore

def download_status_dir(settings, user, topic: str):
    """Where the download of ``topic`` keeps its status: per user in service mode."""
    from pathlib import Path

    from engine.access import user_root

    if user is None:
        return Path(settings.downloads_dir) / topic
    return user_root(settings, user) / "downloads" / topic


def start_download(settings, user, options):
    """Start (or resume) a download: the topic must be the user's (or shared), the folder in their space."""
    from dataclasses import replace

    from engine.access import confine
    from kafka_io.consumer.status import start_download as _start

    require_topic(settings, user, options.topic)
    if user is not None:
        options = replace(options, outdir=str(confine(settings, user, options.outdir)))
    return _start(options, download_status_dir(settings, user, options.topic))


def explore_root(settings, user):
    """The folder Explore lists: the downloads folder, or the user's own space."""
    from pathlib import Path

    from engine.access import user_root

    return Path(settings.downloads_dir) if user is None else user_root(settings, user)


def explore_folder(settings, user, folder: str):
    """A folder to read in Explore: any in local mode, one inside the user's space in service mode."""
    from engine.access import confine
    return confine(settings, user, folder, must_exist=user is not None)
