"""Service mode, library layer without a broker: users with hashed passwords, who sees what,
paths confined to the user's folder, the audit log, the round-robin order of the queue."""

from __future__ import annotations

import os
import time

import pytest

from engine import access, audit, users
from engine.errors import UserError
from engine.job.store import JobRecord


def test_users_store_hashes_passwords_and_roles(service_mode_settings):
    users.add_user(service_mode_settings, "alice", "alice-secret-1")
    users.add_user(service_mode_settings, "root", "root-secret-1", role="admin")
    text = service_mode_settings.users_file.read_text()
    assert "alice-secret-1" not in text and "$2b$" in text
    assert oct(service_mode_settings.users_file.stat().st_mode & 0o777) == "0o600"
    assert users.authenticate(service_mode_settings, "alice", "alice-secret-1").name == "alice"
    assert users.authenticate(service_mode_settings, "alice", "wrong-password") is None
    assert users.authenticate(service_mode_settings, "nobody", "alice-secret-1") is None
    assert [(u.name, u.role) for u in users.list_users(service_mode_settings)] == [("alice", "user"), ("root", "admin")]
    users.set_password(service_mode_settings, "alice", "new-secret-22")
    assert users.authenticate(service_mode_settings, "alice", "alice-secret-1") is None
    assert users.authenticate(service_mode_settings, "alice", "new-secret-22") is not None
    with pytest.raises(UserError, match="already exists"):
        users.add_user(service_mode_settings, "alice", "whatever-123")
    with pytest.raises(UserError, match="bad user name"):
        users.add_user(service_mode_settings, "../evil", "whatever-123")
    with pytest.raises(UserError, match="at least 8"):
        users.add_user(service_mode_settings, "carol", "short")
    users.remove_user(service_mode_settings, "alice")
    assert users.get_user(service_mode_settings, "alice") is None


def _rec(job_id, owner, shared=(), topic=None):
    return JobRecord(job_id=job_id, owner=owner, shared_with=list(shared), topic=topic or f"t_{job_id}")


def test_visibility_owner_shared_admin_and_local_mode():
    alice, bob, root = users.User("alice"), users.User("bob"), users.User("root", role="admin")
    a_job, shared_job = _rec("j1", "alice"), _rec("j2", "alice", shared=["bob"])
    assert access.can_see(alice, a_job) and not access.can_see(bob, a_job)
    assert access.can_see(bob, shared_job) and not access.can_manage(bob, shared_job)
    assert access.can_see(root, a_job) and access.can_manage(root, a_job)
    assert access.can_see(None, a_job) and access.can_manage(None, a_job)


TRAVERSALS = [
    "/etc",                       # absolute, outside
    "/tmp/x",                     # absolute, outside
    "..",                         # parent
    "../bob",                     # a neighbour's folder
    "downloads/../../bob/x",      # climbs out from inside
    "a/../../..",                 # climbs above data_dir
    "~/x",                        # home
    "~root",                      # another user's home
    "link-out/x",                 # a symlink inside pointing outside
    "link-out",                   # the symlink itself
    "x\x00y",                     # NUL byte
    "",                           # empty
    "   ",                        # blank
    "..\\..\\x",                  # backslashes
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_confine_refuses_every_way_out(service_mode_settings, tmp_path, path):
    alice = users.User("alice")
    root = access.user_root(service_mode_settings, alice)
    root.mkdir(parents=True, exist_ok=True)
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    if not (root / "link-out").is_symlink():
        os.symlink(outside, root / "link-out")
    with pytest.raises(UserError, match="is refused"):
        access.confine(service_mode_settings, alice, path)


def test_confine_refuses_absolute_path_into_another_users_folder(service_mode_settings):
    bob_root = access.user_root(service_mode_settings, users.User("bob"))
    with pytest.raises(UserError, match="is refused"):
        access.confine(service_mode_settings, users.User("alice"), str(bob_root / "parquet"))


def test_confine_accepts_paths_inside_and_local_mode_is_unchanged(service_mode_settings, tmp_path):
    alice = users.User("alice")
    root = access.user_root(service_mode_settings, alice).resolve()
    assert access.confine(service_mode_settings, alice, "ftransfer_x/parquet") == root / "ftransfer_x" / "parquet"
    assert access.confine(service_mode_settings, alice, str(root / "a")) == root / "a"
    assert access.confine(service_mode_settings, alice, "./a/./b") == root / "a" / "b"
    os.symlink(root / "a", root / "inner-link")
    assert access.confine(service_mode_settings, alice, "inner-link/c") == root / "a" / "c"
    assert access.confine(service_mode_settings, None, "/tmp/anywhere") == access.Path("/tmp/anywhere")


@pytest.mark.parametrize("name", ["../x.csv", "/etc/passwd", "a/b.csv", ".hidden", "..", "x\x00.csv", "a\\b.csv", ""])
def test_upload_names_are_plain_names(name):
    with pytest.raises(UserError, match="is refused"):
        access.confine_name(name)


def test_audit_lines_readable_by_admin_only(service_mode_settings):
    audit.record(service_mode_settings, "alice", "submit", job="j1")
    audit.record(service_mode_settings, "bob", "cancel", job="j2")
    lines = service_mode_settings.audit_file.read_text().splitlines()
    assert len(lines) == 2
    entries = audit.read_audit(service_mode_settings, users.User("root", role="admin"))
    assert [(e["user"], e["action"], e["job"]) for e in entries] == [("alice", "submit", "j1"), ("bob", "cancel", "j2")]
    assert entries[0]["ts"] <= entries[1]["ts"] <= time.time()
    with pytest.raises(UserError, match="only an admin"):
        audit.read_audit(service_mode_settings, users.User("alice"))


def test_round_robin_order_across_users():
    from engine.job.queue import round_robin

    t = 1000.0
    jobs = []
    for i, owner in enumerate("aaaabbbbcccc"):
        jobs.append(JobRecord(job_id=f"{owner}{i}", owner=owner, created=t + i))
    jobs[0].pid, jobs[0].dispatched, jobs[0].state = 11, t + 20, "running"  # a0 already started
    order = [r.owner for r in round_robin(jobs)]
    assert order == list("bcabcabcabc")
    assert [r.job_id for r in round_robin(jobs)][:3] == ["b4", "c8", "a1"]


def test_topic_names_are_unguessable_and_keep_the_fink_shape():
    from kafka_io.topics import new_topic_name, parse_topic_name

    names = {new_topic_name("ztf") for _ in range(200)}
    assert len(names) == 200
    parsed = [parse_topic_name(n) for n in names]
    assert all(p and p["survey"] == "ztf" for p in parsed)
    assert min(p["n"] for p in parsed) > 10 ** 9  # not a microsecond (< 10**6)
