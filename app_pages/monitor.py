"""Monitor: every job with its live progress and log, and the topics on the broker."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from components import fmt, services, widgets
from engine.errors import UserError

settings = services.get_settings()
ss = st.session_state

st.title("Monitor")
st.caption("Jobs publish your selection to a Kafka topic. Progress refreshes by itself while a job runs.")

try:
    records = services.jobs(settings)
except UserError as exc:
    widgets.show_user_error(exc)
    records = []

if not records:
    st.info("No job yet: define a query and submit a job first.", icon=":material/folder_open:")
    st.page_link("query.py", label="Define your query", icon=":material/tune:")
else:
    retention = settings.kafka.retention_days * 86400
    places = {r.job_id: services.queue_position(settings, r.job_id, records) for r in records if r.waiting}
    table = pd.DataFrame([{
        "job": r.job_id,
        "state": f"queued (#{places[r.job_id]})" if places.get(r.job_id) else r.state,
        "kind": "test" if r.test else "full",
        "topic": r.topic,
        "published": r.published,
        "estimated": r.estimated,
        "submitted": fmt.when_h(r.created),
        "topic expires": fmt.when_h(r.created + retention),
        **({"owner": r.owner, "shared with": ", ".join(r.shared_with or [])} if r.owner else {}),
    } for r in records])
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={"published": st.column_config.NumberColumn(format="localized"),
                                "estimated": st.column_config.NumberColumn(format="localized")})

    ids = [r.job_id for r in records]
    wanted = st.query_params.get("job")
    if wanted in ids and ss.get("monitor_job") != wanted and ss.get("_monitor_url_job") != wanted:
        ss["monitor_job"] = wanted  # a reload or a link reattaches to the job in the URL
    ss["_monitor_url_job"] = wanted
    if ss.get("monitor_job") not in ids:
        ss["monitor_job"] = ids[0]
    job_id = st.selectbox("Job", ids, key="monitor_job",
                          format_func=lambda i: f"{i} · {next(r.topic for r in records if r.job_id == i)}")
    widgets.remember_query_param("job", job_id)
    ss["_monitor_url_job"] = job_id

    first = services.job(settings, job_id)

    def share_panel(rec) -> None:
        """Service mode: give another user READ access to this job's topic."""
        others = [u for u in services.other_users(settings) if u != rec.owner and u not in (rec.shared_with or [])]
        if rec.shared_with:
            st.caption(f"Shared with: {', '.join(rec.shared_with)}")
        if not others:
            return
        c1, c2 = st.columns([3, 1])
        other = c1.selectbox("Share this topic with", others, key="share_with", index=None,
                             placeholder="a user name")
        if c2.button("Share", key="share_job", disabled=other is None, width="stretch"):
            try:
                services.share(settings, job_id, other)
            except UserError as exc:
                widgets.show_user_error(exc)
                return
            st.toast(f"{rec.topic} shared with {other}")
            st.rerun(scope="fragment")  # show the new "Shared with"

    @st.fragment(run_every=None if first.state in widgets.TERMINAL else 2.0)
    def live_job() -> None:
        """Polls the job's status file; asks for a full rerun once the job ends (stops polling)."""
        rec = services.job(settings, job_id)
        with st.container(border=True):
            head, action = st.columns([4, 1])
            head.markdown(f"##### {widgets.state_label(rec.state)} &nbsp; `{rec.topic}`")
            if rec.active and action.button("Cancel job", key="cancel_job", type="secondary",
                                            width="stretch"):
                try:
                    rec = services.cancel(settings, job_id)
                except UserError as exc:
                    widgets.show_user_error(exc)
                st.rerun()
            if rec.waiting:
                place = services.queue_position(settings, job_id)
                st.info(f"Queued: position {place} in the queue (jobs start round-robin across users "
                        f"when a slot frees).", icon=":material/schedule:")
            m1, m2, m3, m4 = st.columns(4)
            m1.metric("Published", fmt.count_h(rec.published))
            m2.metric("Estimated (whole query)" if rec.test else "Estimated", fmt.count_h(rec.estimated),
                      help="A test job stops after a few alerts." if rec.test else None)
            m3.metric("Volume", fmt.bytes_h(rec.bytes) if rec.bytes else "–")
            end = rec.finished or (time.time() if rec.started else None)
            m4.metric("Elapsed", fmt.duration_h(end - rec.started) if rec.started and end else "–")
            if rec.state == "done":
                st.progress(1.0, text="Published: the topic is ready to download.")
            elif rec.active:
                total = rec.estimated or 0
                frac = min(1.0, rec.published / total) if total else 0.0
                st.progress(frac, text=f"{rec.state}… {fmt.count_h(rec.published)} alerts published")
            elif rec.state == "failed":
                st.error(f"Job failed: {rec.error or 'see the log below'}", icon=":material/error:")
            else:
                st.warning("Job cancelled.", icon=":material/stop_circle:")
            if rec.state == "done":
                st.page_link("download.py", label="Download this topic",
                             icon=":material/download:", query_params={"topic": rec.topic})
            if rec.owner and rec.topic:
                share_panel(rec)
            with st.expander("Log", expanded=True):
                st.code(services.job_log(settings, job_id, tail=60) or "(empty)", language=None,
                        wrap_lines=True)
        if rec.state in widgets.TERMINAL and first.state not in widgets.TERMINAL:
            st.rerun()  # the page rebuilds this fragment without run_every: polling stops

    live_job()

st.subheader("Topics on the broker")
problem = services.broker_problem(settings)
if problem:
    st.error(problem, icon=":material/power_off:")
else:
    try:
        topics = services.broker_topics(settings)
    except UserError as exc:
        widgets.show_user_error(exc)
        topics = []
    if topics:
        st.dataframe(pd.DataFrame(topics), hide_index=True, width="stretch",
                     column_config={"created": st.column_config.DatetimeColumn("created (UTC)", format="YYYY-MM-DD HH:mm"),
                                    "expires": st.column_config.DatetimeColumn("expires (UTC)", format="YYYY-MM-DD HH:mm"),
                                    "total": st.column_config.NumberColumn("alerts", format="localized")})
    else:
        st.caption("No transfer topic on the broker.")

entries = services.audit_entries(settings)
if entries is not None:  # service mode, admin only
    st.subheader("Audit log")
    if entries:
        for e in entries:
            e["when"] = fmt.when_h(e.pop("ts", None))
        st.dataframe(pd.DataFrame(entries), hide_index=True, width="stretch")
    else:
        st.caption("Nothing recorded yet.")
