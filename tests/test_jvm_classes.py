"""Class data sharing for local Spark jobs (engine/job/jvm_classes.py) and the job's early start.

The archive is only ever put in place whole (a truncated one makes the JVM die with SIGBUS), the
key follows java + Spark + the JVM options, and a job whose JVM mapped the archive of an earlier
one publishes the same alerts.
"""

from __future__ import annotations

import os
import subprocess
from types import SimpleNamespace

import pytest

from engine.job import jvm_classes
from engine.job.runner import known_engine


def _settings(folder, sharing=True, threshold=50_000):
    return SimpleNamespace(spark=SimpleNamespace(class_sharing=sharing, class_archive_dir=str(folder)),
                           jobs=SimpleNamespace(small_job_threshold=threshold))


def test_no_archive_yet_records_into_a_file_of_this_process(tmp_path):
    options, recording = jvm_classes.sharing_options(_settings(tmp_path / "jsa"), "-XX:+UseSerialGC")
    assert recording is not None and recording.parent == tmp_path / "jsa"
    assert str(os.getpid()) in recording.name and not recording.name.endswith(jvm_classes.SUFFIX)
    assert f"-XX:ArchiveClassesAtExit={recording}" in options


def test_a_kept_archive_is_mapped_and_nothing_is_recorded(tmp_path):
    key = jvm_classes.archive_key("-XX:+UseSerialGC")
    (tmp_path / f"{key}{jvm_classes.SUFFIX}").write_bytes(b"archive")
    options, recording = jvm_classes.sharing_options(_settings(tmp_path), "-XX:+UseSerialGC")
    assert recording is None and f"-XX:SharedArchiveFile={tmp_path / (key + jvm_classes.SUFFIX)}" in options


def test_the_key_follows_the_jvm_options_and_sharing_can_be_off(tmp_path):
    assert jvm_classes.archive_key("-XX:+UseSerialGC") != jvm_classes.archive_key("-XX:+UseG1GC")
    assert jvm_classes.archive_key("-XX:+UseSerialGC") == jvm_classes.archive_key("-XX:+UseSerialGC")
    assert jvm_classes.sharing_options(_settings(tmp_path, sharing=False), "") == ("", None)


def test_an_unwritable_folder_means_no_sharing(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert jvm_classes.sharing_options(_settings(blocker / "jsa"), "") == ("", None)


def test_recordings_of_dead_processes_are_deleted_live_ones_kept(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f"abc.{dead.pid}.recording"
    live = tmp_path / f"abc.{os.getppid()}.recording"
    stale.write_bytes(b"half")
    live.write_bytes(b"half")
    jvm_classes.sharing_options(_settings(tmp_path), "-XX:+UseSerialGC")
    assert not stale.exists() and live.exists()


def test_a_recording_whose_jvm_did_not_exit_cleanly_is_never_kept(tmp_path, monkeypatch):
    from pyspark import SparkContext

    recording = tmp_path / f"k1.{os.getpid()}.recording"
    recording.write_bytes(b"half written")
    failing = subprocess.Popen(["sh", "-c", "read x; exit 3"], stdin=subprocess.PIPE)
    monkeypatch.setattr(SparkContext, "_gateway", SimpleNamespace(proc=failing, shutdown=lambda: None))
    assert jvm_classes.finish_recording(recording) is False
    assert list(tmp_path.iterdir()) == []


def test_a_clean_exit_puts_the_archive_in_place_and_removes_older_keys(tmp_path, monkeypatch):
    from pyspark import SparkContext

    (tmp_path / f"old{jvm_classes.SUFFIX}").write_bytes(b"older key")
    recording = tmp_path / f"k2.{os.getpid()}.recording"
    recording.write_bytes(b"complete")
    clean = subprocess.Popen(["sh", "-c", "read x; exit 0"], stdin=subprocess.PIPE)
    monkeypatch.setattr(SparkContext, "_gateway", SimpleNamespace(proc=clean, shutdown=lambda: None))
    assert jvm_classes.finish_recording(recording) is True
    assert [p.name for p in tmp_path.iterdir()] == [f"k2{jvm_classes.SUFFIX}"]


@pytest.mark.parametrize("engine,estimated,known", [
    ("spark", None, "spark"), ("local", None, "local"), ("", None, "spark"),
    ("auto", 10, "local"), ("auto", 10**6, "spark"), ("auto", None, None),
])
def test_the_engine_is_known_before_planning_only_when_the_record_tells(engine, estimated, known):
    rec = SimpleNamespace(engine=engine, estimated=estimated)
    assert known_engine(_settings("unused"), rec) == known


def test_while_another_live_process_records_a_job_neither_records_nor_maps(tmp_path):
    key = jvm_classes.archive_key("-XX:+UseSerialGC")
    (tmp_path / f"{key}.{os.getppid()}.recording").write_bytes(b"being written")
    assert jvm_classes.sharing_options(_settings(tmp_path), "-XX:+UseSerialGC") == ("", None)
    _options, recording = jvm_classes.sharing_options(_settings(tmp_path), "-XX:+UseG1GC")
    assert recording is not None  # a recording of another key does not hold this one back
