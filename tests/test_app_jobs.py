"""AppTest: Test job -> Monitor -> Download -> Explore, with the real job process, broker and consumer.

One module-wide flow (each step needs the previous one's result), one test per page.
"""

from __future__ import annotations


from tests.helpers import assert_clean, cli, download_to_completion, metric, new_app, rerun_until


def published(settings, job_id: str, topic: str) -> int:
    """Alerts the job published, once it is done, from the topic's completion manifest.

    Each test gets it itself, so none depends on another having run (or waited) first.
    """
    from engine.job.launcher import wait_job
    from kafka_io.client_config import base_config
    from kafka_io.manifest import read_manifest

    rec = wait_job(settings, job_id, timeout=180)
    assert rec.state == "done", rec.error
    return read_manifest(base_config(settings), topic).total


def test_submission_shows_topic_command_and_spec(submitted):
    job_id, topic, at = submitted
    assert topic.startswith("ftransfer_ztf_")
    assert any(topic in s.value for s in at.success)
    assert any(f"-topic {topic}" in c.value for c in at.code)
    assert at.query_params["job"] == job_id  # the URL names the job, so a reload reattaches to it
    assert at.get("download_button"), "the job spec is offered as a YAML download"
    from engine.query import JobSpec

    spec = JobSpec.from_yaml(at.session_state["submission"]["spec_yaml"])
    assert spec.topic == topic and spec.conditions == ["candidate.magpsf < 25"]


def test_monitor_follows_the_job_to_done(submitted, app_settings):
    job_id, topic, _ = submitted
    at = new_app()
    at.query_params["job"] = job_id
    at.switch_page("monitor.py")
    at = rerun_until(at, lambda a: any("done" in m.value for m in a.markdown)
                     or any("failed" in e.value for e in a.error), timeout=180)
    assert_clean(at)
    assert at.selectbox(key="monitor_job").value == job_id
    assert int(metric(at, "Published").replace(",", "")) == published(app_settings, job_id, topic) > 0
    logs = [c.value for c in at.code]
    assert logs and logs[0].strip()
    # the topic table lists the topic with its expiry
    tables = [d.value for d in at.dataframe]
    assert any(topic in set(t.get("topic", [])) for t in tables)


def test_download_page_downloads_the_topic(submitted, app_settings):
    job_id, topic, _ = submitted
    expected = published(app_settings, job_id, topic)
    at = download_to_completion(topic)
    assert_clean(at)
    written = int(metric(at, "Alerts written").replace(",", ""))
    assert written == expected > 0
    assert at.json, "the completeness manifest is shown"


def test_download_again_resumes_without_duplicates(submitted, app_settings):
    job_id, topic, _ = submitted
    expected = published(app_settings, job_id, topic)
    at = download_to_completion(topic)
    assert int(metric(at, "Alerts written").replace(",", "")) == expected


def test_reload_reattaches_to_the_job_in_the_url(submitted, app_settings):
    job_id, topic, _ = submitted
    at = new_app()
    at.query_params["job"] = job_id
    at.run()
    assert_clean(at)
    assert any(topic in s.value for s in at.success)


def test_explore_page_shows_the_download(submitted, app_settings):
    job_id, topic, _ = submitted
    expected = published(app_settings, job_id, topic)
    # the download this page explores, made here (resumed if the Download tests already made it)
    outdir = app_settings.downloads_dir / topic / "parquet"
    done = cli("download", "-topic", topic, "-outdir", str(outdir), "-partitionby", "finkclass")
    assert done.returncode == 0, done.stderr
    at = new_app()
    at.switch_page("explore.py").run()
    assert_clean(at)
    assert int(metric(at, "Alerts").replace(",", "")) == expected > 0
    keys = {c.proto.id for c in at.get("plotly_chart")}
    assert len(at.get("plotly_chart")) == 4, keys
    assert at.selectbox(key="explore_folder").value


def test_cancel_from_monitor(app_settings, monkeypatch):
    # Spark engine: its start-up (~10-20 s) leaves the job running when we press Cancel
    monkeypatch.setenv("FINK_TRANSFER_JOBS__SMALL_JOB_THRESHOLD", "0")
    at = new_app().run()
    at.button(key="submit_job").click().run()
    job_id = at.session_state["submission"]["job_id"]
    at = new_app()
    at.query_params["job"] = job_id
    at.switch_page("monitor.py").run()
    assert_clean(at)
    at.button(key="cancel_job").click().run()
    at = rerun_until(at, lambda a: any("cancelled" in m.value for m in a.markdown), timeout=60)
    assert not at.exception
    assert not at.get("button") or all(b.key != "cancel_job" for b in at.button)
