"""A closed server: loopback by default, a password to share it, nothing served on a network without one,
and unexpected errors shown as one line (the traceback goes to the log). Real Streamlit, in process."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from streamlit import config
from streamlit.testing.v1 import AppTest

from ui import access

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
SECRET = "correct horse battery staple"


@pytest.fixture
def home(home, monkeypatch):
    """The shared fresh data folder (conftest.py), with no password set and no delay after a wrong one."""
    monkeypatch.delenv(access.PASSWORD_ENV, raising=False)
    monkeypatch.setattr(access, "WRONG_PASSWORD_DELAY_S", 0.0)
    return home


@pytest.fixture
def address():
    """Set Streamlit's ``server.address`` for one test (what ``--server.address`` would set)."""
    before = config.get_option("server.address")

    def set_address(value: str) -> None:
        config.set_option("server.address", value)

    yield set_address
    config.set_option("server.address", before)


def _asks_password(at: AppTest) -> bool:
    return "tm_password" in [t.key for t in at.text_input]


def test_the_project_config_binds_to_loopback_with_xsrf_on():
    server = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]
    assert server["address"] == "127.0.0.1" and server["enableXsrfProtection"] is True
    client = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["client"]
    assert client["showErrorDetails"] == "none"


def test_make_run_binds_to_loopback_and_prints_the_address():
    plain = subprocess.run(["make", "-n", "run"], capture_output=True, text=True, cwd=ROOT, timeout=60).stdout
    assert "--server.address 127.0.0.1 --server.port 8501" in plain
    assert "http://$(HOST):$(PORT)" in (ROOT / "Makefile").read_text()
    shared = subprocess.run(["make", "-n", "run", "HOST=0.0.0.0"], capture_output=True, text=True, cwd=ROOT,
                            timeout=60).stdout
    assert "--server.address 0.0.0.0" in shared


@pytest.mark.parametrize("value, loopback", [
    ("127.0.0.1", True), ("localhost", True), ("::1", True), ("[::1]", True), ("127.0.1.1", True),
    ("", False), ("0.0.0.0", False), ("::", False), ("192.168.1.20", False), ("my-laptop", False),
])
def test_loopback_addresses(value, loopback):
    assert access.is_loopback(value) is loopback


def test_on_loopback_without_a_password_the_studio_opens(home, address, open_app):
    address("127.0.0.1")
    at = open_app()
    assert not at.exception
    assert not _asks_password(at) and "Add your own" in " ".join(t.label for t in at.tabs)


@pytest.mark.parametrize("bound", ["0.0.0.0", "", "192.168.1.20"])
def test_a_network_address_without_a_password_serves_nothing(home, address, bound, open_app):
    address(bound)
    at = open_app()
    assert not at.exception
    assert len(at.error) == 1 and "no password is set, so it serves nothing" in at.error[0].value
    assert "TASTEMAKER_PASSWORD" in at.error[0].value
    assert not at.tabs and not at.button and not at.text_input  # no page ran
    assert not (home / "tastemaker.db").exists()  # not even the store was opened


def test_the_password_gate(home, address, monkeypatch, open_app):
    monkeypatch.setenv(access.PASSWORD_ENV, SECRET)
    address("0.0.0.0")
    at = open_app()
    assert not at.exception and not at.tabs
    assert at.text_input(key="tm_password").proto.type == at.text_input(key="tm_password").proto.PASSWORD

    at.text_input(key="tm_password").input("correct horse battery stapl")
    at.button[0].click().run()
    assert not at.tabs and any("not right" in e.value for e in at.error)

    at.text_input(key="tm_password").input(SECRET)
    at.button[0].click().run()
    assert not at.exception and not at.error
    assert "Add your own" in " ".join(t.label for t in at.tabs)  # the Data page is served

    at.run()  # the session remembers: no second prompt
    assert not _asks_password(at) and at.tabs


def test_a_password_from_streamlit_secrets(home, address, tmp_path, monkeypatch, open_app):
    address("0.0.0.0")
    at = open_app(secrets={"password": SECRET})
    assert not at.tabs and _asks_password(at)
    at.text_input(key="tm_password").input(SECRET)
    at.button[0].click().run()
    assert at.tabs and not at.error


def test_an_empty_password_is_no_password(home, address, monkeypatch, open_app):
    monkeypatch.setenv(access.PASSWORD_ENV, "")
    address("0.0.0.0")
    at = open_app()
    assert "serves nothing" in at.error[0].value


def test_password_comparison():
    assert access.password_matches(SECRET, SECRET)
    assert not access.password_matches(SECRET + " ", SECRET) and not access.password_matches("", SECRET)
    assert access.password_matches("pässwörd", "pässwörd")


def _raising_page() -> None:
    import ui

    with ui.guard("drawing the chart"):
        raise RuntimeError("secret internals: /srv/app/model.py line 42")


def test_an_unexpected_error_shows_one_line_and_logs_the_traceback(home):
    at = AppTest.from_function(_raising_page, default_timeout=60).run()
    assert not at.exception
    assert len(at.error) == 1
    message = at.error[0].value
    log = home / "logs" / "dashboard.log"
    assert "Something unexpected went wrong while drawing the chart" in message and str(log) in message
    assert "Traceback" not in message and "secret internals" not in message and "\n" not in message
    assert not at.expander and not at.code  # no folded-away details either
    logged = log.read_text()
    assert "Traceback" in logged and "secret internals" in logged and "while drawing the chart" in logged


def test_a_first_visit_straight_to_a_page_asks_for_the_password_too(home, address, monkeypatch):
    """Started from ``app.py`` with ``pages/`` beside it, AppTest begins every run in Streamlit's old
    pages-folder mode, as the first request for ``/train`` on a fresh server does: the page file alone
    would skip ``app.py``'s password gate; ``ui.through_app`` reruns it through the app first."""
    monkeypatch.setenv(access.PASSWORD_ENV, SECRET)
    address("0.0.0.0")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page("pages/train.py").run()  # the session's first request is /train
    assert not at.exception, [e.value for e in at.exception]
    assert _asks_password(at)
    assert not [t for t in at.title if t.value == "Train models"] and not at.multiselect  # no page ran
