"""Entry point of the Streamlit app: a router over the page scripts beside it.

Run with ``fink-transfer app`` (starts the broker and a demo archive first) or
``streamlit run app_pages/streamlit_app.py``. Navigation sits in ``run()`` like Streamlit's own
hello app, so tests can drive it. Theme and server settings: ``.streamlit/config.toml`` beside
this file (Streamlit reads a config next to its main script).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import streamlit as st

PAGES = Path(__file__).resolve().parent
if str(PAGES.parent) not in sys.path:  # a source checkout run without install still finds engine/, components/
    sys.path.insert(0, str(PAGES.parent))

from engine.errors import UserError  # noqa: E402  (after the path fix)

LOG = logging.getLogger("fink_transfer.app")


def run() -> None:
    st.set_page_config(page_title="Fink Data Transfer", page_icon=":material/satellite_alt:", layout="wide",
                       initial_sidebar_state="expanded")
    pages = {
        "Transfer": [
            st.Page(PAGES / "query.py", title="Define your query", icon=":material/tune:",
                    default=True, url_path="query"),
            st.Page(PAGES / "monitor.py", title="Monitor", icon=":material/monitoring:",
                    url_path="monitor"),
        ],
        "Your data": [
            st.Page(PAGES / "download.py", title="Download", icon=":material/download:",
                    url_path="download"),
            st.Page(PAGES / "explore.py", title="Explore", icon=":material/insights:",
                    url_path="explore"),
        ],
    }
    from components import session
    from components.services import get_settings

    settings = get_settings()
    if not session.logged_in(settings):
        # service mode: nothing but the login form; the pages stay registered (hidden) so a link
        # to one of them (with its query parameters) opens it once logged in
        st.navigation(pages, position="hidden")
        session.login_form(settings)
        return
    with st.sidebar:
        st.markdown("### :material/satellite_alt: Fink Data Transfer")
        st.caption("Select alerts from the archive, publish them to a Kafka topic, "
                   "download them as Parquet.")
        session.sidebar_account(settings)
    page = st.navigation(pages)
    try:
        page.run()
    except Exception as exc:  # the last guard: one line for the user, the traceback in the server log
        LOG.exception("page %s failed", page.title)
        message = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
        st.error(" ".join(message.split())[:300], icon=":material/warning:")


run()
