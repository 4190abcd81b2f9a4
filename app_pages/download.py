"""Download: fetch a topic to Parquet in a separate process, with live progress; resumable."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import streamlit as st

from components import fmt, services, widgets
from engine import surveys
from engine.errors import UserError
from kafka_io.topics import parse_topic_name

settings = services.get_settings()
ss = st.session_state

st.title("Download")
st.caption("Downloads run in their own process: you can leave this page, come back, or resume a "
           "stopped download where it ended. The completion manifest proves nothing is missing.")

problem = services.broker_problem(settings)
if problem:
    st.error(problem, icon=":material/power_off:")

# Topics to offer: finished jobs first (newest first), then other topics on the broker.
try:
    records = services.jobs(settings)
except UserError as exc:
    widgets.show_user_error(exc)
    records = []
topics = [r.topic for r in records if r.state == "done"]
survey_of = {r.topic: r.survey for r in records}
if not problem:
    try:
        for t in services.broker_topics(settings):
            name = t.get("topic") if isinstance(t, dict) else str(t)
            if name and name not in topics:
                topics.append(name)
    except UserError as exc:
        widgets.show_user_error(exc)

wanted = st.query_params.get("topic")
if wanted and wanted not in topics:
    topics.insert(0, wanted)
if not topics:
    st.info("No topic to download yet: submit a job and wait until it is done.", icon=":material/folder_open:")
    st.stop()
if wanted and ss.get("_download_url_topic") != wanted:
    ss["download_topic"] = wanted
ss["_download_url_topic"] = wanted
if ss.get("download_topic") not in topics:
    ss["download_topic"] = topics[0]

with st.container(border=True):
    topic = st.selectbox("Topic", topics, key="download_topic")
    widgets.remember_query_param("topic", topic)
    ss["_download_url_topic"] = topic
    survey = survey_of.get(topic) or (parse_topic_name(topic) or {}).get("survey", surveys.DEFAULT).split("_v")[0]
    survey = survey if survey in surveys.NAMES else surveys.DEFAULT
    c1, c2, c3 = st.columns(3)
    cpus = os.cpu_count() or 1
    nconsumers = c1.number_input("Processes", min_value=1, max_value=max(1, min(10, cpus * 2)),
                                 value=min(2, cpus), step=1, key="download_processes",
                                 help="Parallel consumers (at most one per Kafka partition: 10).")
    batchsize = c2.number_input("Batch size (alerts per file)", min_value=100, max_value=100_000,
                                value=5000, step=500, key="download_batchsize")
    partitionings = list(surveys.get(survey).partitionings)
    partitionby = c3.selectbox("Partition folders by", partitionings, key=f"download_partitionby_{survey}",
                               help="Hive-style folders (finkclass=SN candidate/...); none = one flat folder.")
    outdir = st.text_input("Output folder", value=str(services.download_dir(settings, topic) / "parquet"),
                           key=f"download_outdir_{topic}")

status = None
try:
    status = services.download_status(settings, topic)
except UserError as exc:
    widgets.show_user_error(exc)

running = bool(status and status.active)
complete = bool(status and status.complete)
label = "Resume download" if status and not complete and not running else "Start download"
b1, b2, _ = st.columns([1, 1, 2])
start = b1.button(label, type="primary", key="download_start", disabled=running or bool(problem),
                  width="stretch")
stop = b2.button("Stop", key="download_stop", disabled=not running, width="stretch")

if start:
    if not outdir.strip():
        st.error("Give an output folder.", icon=":material/folder:")
    else:
        try:
            services.start_download(settings, topic, str(Path(outdir).expanduser()), nconsumers,
                                    batchsize, None if partitionby == "none" else partitionby)
            st.rerun()
        except UserError as exc:
            widgets.show_user_error(exc)
if stop:
    try:
        services.cancel_download(settings, topic)
        st.rerun()
    except UserError as exc:
        widgets.show_user_error(exc)


@st.fragment(run_every=2.0 if running else None)
def live_download() -> None:
    """Polls the download's status file; a full rerun once it ends stops the polling."""
    try:
        st_now = services.download_status(settings, topic)
    except UserError as exc:
        widgets.show_user_error(exc)
        return
    if st_now is None:
        st.caption("Not downloaded yet.")
        return
    with st.container(border=True):
        st.markdown(f"##### {widgets.state_label(st_now.state)} &nbsp; `{topic}`")
        m1, m2, m3, m4 = st.columns(4)
        m1.metric("Alerts written", fmt.count_h(st_now.downloaded))
        m2.metric("Expected", fmt.count_h(st_now.expected))
        m3.metric("Speed", f"{st_now.rate:,.0f} alerts/s" if st_now.rate else "–")
        m4.metric("Throughput", f"{fmt.bytes_h(st_now.rate_mb * 1e6)}/s" if st_now.rate_mb else "–")
        if st_now.waiting_for_job:
            st.info("The job is still publishing: the download follows it.", icon=":material/hourglass_top:")
        frac = min(1.0, st_now.downloaded / st_now.expected) if st_now.expected else 0.0
        st.progress(1.0 if st_now.complete else frac,
                    text="Complete: every alert of the manifest is on disk." if st_now.complete
                    else f"{frac:.0%}")
        if st_now.error:
            st.error(st_now.error, icon=":material/error:")
        if st_now.complete:
            st.success(f"All {fmt.count_h(st_now.downloaded)} alerts of the job's manifest are in "
                       f"`{st_now.outdir}`.", icon=":material/task_alt:")
            st.page_link("explore.py", label="Explore the downloaded alerts",
                         icon=":material/insights:", query_params={"folder": st_now.outdir})
        if st_now.partitions:
            per_part = (st_now.manifest or {}).get("partitions") or {}
            rows = [dict(p, complete=bool((per_part.get(str(p["partition"])) or {}).get("complete")))
                    for p in st_now.partitions]
            st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", height=213,
                         column_config={"complete": st.column_config.CheckboxColumn("complete")})
        if st_now.manifest:
            with st.expander("Completeness manifest (JSON)", expanded=False):
                st.json(st_now.manifest, expanded=1)
    if not st_now.active and running:
        st.rerun()


live_download()
