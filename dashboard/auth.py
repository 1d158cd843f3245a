"""Log in, stay logged in across reloads, log out.

A successful login creates a server-side session (random token; the store keeps only its
SHA-256, with an absolute and an idle expiry). The token goes to the browser as a first-party
cookie (``SameSite=Strict``, path ``/``, Max-Age = the session's life), which Streamlit hands back
through ``st.context.cookies`` when a reload opens a new session. The token is never put in the
URL (no leaks through history, logs or screenshots). Logout revokes the token in the store, so a
copied cookie stops working too. Every rerun re-validates the token: expiry, logout elsewhere and
a removed account take effect at once.
"""

from __future__ import annotations

import os

import streamlit as st

from dashboard.state import ONETIME_ENV, client_id
from monitor.store import StoreError
from monitor.store.users import LoginPolicy, User, UserStore

COOKIE = "monitor_session"
_KEY_USER, _KEY_TOKEN = "auth_user", "auth_token"


def _cookie_script(token: str | None, max_age: int) -> str:
    value = token or ""
    age = max_age if token else 0
    return (
        f"<script>document.cookie = '{COOKIE}={value}; Path=/; Max-Age={age}; "
        "SameSite=Strict' + (location.protocol === 'https:' ? '; Secure' : '');</script>"
    )


def _set_cookie(token: str | None, max_age: int = 0) -> None:
    # the token is URL-safe base64: nothing in it can break out of the string literal
    st.html(_cookie_script(token, max_age), unsafe_allow_javascript=True, width=1)


def _cookie_token() -> str | None:
    try:
        value = st.context.cookies.get(COOKIE)
    except Exception:  # noqa: BLE001 - no request context (AppTest)
        return None
    return value if isinstance(value, str) and value else None


def current_user(users: UserStore) -> tuple[User, str] | None:
    """The user of this browser session (from session state or the cookie) and its token."""
    onetime = bool(os.environ.get(ONETIME_ENV))
    for token in (st.session_state.get(_KEY_TOKEN), _cookie_token()):
        user = users.session_user(token, onetime_enabled=onetime)
        if user is not None and token is not None:
            st.session_state[_KEY_TOKEN] = token
            return user, token
    st.session_state.pop(_KEY_TOKEN, None)
    return None


def login_form(users: UserStore, has_users: bool) -> tuple[User, str] | None:
    """The login form; returns (user, token) on the submit that succeeds."""
    onetime = os.environ.get(ONETIME_ENV) or None
    if not has_users and not onetime:
        st.error(
            "No dashboard users yet. Create one on the server with "
            "`monitor users add NAME --role admin` and reload this page."
        )
        return None
    box = st.empty()
    with box.container(), st.form("login"):
        name = st.text_input("User", value="admin" if onetime and not has_users else "")
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Log in")
    if not submitted:
        return None
    result = users.login(name.strip(), password, client_id(), onetime_password=onetime)
    if not result.ok or result.user is None or result.token is None:
        st.error(result.reason)
        return None
    st.session_state[_KEY_TOKEN] = result.token
    box.empty()
    _set_cookie(result.token, int(users.policy.session_max_s))
    return result.user, result.token


def gate(db: str) -> tuple[User, str] | None:
    """Who is logged in; renders the login form (or why it cannot) when nobody is."""
    try:
        users = UserStore(db, LoginPolicy())
    except StoreError as err:
        st.error(str(err))
        return None
    try:
        found = current_user(users)
        if found is not None:
            return found
        has_users = bool(users.users())
        return login_form(users, has_users)
    finally:
        users.close()


def logout(db: str, token: str | None) -> None:
    """Revoke the session everywhere, clear the cookie and this browser session's state."""
    users = UserStore(db)
    try:
        users.logout(token, client_id())
    finally:
        users.close()
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    _set_cookie(None)
