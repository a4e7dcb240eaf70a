"""Every page, read as a person reads it (AppTest, real store, real runs trained by the worker loop): no raw
setting or split name anywhere (labels, help, captions, tables, charts, options), every table shown with
column configuration for each of its visible columns, and the dataset's own words (a listening log says
"artists" and "listeners", never "watched"). The data is a synthetic listening log with artist names
(benchmarks/listening.py), tested in two ways so the runs carry their split's name."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from benchmarks.listening import listening_log
from recsys import jobs
from recsys.models import MODELS
from recsys.split import PROTOCOLS
from recsys.store import Store

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["pages/data.py", "pages/train.py", "pages/results.py", "pages/explore.py", "pages/recommend.py"]
# Raw names a person must never read: every declared setting with an underscore (learning_rate,
# validate_every, use_values...) and every split key with one (global_temporal).
RAW = sorted({s.name for model in MODELS.values() for s in model.settings if "_" in s.name}
             | {p for p in PROTOCOLS if "_" in p})
SKIP_FIELDS = {"id", "form_id", "key", "query_param_key", "fragment_id", "arrow_data", "icon", "url",
               "default_value", "page_script_hash"}


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    """A listening log with its artist catalogue and finished runs on two splits."""
    home = tmp_path_factory.mktemp("every-page") / "home"
    store = Store(home)
    store.ensure_demo()
    plays, artists, _ = listening_log(listeners=150, artists=300, seed=11)
    dataset = store.add_dataset(plays.to_csv(sep="\t", index=False).encode(), source_name="user_artists.dat",
                                name="Label plays", items=artists.to_csv(sep="\t", index=False).encode(),
                                items_name="artists.dat")
    for protocol in ("random", "loo"):
        jobs.submit(store, dataset, "itemknn", protocol=protocol, seed=42)
    jobs.submit(store, dataset, "ials", {"epochs": 2, "factors": 8}, protocol="random", seed=42)
    jobs.run_worker(store, once=True)
    assert set(store.list_runs(dataset)["status"]) == {"done"}, store.list_runs(dataset)[["model", "error"]]
    return home, dataset


@pytest.fixture
def home(studio, monkeypatch):
    monkeypatch.setenv("TASTEMAKER_HOME", str(studio[0]))
    monkeypatch.chdir(ROOT)
    return studio


def _strings(message, out: list[str]) -> None:
    for field, value in message.ListFields():
        if field.name in SKIP_FIELDS:
            continue
        repeated = not isinstance(value, (str, bytes)) and not hasattr(value, "ListFields")
        if field.type == field.TYPE_MESSAGE:
            for item in (value if repeated else [value]):
                _strings(item, out)
        elif field.type == field.TYPE_STRING:
            out.extend(value if repeated else [value])


def page_text(at: AppTest) -> str:
    """Every string a person can read on the page: element protos (labels, help, captions, options,
    chart specs, column configuration) and the cells and headers of every table."""
    out: list[str] = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            _strings(proto, out)
        for child in getattr(node, "children", {}).values():
            walk(child)

    for block in at._tree.children.values():
        walk(block)
    for table in at.dataframe:
        frame = table.value
        out.extend(str(c) for c in frame.columns)
        out.extend(frame.astype(str).to_numpy().ravel().tolist())
    return "\n".join(map(str, out))


def _offered(multiselect) -> list[str]:
    """The model names a model picker offers (its options are display labels)."""
    from ui.words import model_label

    by_label = {model_label(name): name for name in MODELS}
    return [by_label[label] for label in multiselect.options if label in by_label]


@pytest.mark.parametrize("page", PAGES)
def test_no_page_shows_a_raw_setting_name(home, page, open_app):
    _, dataset = home
    at = open_app(page, timeout=90, dataset=dataset)
    if page == "pages/train.py":
        picker = at.multiselect(key=f"models_{dataset}")
        picker.set_value(_offered(picker)).run()  # every model's settings expander on the page
        assert not at.exception
    text = page_text(at)
    found = [name for name in RAW if re.search(rf"\b{re.escape(name)}\b", text)]
    assert not found, f"{page} shows raw names {found}"
    if page == "pages/train.py":
        assert "Count each interaction once" in text  # the plain label stands where the name would


@pytest.mark.parametrize("page", PAGES)
def test_every_table_has_column_configuration(home, page, open_app):
    _, dataset = home
    at = open_app(page, timeout=90, dataset=dataset)
    assert at.dataframe or page == "pages/data.py", f"{page} shows no table to check"
    for table in at.dataframe:
        config = json.loads(table.proto.columns or "{}")
        shown = [str(c) for c in table.value.columns]
        order = list(getattr(table.proto, "column_order", []) or [])
        visible = [c for c in (order or shown) if not c.startswith("_")]
        missing = [c for c in visible if c not in config]
        assert not missing, f"{page}: a table shows {missing} without column configuration"
        for name in visible:
            assert config[name].get("label") or config[name].get("width"), f"{page}: {name} has an empty configuration"


def test_a_listening_log_is_spoken_of_in_its_own_words(home, open_app):
    _, dataset = home
    recommend = page_text(open_app("pages/recommend.py", timeout=90, dataset=dataset))
    assert "What they played" in recommend and "watched" not in recommend and "Toy Story" not in recommend
    assert "Plays" in recommend  # the history's values are labelled by kind
    explore = page_text(open_app("pages/explore.py", timeout=90, dataset=dataset))
    assert "Artist similarity" in explore and "Listeners alike" in explore
    data = page_text(open_app(timeout=90, dataset=dataset))
    assert "How active are listeners?" in data and "Plays per listener" in data
