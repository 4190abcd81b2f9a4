"""Explore: table, classes, sky, magnitudes and light curves of the downloaded Parquet."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from components import alerts, charts, fmt, services, widgets
from engine.errors import UserError

settings = services.get_settings()
ss = st.session_state

st.title("Explore")
st.caption("A first look at downloaded alerts. For real analysis, read the folder with pandas, "
           "polars or Spark: it is a Hive-partitioned Parquet dataset.")

folders = [str(p) for p in services.parquet_folders(settings)]
wanted = st.query_params.get("folder")
if wanted and wanted not in folders:
    try:  # service mode: a folder from the URL must be inside the user's space
        checked = services.explore_folder(settings, wanted)
    except UserError as exc:
        widgets.show_user_error(exc)
        checked = wanted = None
    if checked and Path(checked).is_dir():
        if checked != str(Path(wanted).expanduser()):
            wanted = checked
        folders.insert(0, wanted)
if not folders:
    st.info("Nothing downloaded yet: download a topic first.", icon=":material/folder_open:")
    st.page_link("download.py", label="Download", icon=":material/download:")
    st.stop()
if wanted in folders and ss.get("_explore_url_folder") != wanted:
    ss["explore_folder"] = wanted
ss["_explore_url_folder"] = wanted
if ss.get("explore_folder") not in folders:
    ss["explore_folder"] = folders[0]

folder = st.selectbox("Downloaded folder", folders, key="explore_folder",
                      format_func=lambda f: str(Path(f).relative_to(settings.downloads_dir))
                      if Path(f).is_relative_to(settings.downloads_dir) else f)
widgets.remember_query_param("folder", folder)
ss["_explore_url_folder"] = folder

try:
    df = services.read_parquet(folder, services.folder_mtime(folder))
except Exception as exc:
    widgets.show_user_error(exc)
    st.stop()
if df.empty:
    st.warning("This folder holds no alerts.", icon=":material/search_off:")
    st.stop()

roles = alerts.columns_for(df)
m1, m2, m3, m4 = st.columns(4)
m1.metric("Alerts", fmt.count_h(len(df)))
m2.metric("Objects", fmt.count_h(df[roles.object_id].nunique()) if roles.object_id else "–")
m3.metric("Classes", fmt.count_h(df[roles.cls].nunique()) if roles.cls else "–")
m4.metric("Columns", fmt.count_h(len(df.columns)))

with st.expander("Table preview (first 200 alerts)", expanded=False):
    flat = [c for c in df.columns if df[c].dtype != object or isinstance(df[c].iloc[0], (str, type(None)))]
    st.dataframe(df[flat].head(200), width="stretch", height=300, hide_index=True)

c1, c2 = st.columns(2, gap="medium")
with c1:
    st.plotly_chart(charts.class_histogram(df, roles), width="stretch", key="class_hist",
                    config={"displayModeBar": False})
with c2:
    st.plotly_chart(charts.sky_map(df, roles), width="stretch", key="sky_map",
                    config={"displayModeBar": False})

c3, c4 = st.columns(2, gap="medium")
with c3:
    st.plotly_chart(charts.magnitude_distribution(df, roles), width="stretch", key="mag_hist",
                    config={"displayModeBar": False})
with c4:
    counts = alerts.alerts_per_object(df, roles)
    if counts:
        obj = st.selectbox("Object (most alerts first)", list(counts), key=f"explore_object_{folder}",
                           format_func=lambda o: f"{o} · {fmt.count_h(counts[o])} alert{'s' if counts[o] != 1 else ''}")
        points = alerts.photometry(df, obj, roles)
        st.plotly_chart(charts.light_curve(points, obj, roles.is_magnitude), width="stretch",
                        key="light_curve", config={"displayModeBar": False})
        if roles.history is None:
            st.caption("One point per alert of this object (this content has no history). "
                       "The Full content adds prv_candidates: earlier detections and upper limits.")
        elif (points["source"] == "upper limit").any():
            st.caption("Filled: the object's alerts; hollow: earlier detections from their history; "
                       "triangles: upper limits (diffmaglim of epochs without detection).")
    else:
        st.plotly_chart(charts.empty("No object identifier in this download"), width="stretch")
