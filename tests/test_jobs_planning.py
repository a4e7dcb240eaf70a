"""What the queue accepts and what it expects, before any worker runs: which models a dataset is offered,
how long a run will take and how much memory it needs (calibrated from the finished runs in the store),
and how far a running run is. Real stores in temporary folders; datasets built by the tests."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from benchmarks.synthetic import listening_log
from recsys import jobs
from recsys.data import describes_items
from recsys.store import Store
from tests.test_ui_data_train import APP, ROOT


def tsv(frame: pd.DataFrame) -> bytes:
    buffer = io.StringIO()
    frame.to_csv(buffer, sep="\t", index=False)
    return buffer.getvalue().encode()


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "home")


@pytest.fixture(scope="module")
def music() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A small listening log (play counts) and its artist catalogue of names only."""
    return listening_log(n_users=150, n_items=400, n_interactions=3_000, seed=2)


# -- content only where there is content ---------------------------------------------------------------
def test_artist_names_alone_do_not_offer_content(store, music):
    plays, artists = music
    dataset = store.add_dataset(tsv(plays), items=tsv(artists), source_name="user_artists.dat")
    meta = store.dataset(dataset)
    assert meta["has_catalog"] and not describes_items(meta["report"]["catalog"])
    assert "content" not in [m["model"] for m in meta["report"]["suggested_models"]]
    refused = jobs.model_refusals(store, dataset)
    assert set(refused) == {"content"}
    assert refused["content"] == (
        "Content-based needs a catalogue that describes most items with tags, genres or descriptions; this one "
        "describes 0% of them (names or titles alone do not count): add a catalogue with a genres or tags "
        "column, or pick another model."
    )
    with pytest.raises(jobs.JobRefused) as refusal:
        jobs.submit(store, dataset, "content")
    assert str(refusal.value) == refused["content"]
    assert store.list_runs().empty


def test_a_catalogue_with_genres_offers_content(store, music):
    plays, artists = music
    tagged = artists.assign(genres=["rock|indie" if i % 2 else "jazz" for i in range(len(artists))])
    dataset = store.add_dataset(tsv(plays), items=tsv(tagged), source_name="user_artists.dat")
    meta = store.dataset(dataset)
    assert describes_items(meta["report"]["catalog"])
    assert "content" in [m["model"] for m in meta["report"]["suggested_models"]]
    assert jobs.model_refusals(store, dataset) == {}
    assert store.run(jobs.submit(store, dataset, "content"))["status"] == "queued"


def test_no_catalogue_at_all_refuses_content_saying_so(store, music):
    plays, _ = music
    dataset = store.add_dataset(tsv(plays), source_name="plays.tsv")
    assert "has none" in jobs.model_refusals(store, dataset)["content"]


def test_train_page_does_not_offer_content_for_names_only(store, music, monkeypatch):
    plays, artists = music
    dataset = store.add_dataset(tsv(plays), name="Artists", items=tsv(artists), source_name="user_artists.dat")
    monkeypatch.setenv("TASTEMAKER_HOME", str(store.home))
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["tm_current_dataset"] = dataset
    at.run()
    at.switch_page("pages/train.py").run()
    assert not at.exception, at.exception
    models = at.multiselect(key=f"models_{dataset}")
    assert "Content-based" not in models.options and "content" not in models.value  # options are labels
    assert "EASE" in models.options
    assert any(c.value.startswith("Not offered: Content-based needs a catalogue") for c in at.caption)
