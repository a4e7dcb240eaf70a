"""Who may use the dashboard: anyone on this machine when it listens on a loopback address (the default,
127.0.0.1); on any other address only someone who knows the password, and with no password set it
refuses to serve pages at all.

* The address is the one Streamlit binds to, ``server.address`` (``.streamlit/config.toml`` says
  127.0.0.1; ``make run HOST=0.0.0.0`` or ``--server.address`` change it). An empty address means every
  interface, which is not loopback.
* The password is ``TASTEMAKER_PASSWORD`` from the environment, else ``password`` from Streamlit's
  secrets (``.streamlit/secrets.toml``). When one is set it is asked for on every address.
* A right password is remembered for the browser session; it is compared in constant time
  (``hmac.compare_digest``), and each wrong try waits a second.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import time

import streamlit as st

PASSWORD_ENV = "TASTEMAKER_PASSWORD"
_GRANTED = "tm_access_granted"
WRONG_PASSWORD_DELAY_S = 1.0


def bind_address() -> str:
    """The address the server listens on, as configured (empty: every interface)."""
    return str(st.get_option("server.address") or "").strip()


def is_loopback(address: str) -> bool:
    """True for addresses only this machine can reach: ``localhost``, 127.0.0.0/8 and ``::1``."""
    host = address.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # empty (every interface) or a host name: assume reachable from elsewhere


def configured_password() -> str | None:
    """``TASTEMAKER_PASSWORD``, else the ``password`` secret; None when neither is set (or empty)."""
    password = os.environ.get(PASSWORD_ENV, "")
    if not password:
        try:
            password = str(st.secrets.get("password", "") or "")
        except Exception:  # noqa: BLE001 - no or unreadable secrets file: no password from there
            password = ""
    return password or None


def password_matches(given: str, password: str) -> bool:
    """Constant-time comparison, so the time taken says nothing about how much of a guess was right."""
    return hmac.compare_digest(given.encode("utf-8"), password.encode("utf-8"))


def allowed() -> bool:
    """Whether this session may use the dashboard now (draws nothing)."""
    password = configured_password()
    if password is None:
        return is_loopback(bind_address())
    return bool(st.session_state.get(_GRANTED))


def sign_in_page() -> None:
    """The only page served while :func:`allowed` is False: the refusal (no password, network address) or
    the password form. A right password is remembered for the session and the app reruns."""
    password = configured_password()
    if password is None:
        shown = bind_address() or "every network interface"
        st.error(
            f"This dashboard listens on {shown}, where other machines can reach it, and no password is set, "
            "so it serves nothing. Set a password (the TASTEMAKER_PASSWORD environment variable, or "
            "`password` in .streamlit/secrets.toml) and restart it, or run it on 127.0.0.1 (plain `make run`)."
        )
        return
    st.title("Tastemaker")
    with st.form("tm_login", clear_on_submit=True):
        given = st.text_input("Password", type="password", key="tm_password",
                              help="Ask whoever runs this dashboard. It is set with TASTEMAKER_PASSWORD.")
        submitted = st.form_submit_button("Open the studio", type="primary")
    if submitted:
        if password_matches(given or "", password):
            st.session_state[_GRANTED] = True
            st.rerun()
        time.sleep(WRONG_PASSWORD_DELAY_S)
        st.error("That password is not right. Try again.")


def require_access() -> None:
    """Call once per run, before any page: returns when this session may use the dashboard; otherwise
    serves :func:`sign_in_page` as the one, hidden, page of the app and stops the run, so that neither a
    page nor the list of pages is ever sent."""
    if allowed():
        return
    st.navigation([st.Page(sign_in_page, title="Tastemaker", url_path="sign-in", default=True)],
                  position="hidden").run()
    st.stop()
