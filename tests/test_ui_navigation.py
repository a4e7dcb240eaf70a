"""Every visit goes through ``app.py``: the page files in ``pages/`` are exactly the app's declared pages,
each starts with ``ui.through_app()``, and a page that Streamlit's old pages-folder mode runs on its own
(what a first visit straight to ``/train`` after the server starts does) is rerun through the app, on the
same dataset. The browser test ``test_a_first_visit_straight_to_a_page_goes_through_the_app`` checks the
same on a real server."""

from __future__ import annotations

import ast
from pathlib import Path

from streamlit.testing.v1 import AppTest

from benchmarks.listening import plays_file
from recsys.store import Store
from ui import navigation

ROOT = Path(__file__).resolve().parents[1]


def test_the_page_files_are_the_apps_declared_pages_and_each_starts_through_the_app():
    files = sorted(p.name for p in (ROOT / "pages").glob("*.py"))
    assert files == sorted(name for name, _, _ in navigation.PAGES)
    for name in files:
        body = ast.parse((ROOT / "pages" / name).read_text()).body
        code = [node for node in body if not isinstance(node, (ast.Import, ast.ImportFrom))
                and not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))]  # the docstring
        first = ast.unparse(code[0])
        assert first == "ui.through_app()", f"pages/{name} starts with {first!r}, not ui.through_app()"


def test_a_page_run_on_its_own_is_rerun_through_the_app(home):
    """Started from ``app.py`` itself, with ``pages/`` beside it, AppTest begins every run in Streamlit's
    old pages-folder mode (it resets the flag each run): switching to the Train page runs
    ``pages/train.py`` on its own, as the first request for ``/train`` on a fresh server does."""
    store = Store(home)
    store.ensure_demo()
    own = store.add_dataset(plays_file(), source_name="user_artists.dat", name="Label plays")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params["dataset"] = str(own)
    at.switch_page("pages/train.py").run()  # the session's first request is /train?dataset=...
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Train models"
    sidebar = " ".join(str(el.proto) for el in at.sidebar.get("html"))
    assert "Training worker" in sidebar and "Label plays" in sidebar  # app.py's sidebar, on the linked data
    assert at.query_params["dataset"] == str(own)
