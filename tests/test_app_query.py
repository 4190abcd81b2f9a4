"""AppTest: the 'Define your query' page against a real archive, index and broker."""

from __future__ import annotations

import datetime as dt

from tests.helpers import assert_clean, metric, new_app


def _count(text: str) -> int:
    return int(text.replace(",", ""))


def _nights(settings, survey="ztf"):
    from components.services import archive_nights

    return archive_nights(settings, survey)


def test_page_renders_a_live_estimate(app_settings):
    at = new_app().run()
    assert_clean(at)
    assert at.title[0].value == "Define your query"
    assert at.segmented_control(key="survey").value == "ztf"
    assert _count(metric(at, "Alerts")) > 0
    assert metric(at, "Volume").endswith("B")
    assert not at.button(key="test_job").disabled
    # the field browser lists the unified schema with types
    fields = at.dataframe[0].value
    assert "candidate.magpsf" in set(fields["field"])
    # and the functions the checker accepts, from the same table (engine.condition_functions)
    helps = [d.value for d in at.dataframe if "call" in d.value.columns]
    assert len(helps) == 1 and {"floor(number)", "size(array)"} <= set(helps[0]["call"])


def test_estimate_follows_class_choice(app_settings):
    at = new_app().run()
    nights = _nights(app_settings)
    at.date_input(key="nights_ztf").set_value((nights[0], nights[-1])).run()
    everything = _count(metric(at, "Alerts"))
    fink = at.multiselect(key="classes_ztf_Fink")
    rare = [o for o in fink.options if o not in ("allclasses",)][0]
    fink.set_value([rare]).run()
    assert_clean(at)
    some = _count(metric(at, "Alerts"))
    assert some < everything


def test_half_picked_range_is_not_an_error(app_settings):
    at = new_app().run()
    first = _nights(app_settings)[0]
    at.date_input(key="nights_ztf").set_value((first,)).run()
    assert not at.exception
    assert any("last night" in i.value for i in at.info)
    assert at.button(key="submit_job").disabled


def test_bad_condition_is_reported_on_its_line(app_settings):
    at = new_app().run()
    at.text_area(key="conditions_ztf").input("candidate.magpsf < 19.5\ncandidate.nosuchfield > 1").run()
    assert not at.exception
    messages = [e.value for e in at.error]
    assert any(m.startswith("Line 2:") and "nosuchfield" in m for m in messages), messages
    assert at.button(key="test_job").disabled
    at.text_area(key="conditions_ztf").input("candidate.magpsf < 19.5").run()
    assert_clean(at)
    assert not at.button(key="test_job").disabled


def test_mixed_schema_periods_are_announced(app_settings):
    at = new_app().run()
    nights = _nights(app_settings)
    assert nights[0] < dt.date(2022, 1, 1) <= nights[-1]
    at.date_input(key="nights_ztf").set_value((nights[0], nights[-1])).run()
    assert any("schema periods" in i.value for i in at.info)


def test_elasticc_source(app_settings):
    from engine.content import content_options

    at = new_app().run()
    assert at.radio(key="content_ztf").options == [c["label"] for c in content_options("ztf")] + ["Custom fields"]
    at.segmented_control(key="survey").set_value("elasticc").run()
    assert_clean(at)
    assert _count(metric(at, "Alerts")) > 0
    content = at.radio(key="content_elasticc")  # ELASTICC packets have no lightcurve/cutout subsets
    assert content.options == [c["label"] for c in content_options("elasticc")] + ["Custom fields"]
    assert content.value == "full"


def test_lsst_source_with_presets_fields_and_blocks(app_settings):
    at = new_app().run()
    at.segmented_control(key="survey").set_value("lsst").run()
    assert_clean(at)
    everything = _count(metric(at, "Alerts"))
    assert everything > 0
    assert at.radio(key="content_lsst").options[:4] == ["Full packet (~137 KB/alert)",
                                                        "Medium packet: all but cutouts (~80 KB/alert)",
                                                        "Light static packet (~1.7 KB/alert)",
                                                        "Light SSO packet (~1.7 KB/alert)"]
    full_volume = metric(at, "Volume")
    at.radio(key="content_lsst").set_value("custom").run()
    fields = at.multiselect(key="fields_lsst")
    shown = {o.split("  ·  ")[0]: o for o in fields.options}   # "field  ·  type  ·  measured bytes"
    assert shown["diaSource.psfFlux"].split("  ·  ")[1] == "float" and shown["xm"].endswith(" B")
    fields.set_value(["diaSource.psfFlux", "xm"]).run()
    assert_clean(at)
    assert metric(at, "Volume") != full_volume
    at.multiselect(key="filters_lsst").set_value(["NOT b_is_solar_system"]).run()
    assert_clean(at)
    assert 0 < _count(metric(at, "Alerts")) < everything
    assert not at.button(key="test_job").disabled


def test_broker_down_is_one_line(app_settings, monkeypatch):
    from kafka_io.broker import free_port

    monkeypatch.setenv("FINK_TRANSFER_KAFKA__BOOTSTRAP_SERVERS", f"127.0.0.1:{free_port()}")
    at = new_app().run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "not reachable" in errors[0] and "\n" not in errors[0]
    assert at.button(key="submit_job").disabled
