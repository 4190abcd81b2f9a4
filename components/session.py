"""Who is using the app: nobody in local mode, the logged-in built-in user in service mode.

The login form checks the bcrypt hash of :mod:`engine.users`; the user's name lives in
``st.session_state`` (one browser session), and the role is re-read on every run so a removed
user is logged out at once. OIDC providers can replace the form with Streamlit's ``st.login``
(docs/service.md).
"""

from __future__ import annotations

import streamlit as st

SESSION_KEY = "auth_user"


def service_mode(settings) -> bool:
    return bool(settings.service.enabled)


def current_user(settings=None):
    """The engine.users.User of this session; None in local mode (or before login)."""
    from engine.users import get_user

    if settings is None:
        from engine.config import load_settings
        settings = load_settings()
    if not service_mode(settings):
        return None
    name = st.session_state.get(SESSION_KEY)
    user = get_user(settings, name) if name else None
    if name and user is None:
        st.session_state.pop(SESSION_KEY, None)
    return user


def logged_in(settings) -> bool:
    """True when pages may run: local mode, or a logged-in user."""
    return not service_mode(settings) or current_user(settings) is not None


def login_form(settings) -> None:
    """The built-in users' login form; a success reruns the app as that user."""
    from engine import audit
    from engine.users import authenticate

    st.title("Fink Data Transfer")
    st.caption("Log in with the account your operator created (`fink-transfer users add`).")
    with st.form("login", border=True):
        name = st.text_input("User name", key="login_name")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Log in", type="primary")
    if submitted:
        user = authenticate(settings, name.strip(), password)
        if user is None:
            audit.record(settings, name.strip() or "?", "login-failed")
            st.error("Unknown user or wrong password.", icon=":material/lock:")
        else:
            st.session_state[SESSION_KEY] = user.name
            audit.record(settings, user.name, "login")
            st.rerun()


def sidebar_account(settings) -> None:
    """Name, role and a log-out button, in service mode."""
    user = current_user(settings)
    if user is None:
        return
    st.caption(f":material/person: **{user.name}** ({user.role})")
    if st.button("Log out", key="logout", icon=":material/logout:"):
        st.session_state.pop(SESSION_KEY, None)
        st.rerun()
