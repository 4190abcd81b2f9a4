"""Every path a service-mode user gives is confined to their folder, through the library functions
the app and the CLI call: download folder, Explore folder, spec file, upload name."""

from __future__ import annotations

import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from engine.errors import UserError
from tests.helpers import ROOT

ATTEMPTS = ["/etc", "/tmp/out", "..", "../bob", "parquet/../../bob", "a/../../../..", "~/x", "~root/x",
            "link-out", "link-out/deeper", "x\x00y", "", "..\\..\\windows"]
SPEC = {"survey": "ztf", "start": "2021-11-22", "stop": "2021-11-23"}


@pytest.fixture
def service(tmp_path, monkeypatch):
    monkeypatch.setenv("FINK_TRANSFER_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("FINK_TRANSFER_SERVICE__ENABLED", "true")
    monkeypatch.delenv("FINK_TRANSFER_CONFIG", raising=False)
    from engine.config import load_settings
    from engine.users import add_user
    settings = load_settings()
    alice = add_user(settings, "alice", "alice-password")
    add_user(settings, "bob", "bob-password")
    root = settings.users_dir / "alice"
    root.mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "spec.yaml").write_text("survey: ztf\nstart: 2021-11-22\n")
    os.symlink(tmp_path / "outside", root / "link-out")
    return SimpleNamespace(settings=settings, alice=alice, tmp=tmp_path)


def _job(settings, owner):
    from engine.job.store import create_job
    return create_job(settings, SPEC, owner=owner)


@pytest.mark.parametrize("outdir", ATTEMPTS)
def test_download_folder(service, outdir):
    from engine.accounts import start_download
    from kafka_io.consumer.options import DownloadOptions

    rec = _job(service.settings, "alice")
    with pytest.raises(UserError, match="is refused"):
        start_download(service.settings, service.alice, DownloadOptions(topic=rec.topic, outdir=outdir))
    assert not (service.settings.users_dir / "alice" / "downloads").exists()  # nothing was started


@pytest.mark.parametrize("folder", ATTEMPTS)
def test_explore_folder(service, folder):
    from engine.accounts import explore_folder

    with pytest.raises(UserError, match="is refused"):
        explore_folder(service.settings, service.alice, folder)


@pytest.mark.parametrize("spec", [a for a in ATTEMPTS if a] + [str(ROOT / "pyproject.toml")])  # "" = no file
def test_spec_file(service, spec):
    from cli.submit_cmd import build_spec

    args = SimpleNamespace(spec=spec, **{k: None for k in ("survey", "start", "stop", "content", "limit", "topic",
                                                          "classes", "conditions")})
    with pytest.raises(UserError, match="is refused"):
        build_spec(args, service.settings, service.alice)


@pytest.mark.parametrize("name", ["../cat.csv", "/etc/passwd", "sub/cat.csv", ".bashrc", "..", "a\x00.csv",
                                  "..\\cat.csv", ""])
def test_upload_name(name):
    from engine.access import confine_name

    with pytest.raises(UserError, match="is refused"):
        confine_name(name)


def test_cli_spec_outside_is_one_line_and_inside_is_read(service):
    env = dict(os.environ)
    outside = service.tmp / "outside" / "spec.yaml"
    r = subprocess.run([sys.executable, "-m", "cli", "submit", "--user", "alice", "--spec", str(outside)],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "is refused" in r.stderr, r.stderr
    import argparse

    from cli import submit_cmd
    from cli.submit_cmd import build_spec
    (service.settings.users_dir / "alice" / "mine.yaml").write_text("survey: ztf\nstart: 2021-11-22\n")
    parser = argparse.ArgumentParser()
    submit_cmd.register(parser.add_subparsers())
    args = parser.parse_args(["submit", "--spec", "mine.yaml"])  # every flag of the real command
    assert str(build_spec(args, service.settings, service.alice)["stop"]) == "2021-11-22"


def test_someone_elses_topic_is_refused_and_own_folder_accepted(service):
    from engine.accounts import explore_folder, start_download
    from kafka_io.consumer.options import DownloadOptions

    bobs = _job(service.settings, "bob")
    with pytest.raises(UserError, match="not yours"):
        start_download(service.settings, service.alice, DownloadOptions(topic=bobs.topic, outdir="x"))
    root = (service.settings.users_dir / "alice").resolve()
    (root / "ok").mkdir()
    assert explore_folder(service.settings, service.alice, "ok") == root / "ok"
    assert explore_folder(service.settings, service.alice, str(root / "ok")) == root / "ok"


@pytest.mark.parametrize("catalogue", [a for a in ATTEMPTS if a] + ["/etc/passwd", "link-out/spec.yaml"])
def test_catalogue_path_of_a_spec(service, catalogue):
    """A spec's cross-match catalogue is a path too: outside the user's folder it is refused before
    the file is opened (no content of a server file can leak through a catalogue error)."""
    from engine.job.launcher import submit_job
    from engine.job.store import list_jobs

    spec = dict(SPEC, xmatch={"path": catalogue, "ra": "ra", "dec": "dec", "id": "name", "radius_arcsec": 2})
    with pytest.raises(UserError, match="is refused"):
        submit_job(service.settings, spec, user=service.alice)
    assert list_jobs(service.settings) == []


def test_catalogue_upload_is_kept_in_the_users_folder(service):
    from engine.xmatch import save_upload

    path = save_upload(service.settings, service.alice, "targets.csv", b"ra,dec,name\n1,2,a\n")
    assert path.parent == (service.settings.users_dir / "alice" / "uploads").resolve()
    for bad in ("../targets.csv", ".hidden.csv", "a/b.csv", "x\x00.csv"):
        with pytest.raises(UserError, match="is refused"):
            save_upload(service.settings, service.alice, bad, b"ra,dec\n")
