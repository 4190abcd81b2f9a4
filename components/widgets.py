"""Small Streamlit building blocks shared by the pages (guards, banners, state helpers)."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from engine.errors import UserError
from engine.job.store import TERMINAL as JOB_TERMINAL

STATE_ICONS = {"queued": ":gray[:material/schedule:]", "starting": ":blue[:material/autorenew:]",
               "running": ":blue[:material/autorenew:]", "done": ":green[:material/check_circle:]",
               "failed": ":red[:material/error:]", "cancelled": ":gray[:material/cancel:]"}
TERMINAL = JOB_TERMINAL  # the states a job (or a download) ends in


def state_label(state: str) -> str:
    """Markdown: a coloured icon and the state name."""
    return f"{STATE_ICONS.get(state, ':material/help:')} {state}"


def night_range(nights: list[dt.date], key: str, default_nights: int = 3) -> tuple[dt.date, dt.date] | None:
    """A calendar limited to the archive's span; None while only the first night is picked.

    ``st.date_input`` returns a one-element tuple between the two clicks of a range pick: that
    is a normal state, not an error, so it only earns a hint.
    """
    lo, hi = nights[0], nights[-1]
    default = (nights[max(0, len(nights) - default_nights)], hi)
    current = st.session_state.get(key)
    if isinstance(current, (tuple, list)) and any(d < lo or d > hi for d in current):
        del st.session_state[key]  # the archive changed under us: start again from the default
    st.session_state.setdefault(key, default)
    picked = st.date_input("Nights (UTC, both ends included)", min_value=lo, max_value=hi,
                           key=key, format="YYYY-MM-DD",
                           help="Only nights between the archive's first and last night can be chosen.")
    if not isinstance(picked, (tuple, list)):
        return (picked, picked)
    if len(picked) < 2:
        st.caption("Pick the last night of the range.")
        return None
    return (picked[0], picked[1])


def missing_nights(nights: list[dt.date], start: dt.date, stop: dt.date) -> list[dt.date]:
    """Calendar nights of the range the archive does not hold (no observation / no data)."""
    present = set(nights)
    out, day = [], start
    while day <= stop:
        if day not in present:
            out.append(day)
        day += dt.timedelta(days=1)
    return out


def show_user_error(exc: UserError) -> None:
    """One line, never a traceback (services turned every library failure into a UserError)."""
    st.error(str(exc), icon=":material/warning:")


def remember_query_param(name: str, value: str | None) -> None:
    """Keep ``value`` in the URL (so a reload reattaches), or drop it."""
    if value:
        if st.query_params.get(name) != value:
            st.query_params[name] = value
    elif name in st.query_params:
        del st.query_params[name]
