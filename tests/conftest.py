"""Shared fixtures. ``home`` is a fresh TASTEMAKER_HOME; ``store`` a fresh store in one; ``processes`` and
:func:`start_worker` run real ``python -m recsys worker`` processes on it; ``open_app`` opens the real app in Streamlit's
AppTest (from ``tests/app_entry.py``: see there why) on a page. The browser ones start a real
``streamlit run app.py`` on a free localhost port, with its own TASTEMAKER_HOME, and drive it with headless
Chromium from the Debian packages through Playwright."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SERVER_START_SECONDS = 90
APP_ENTRY = ROOT / "tests" / "app_entry.py"  # runs app.py; AppTest's main script


@dataclass
class Server:
    """A running dashboard: its address, its data folder and its log file."""

    url: str
    home: Path
    log: Path
    process: subprocess.Popen

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.read().strip() == b"ok"
    except OSError:
        return False


def _stop_workers(home: Path) -> None:
    """Stop the background training workers the dashboard started for this test session."""
    if not (home / "tastemaker.db").exists():
        return
    from recsys import jobs
    from recsys.store import Store

    for worker in jobs.worker_state(Store(home))["workers"]:
        try:
            os.kill(int(worker["pid"]), signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass


@pytest.fixture
def home(tmp_path, monkeypatch) -> Iterator[Path]:
    """A fresh, empty data folder for the app (TASTEMAKER_HOME), run from the project's root; any training
    worker the app started is stopped afterwards."""
    folder = tmp_path / "home"
    monkeypatch.setenv("TASTEMAKER_HOME", str(folder))
    monkeypatch.chdir(ROOT)
    yield folder
    _stop_workers(folder)


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A fresh, empty store in its own TASTEMAKER_HOME."""
    from recsys.store import Store

    monkeypatch.setenv("TASTEMAKER_HOME", str(tmp_path / "home"))
    return Store()


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen]]:
    """Processes a test starts; any still running at the end is killed (by its own pid)."""
    started: list[subprocess.Popen] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def env_for(store) -> dict[str, str]:
    """The environment of a worker process on ``store``."""
    return dict(os.environ, TASTEMAKER_HOME=str(store.home), PYTHONPATH=str(ROOT))


def start_worker(store, processes: list, once: bool = True) -> subprocess.Popen:
    """A real ``python -m recsys worker [--once]`` on ``store``, logging to its logs folder; added to
    ``processes`` (the fixture kills it if it is still running at the end)."""
    log = open(store.home / "logs" / f"test-worker-{len(processes)}.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "recsys", "worker", *(["--once"] if once else [])],
                            env=env_for(store), stdout=log, stderr=subprocess.STDOUT, cwd=store.home)
    log.close()
    processes.append(proc)
    return proc


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 90.0) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def open_app(page: str | None = None, *, session: dict | None = None, secrets: dict | None = None,
             timeout: float = 60, **query: str):
    """A new session (a new tab) of the real app in AppTest, run once: on the Data page, or then switched
    to ``page`` (``"pages/train.py"``, as in ``app.py``), with these query parameters, session values and
    secrets set before the first run. Fails on an exception."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP_ENTRY), default_timeout=timeout)
    for name, value in (secrets or {}).items():
        at.secrets[name] = value
    for name, value in query.items():
        at.query_params[name] = str(value)
    for name, value in (session or {}).items():
        at.session_state[name] = value
    at.run()
    if page:
        at.switch_page(os.path.relpath(ROOT / page, APP_ENTRY.parent)).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture(name="open_app")
def open_app_fixture() -> Callable:
    """``open_app(page=None, *, session=None, secrets=None, timeout=60, **query)``: see :func:`open_app`."""
    return open_app


@pytest.fixture(scope="session")
def streamlit_server(tmp_path_factory) -> Iterator[Server]:
    """``streamlit run app.py`` headless on a free port, polled until ``/_stcore/health`` says ok."""
    with run_streamlit(tmp_path_factory.mktemp("browser-home")) as server:
        yield server


@pytest.fixture
def start_server():
    """``with start_server(home) as server:`` a dashboard of its own on ``home``, for a test that needs the
    server's very first request (the session's ``streamlit_server`` has served other tests before)."""
    return run_streamlit


@contextmanager
def run_streamlit(home: Path) -> Iterator[Server]:
    """``streamlit run app.py`` on ``home`` (its TASTEMAKER_HOME), headless on a free port, polled until
    ``/_stcore/health`` says ok; stopped (with the workers it started) on the way out."""
    log = home / "streamlit.log"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "streamlit", "run", "app.py",
        "--server.headless", "true", "--server.address", "127.0.0.1", "--server.port", str(port),
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]
    env = dict(os.environ, TASTEMAKER_HOME=str(home))
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(url=url, home=home, log=log, process=process)
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while not _healthy(url):
            if process.poll() is not None:
                pytest.fail(f"streamlit exited with code {process.returncode}:\n{server.log_tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"streamlit did not answer on {url} within {SERVER_START_SECONDS} s:\n"
                            f"{server.log_tail()}")
            time.sleep(0.3)
        yield server
    finally:
        _stop_workers(home)
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


@pytest.fixture(scope="session")
def chromium():
    """Headless Debian Chromium driven by Playwright. Fails (never skips) when it is missing: ``make test``
    installs it (``make browser``)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}. Install it with `make browser` (Debian packages "
            "chromium and chromium-driver); `make test` does this for you."
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is not installed: `pip install -r requirements-dev.txt` (or `make test`).")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def browser_page(chromium, request, tmp_path):
    """A fresh tab with a tall viewport (Streamlit scrolls inside its own container, so full-page
    screenshots miss content: a tall window shows it instead). When the test fails, a screenshot of the
    moment is saved next to the test's temporary files and its path printed."""
    context = chromium.new_context(viewport={"width": 1440, "height": 1900}, device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield page
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            path = tmp_path / "failure.png"
            try:
                page.screenshot(path=str(path))
                print(f"\nscreenshot of the failure: {path}")
            except Exception as exc:  # noqa: BLE001 - the test's own error matters more
                print(f"\nno screenshot of the failure: {exc}")
        context.close()
