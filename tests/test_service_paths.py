"""Every path a service-mode user gives is confined to their folder, through the library functions
the app and the CLI call: download folder, Explore folder, spec file, upload name."""

from __future__ import annotations

import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from engine.errors import UserError
from tests.helpers import ROOT, SERVICE_SPEC as SPEC

ATTEMPTS = ["/etc", "/tmp/out", "..", "../bob", "parquet/../../bob", "a/../../../..", "~/x", "~root/x",
            "link-out", "link-out/deeper", "x\x00y", "", "..\\..\\windows"]


def _job(settings, owner):
    from engine.job.store import create_job
    return create_job(settings, SPEC, owner=owner)


@pytest.mark.parametrize("outdir", ATTEMPTS)
def test_download_folder(confined_alice, outdir):
    from engine.accounts import start_download
    from kafka_io.consumer.options import DownloadOptions

    rec = _job(confined_alice.settings, "alice")
    with pytest.raises(UserError, match="is refused"):
        start_download(confined_alice.settings, confined_alice.alice, DownloadOptions(topic=rec.topic, outdir=outdir))
    assert not (confined_alice.settings.users_dir / "alice" / "downloads").exists()  # nothing was started


@pytest.mark.parametrize("folder", ATTEMPTS)
def test_explore_folder(confined_alice, folder):
    from engine.accounts import explore_folder

    with pytest.raises(UserError, match="is refused"):
        explore_folder(confined_alice.settings, confined_alice.alice, folder)


@pytest.mark.parametrize("spec", [a for a in ATTEMPTS if a] + [str(ROOT / "pyproject.toml")])  # "" = no file
def test_spec_file(confined_alice, spec):
    from cli.submit_cmd import build_spec

    args = SimpleNamespace(spec=spec, **{k: None for k in ("survey", "start", "stop", "content", "limit", "topic",
                                                          "classes", "conditions")})
    with pytest.raises(UserError, match="is refused"):
        build_spec(args, confined_alice.settings, confined_alice.alice)


@pytest.mark.parametrize("name", ["../cat.csv", "/etc/passwd", "sub/cat.csv", ".bashrc", "..", "a\x00.csv",
                                  "..\\cat.csv", ""])
def test_upload_name(name):
    from engine.access import confine_name

    with pytest.raises(UserError, match="is refused"):
        confine_name(name)


def test_cli_spec_outside_is_one_line_and_inside_is_read(confined_alice):
    env = dict(os.environ)
    outside = confined_alice.tmp / "outside" / "spec.yaml"
    r = subprocess.run([sys.executable, "-m", "cli", "submit", "--user", "alice", "--spec", str(outside)],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "is refused" in r.stderr, r.stderr
    import argparse

    from cli import submit_cmd
    from cli.submit_cmd import build_spec
    (confined_alice.settings.users_dir / "alice" / "mine.yaml").write_text("survey: ztf\nstart: 2021-11-22\n")
    parser = argparse.ArgumentParser()
    submit_cmd.register(parser.add_subparsers())
    args = parser.parse_args(["submit", "--spec", "mine.yaml"])  # every flag of the real command
    assert str(build_spec(args, confined_alice.settings, confined_alice.alice)["stop"]) == "2021-11-22"


def test_someone_elses_topic_is_refused_and_own_folder_accepted(confined_alice):
    from engine.accounts import explore_folder, start_download
    from kafka_io.consumer.options import DownloadOptions

    bobs = _job(confined_alice.settings, "bob")
    with pytest.raises(UserError, match="not yours"):
        start_download(confined_alice.settings, confined_alice.alice, DownloadOptions(topic=bobs.topic, outdir="x"))
    root = (confined_alice.settings.users_dir / "alice").resolve()
    (root / "ok").mkdir()
    assert explore_folder(confined_alice.settings, confined_alice.alice, "ok") == root / "ok"
    assert explore_folder(confined_alice.settings, confined_alice.alice, str(root / "ok")) == root / "ok"


@pytest.mark.parametrize("catalogue", [a for a in ATTEMPTS if a] + ["/etc/passwd", "link-out/spec.yaml"])
def test_catalogue_path_of_a_spec(confined_alice, catalogue):
    """A spec's cross-match catalogue is a path too: outside the user's folder it is refused before
    the file is opened (no content of a server file can leak through a catalogue error)."""
    from engine.job.launcher import submit_job
    from engine.job.store import list_jobs

    spec = dict(SPEC, xmatch={"path": catalogue, "ra": "ra", "dec": "dec", "id": "name", "radius_arcsec": 2})
    with pytest.raises(UserError, match="is refused"):
        submit_job(confined_alice.settings, spec, user=confined_alice.alice)
    assert list_jobs(confined_alice.settings) == []


def test_catalogue_upload_is_kept_in_the_users_folder(confined_alice):
    from engine.xmatch import save_upload

    path = save_upload(confined_alice.settings, confined_alice.alice, "targets.csv", b"ra,dec,name\n1,2,a\n")
    assert path.parent == (confined_alice.settings.users_dir / "alice" / "uploads").resolve()
    for bad in ("../targets.csv", ".hidden.csv", "a/b.csv", "x\x00.csv"):
        with pytest.raises(UserError, match="is refused"):
            save_upload(confined_alice.settings, confined_alice.alice, bad, b"ra,dec\n")
