"""Define your query: source, nights, classes, conditions, content -> live estimate -> job."""

from __future__ import annotations

import streamlit as st

from components import charts, fmt, services, widgets, xmatch_widget
from engine.content import content_options
from engine import surveys
from engine.errors import UserError
from engine.query import JobSpec, parse_conditions_text
from kafka_io.topics import client_command

settings = services.get_settings()
ss = st.session_state
ss.setdefault("survey", surveys.DEFAULT)

st.title("Define your query")
st.caption("Choose what to transfer; the estimate on the right follows every change. "
           "A **test job** publishes a handful of alerts so you can try the download first.")


def apply_uploaded_spec(spec) -> None:
    """Fill the widgets from a validated JobSpec (before they are drawn)."""
    s = spec.survey
    ss["survey"] = s
    ss[f"nights_{s}"] = (spec.start, spec.stop)
    ss[f"conditions_{s}"] = "\n".join(spec.conditions)
    ss[f"content_{s}"] = spec.content
    ss[f"fields_{s}"] = list(spec.fields)
    ss[f"filters_{s}"] = list(spec.filters)
    groups = services.class_groups(s)
    for group, labels in groups.items():
        ss[f"classes_{s}_{group}"] = [c for c in spec.classes if c in labels and c != "allclasses"]


with st.expander("Load a configuration (YAML)", icon=":material/upload_file:"):
    upload = st.file_uploader("Job spec YAML (as downloaded after a submission)", type=["yml", "yaml"],
                              key="spec_upload")
    if upload is not None and ss.get("_spec_upload_id") != upload.file_id:
        try:
            loaded = services.load_spec_yaml(upload.getvalue())
            ss["_spec_upload_id"] = upload.file_id
            apply_uploaded_spec(loaded)
            ss["_spec_upload_ok"] = f"Loaded {upload.name}: {loaded.survey}, {loaded.start} to {loaded.stop}."
            st.rerun()
        except UserError as exc:
            widgets.show_user_error(exc)
    if ss.get("_spec_upload_ok"):
        st.success(ss["_spec_upload_ok"], icon=":material/check:")

left, right = st.columns([1.2, 1], gap="large")

# ------------------------------------------------------------------------------ inputs (left)
with left:
    with st.container(border=True):
        st.markdown("##### 1 · Data source")
        survey = st.segmented_control("Data source", list(services.SURVEY_LABELS), required=True,
                                      format_func=services.SURVEY_LABELS.get, key="survey",
                                      label_visibility="collapsed")
        nights = services.archive_nights(settings, survey)
        if not nights:
            st.error(f"No {services.SURVEY_LABELS[survey]} archive in {settings.archive_dir(survey)}: "
                     f"build one with `fink-transfer archive build --survey {survey}`.", icon=":material/warning:")
            st.stop()
        st.caption(f"Archive: {len(nights)} nights from {nights[0]} to {nights[-1]}.")

    with st.container(border=True):
        st.markdown("##### 2 · Nights")
        night_range = widgets.night_range(nights, key=f"nights_{survey}")
        if night_range:
            gaps = widgets.missing_nights(nights, *night_range)
            if gaps:
                shown = ", ".join(str(d) for d in gaps[:5]) + (" …" if len(gaps) > 5 else "")
                st.caption(f":material/warning: {len(gaps)} night(s) of the range have no data: {shown}")

    with st.container(border=True):
        st.markdown("##### 3 · Classes")
        groups = services.class_groups(survey)
        names = list(groups)
        rows = [names[:1], names[1:]] if len(names) > 1 else [names]
        classes: list[str] = []
        for row in rows:
            for col, group in zip(st.columns(len(row)), row):
                with col:
                    classes += st.multiselect(group, groups[group], key=f"classes_{survey}_{group}",
                                              placeholder=f"any {group} class")
        if classes:
            st.caption(f"{len(classes)} class(es) chosen; an alert matching any of them is selected.")
        else:
            st.caption("No class chosen: every class is selected.")
        filter_captions = services.filter_labels(survey)
        fink_filters: list[str] = []
        if filter_captions:
            fink_filters = st.multiselect(
                "Fink filters and blocks (all must hold; NOT negates)", list(filter_captions),
                key=f"filters_{survey}", format_func=filter_captions.get, placeholder="no filter",
                help="Vetted Fink expressions, run by the same condition compiler. The estimate "
                     "multiplies by each measured yield (1 - yield for NOT).")

    with st.container(border=True):
        st.markdown("##### 4 · Conditions")
        example = surveys.get(survey).example_conditions
        conditions_text = st.text_area(
            "One SQL condition per line (all must hold)", key=f"conditions_{survey}", height=110,
            placeholder=example,
            help="Spark SQL boolean expressions over the alert fields, e.g. "
                 "`candidate.magpsf < 19.5`. Browse the fields below.")
        try:
            issues = services.condition_issues(conditions_text, survey)
        except UserError as exc:
            issues = []
            widgets.show_user_error(exc)
        lines = conditions_text.splitlines()
        for issue in issues:
            text = lines[issue.line - 1].strip() if 0 < issue.line <= len(lines) else ""
            st.error(f"Line {issue.line}: `{text}` — {issue.message}", icon=":material/edit_note:")
        if conditions_text.strip() and not issues:
            st.caption(f"✓ {len(parse_conditions_text(conditions_text))} condition(s) valid. "
                       "The estimate does not apply them (they can only lower it): use *Exact count*.")
        fields = services.schema_fields(survey)
        with st.expander(f"Fields you can use ({len(fields)})"):
            search = st.text_input("Search fields", key=f"field_search_{survey}",
                                   placeholder="e.g. magpsf", label_visibility="collapsed")
            shown = fields[fields["field"].str.contains(search, case=False, regex=False)] if search else fields
            st.dataframe(shown, hide_index=True, height=220, width="stretch")
        functions = services.condition_functions()
        with st.expander(f"Functions and operators you can use ({len(functions)})"):
            st.caption("Anything else is refused. Integer arithmetic wraps around on overflow, as in Spark.")
            st.dataframe(functions, hide_index=True, height=220, width="stretch")

    with st.container(border=True):
        st.markdown("##### 5 · Content")
        choices = content_options(survey)
        by_key = {c["key"]: c for c in choices}
        by_key["custom"] = {"key": "custom", "label": "Custom fields"}
        content = st.radio("Content", list(by_key), key=f"content_{survey}", horizontal=True,
                           label_visibility="collapsed",
                           format_func=lambda k: by_key[k]["label"])
        chosen_fields: list[str] = []
        if content == "custom":
            options = services.field_options(settings, survey)
            info = {r.field: f"{r.field}  ·  {r.type}" + (f"  ·  {fmt.bytes_h(r.bytes)}" if r.bytes == r.bytes
                                                          and r.bytes is not None else "")
                    for r in options.itertuples()}
            chosen_fields = st.multiselect(
                "Fields or whole sections (type · measured bytes per alert)", list(info), key=f"fields_{survey}",
                format_func=info.get, placeholder="e.g. diaSource.psfFlux, xm",
                help="`a.b` is published as a root column `b`; a section keeps its structure. The column "
                     "the client partitions on is always added.")
        content_note = st.empty()  # filled once the estimate gives the size measured on this archive

    xmatch_options, xmatch_ok = xmatch_widget.xmatch_inputs(settings, survey)
    dataset_options, dataset_ok = xmatch_widget.dataset_inputs(survey)

# --------------------------------------------------------------------- estimate and job (right)
with right:
    spec = None
    if night_range is None:
        st.info("Pick the last night of the range to see the estimate.", icon=":material/calendar_month:")
    else:
        try:
            spec = JobSpec(survey=survey, start=night_range[0], stop=night_range[1],
                           classes=classes or ["allclasses"], conditions=conditions_text,
                           content=content, fields=chosen_fields, filters=fink_filters,
                           xmatch=xmatch_options, dataset=dataset_options)
            if content == "custom" and not chosen_fields:
                spec = None
                st.info("Pick at least one field for a custom content.", icon=":material/checklist:")
        except UserError as exc:
            widgets.show_user_error(exc)

    est = None
    if spec is not None:
        try:
            est = services.estimate(settings, spec)
        except UserError as exc:
            widgets.show_user_error(exc)

    if est is not None:
        with st.container(border=True):
            st.markdown("##### Estimate")
            m1, m2, m3 = st.columns(3)
            m1.metric("Alerts", fmt.count_h(est.n_alerts))
            m2.metric("Volume", fmt.bytes_h(est.bytes))
            m3.metric("Download time", fmt.duration_h(est.download_seconds),
                      help="At the consumer speed measured on this machine (docs/benchmarks.md).")
            st.caption(f"{est.fraction:.1%} of the {fmt.count_h(est.total_alerts)} alerts of "
                       f"{est.nights_with_data} night(s) with data.")
            if est.adjustments:
                st.caption(f"Options applied: {est.adjustments} (*Exact count* applies the cross-match for real).")
            if est.n_alerts:
                content_note.caption(f"Measured on this archive: {fmt.bytes_h(est.bytes / est.n_alerts)} "
                                     f"per alert for this content (the label gives the real Fink size).")
            if est.n_alerts == 0:
                st.warning("No alerts match: try other nights or classes.", icon=":material/search_off:")
            elif est.n_alerts > 10_000_000:
                st.warning("More than 10 million alerts: consider fewer nights or a class.", icon=":material/inventory_2:")
            eras = services.eras_in(settings, survey, night_range[0], night_range[1])
            if len(eras) > 1:
                st.info(f"The range spans {len(eras)} schema periods ({', '.join(eras)}). "
                        "They are read with one unified schema: fields absent from a period are null.",
                        icon=":material/layers:")
            st.plotly_chart(charts.alerts_per_night(est.per_night), width="stretch",
                            config={"displayModeBar": False}, key="estimate_chart")

            if st.button("Exact count (with conditions)", key="exact_count",
                         help="Reads the archive: a few seconds per night."):
                with st.spinner("Counting in the archive…"):
                    try:
                        result = services.exact_count(settings, spec)
                        ss["exact"] = (spec.to_yaml(), result.count, result.method, result.seconds)
                    except UserError as exc:
                        widgets.show_user_error(exc)
            exact = ss.get("exact")
            if exact and exact[0] == spec.to_yaml():
                how = "Exactly" if exact[2] == "exact" else f"About ({exact[2]})"
                st.success(f"{how} **{fmt.count_h(exact[1])}** alerts match, conditions included "
                           f"(counted in {fmt.duration_h(exact[3])}).", icon=":material/task_alt:")

    with st.container(border=True):
        st.markdown("##### Launch")
        problem = services.broker_problem(settings)
        if problem:
            st.error(problem, icon=":material/power_off:")
        ready = est is not None and not issues and not problem and est.n_alerts > 0 and xmatch_ok and dataset_ok
        b1, b2 = st.columns(2)
        test_clicked = b1.button("Test job (a few alerts)", key="test_job", disabled=not ready,
                                 width="stretch")
        submit_clicked = b2.button("Submit job", key="submit_job", type="primary", disabled=not ready,
                                   width="stretch")
        if (test_clicked or submit_clicked) and ready:
            try:
                rec = services.submit(settings, spec, test=test_clicked, estimated=est.n_alerts)
                ss["submission"] = {"job_id": rec.job_id, "topic": rec.topic, "test": test_clicked,
                                    "survey": survey, "spec_yaml": services.job_spec_yaml(settings, rec.job_id)}
                widgets.remember_query_param("job", rec.job_id)
            except UserError as exc:
                widgets.show_user_error(exc)

        sub = ss.get("submission")
        url_job = st.query_params.get("job")
        if url_job and (not sub or sub["job_id"] != url_job):
            try:  # a reload (or a shared link) reattaches to the job named in the URL
                rec = services.job(settings, url_job)
                sub = ss["submission"] = {"job_id": rec.job_id, "topic": rec.topic, "test": rec.test,
                                          "survey": rec.survey,
                                          "spec_yaml": services.job_spec_yaml(settings, rec.job_id)}
            except UserError:  # no such job (any more)
                widgets.remember_query_param("job", None)
        if sub:
            kind = "Test job" if sub["test"] else "Job"
            st.success(f"{kind} **{sub['job_id']}** started. Your topic name is **`{sub['topic']}`**.",
                       icon=":material/rocket_launch:")
            st.markdown("Get your data with the official client (or the *Download* page):")
            account = services.connection_details(settings)
            if account:  # service mode: the client authenticates as this user
                st.markdown(f"Once, register your credentials (user **{account['username']}**, group id "
                            f"**{account['group_id']}**, servers **{account['servers']}**; the password is "
                            f"your login password):")
                st.code(account["register"], language="bash", wrap_lines=True)
                st.caption("With `finkctl transfer` (fink-client 12.3 sends no credentials), run your own "
                           "SCRAM proxy and register it as the servers:")
                st.code(account["proxy"], language="bash", wrap_lines=True)
            st.code(client_command(sub["topic"], sub["survey"]), language="bash", wrap_lines=True)
            c1, c2 = st.columns(2)
            c1.download_button("Job spec (YAML)", data=sub["spec_yaml"], file_name="spec.yaml",
                               mime="application/x-yaml", key="spec_download", on_click="ignore",
                               icon=":material/description:", width="stretch",
                               help="Resubmit later with: fink-transfer submit --spec spec.yaml")
            c2.page_link("monitor.py", label="Monitor this job", icon=":material/monitoring:",
                         query_params={"job": sub["job_id"]})
