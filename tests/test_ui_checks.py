"""Refuse or confirm what looks wrong, in the real app (AppTest) on a real store: a catalogue uploaded as
interactions is stopped before Save, a catalogue that does not fit is shown beside the data and needs
confirming, a catalogue for data already saved attaches to it, a failed run says why on the Train page,
and a model that cannot be queued does not stop the others. The files are a synthetic listening log
shaped like the public Last.fm files (benchmarks/listening.py)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from benchmarks.listening import listening_log
from recsys import jobs
from recsys.store import Store


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    plays, artists, tags = listening_log(listeners=120, artists=400, seed=5)
    as_titles = tags.rename(columns={"tagID": "id", "tagValue": "name"})  # a tag list whose ids match the artists'

    def tsv(frame) -> bytes:
        return frame.to_csv(sep="\t", index=False).encode()

    return {"plays": tsv(plays), "artists": tsv(artists), "tags": tsv(as_titles),
            "renamed": tsv(artists.assign(name="Band " + artists["id"].astype(str)))}


def upload(at: AppTest, name: str, data: bytes, key: str = "upload_interactions") -> None:
    at.file_uploader(key=key).set_value((name, data, "text/tab-separated-values"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]


def texts(elements) -> str:
    return " ".join(e.value for e in elements)


def test_a_catalogue_uploaded_as_interactions_is_stopped_before_save(home, files, open_app):
    at = open_app()
    upload(at, "artists.dat", files["artists"])
    at.button(key="check_data").click().run()
    assert "it looks like an item catalogue" in texts(at.error)
    assert "400 of 400 rows" in texts(at.error)
    assert "as the item catalogue on the right" in texts(at.error)
    assert at.button(key="save_dataset").disabled  # saving it takes an explicit choice
    at.checkbox(key="confirm_not_interactions").check().run()
    assert not at.button(key="save_dataset").disabled
    assert len(Store(home).list_datasets()) == 1  # only the demo: nothing saved yet


def test_a_tag_list_as_catalogue_is_shown_beside_the_data_and_needs_confirming(home, files, open_app):
    at = open_app()
    upload(at, "tags.dat", files["tags"], key="upload_catalog")
    upload(at, "user_artists.dat", files["plays"])
    at.button(key="check_data").click().run()
    assert not at.error  # the interactions are fine
    warning = texts(at.warning)
    assert "This catalogue may not describe these artists" in warning
    assert "look like tags or labels" in warning
    side = next(d.value for d in at.dataframe if "interactions" in d.value.columns)  # the data's top artists
    assert list(side.columns)[:3] == ["item_id", "interactions", "title"]  # beside the catalogue's titles
    assert side["title"].iloc[0].islower()  # a tag word where an artist's name should be
    assert side["interactions"].is_monotonic_decreasing
    assert at.button(key="save_dataset").disabled
    at.checkbox(key="confirm_catalog").check().run()
    assert not at.button(key="save_dataset").disabled


def test_a_catalogue_for_data_already_saved_attaches_to_it(home, files, open_app):
    store = Store(home)
    store.ensure_demo()
    dataset = store.add_dataset(files["plays"], source_name="user_artists.dat", name="Plays")
    at = open_app()
    upload(at, "artists.dat", files["artists"], key="upload_catalog")
    upload(at, "user_artists.dat", files["plays"])
    at.button(key="check_data").click().run()
    assert "already saved as **Plays**" in texts(at.info)
    at.button(key="attach_catalog").click().run()
    assert not at.exception and not at.error
    assert store.dataset(dataset)["has_catalog"]
    _, catalog = store.load_dataset(dataset)
    _, artists, _ = listening_log(listeners=120, artists=400, seed=5)
    assert catalog.frame.set_index("item_id").loc["1", "title"] == artists["name"].iloc[0]

    at = open_app()  # a new catalogue for the same data: replacing the old one is asked, not assumed
    upload(at, "artists-v2.dat", files["renamed"], key="upload_catalog")
    upload(at, "user_artists.dat", files["plays"])
    at.button(key="check_data").click().run()
    assert at.button(key="attach_catalog").disabled
    at.checkbox(key="confirm_catalog_replace").check().run()
    at.button(key="attach_catalog").click().run()
    _, catalog = store.load_dataset(dataset)
    assert catalog.frame.set_index("item_id").loc["7", "title"] == "Band 7"


def test_a_failed_run_says_why_on_the_train_page(home, files, open_app):
    store = Store(home)
    store.ensure_demo()
    wrong = store.add_dataset(files["artists"], source_name="artists.dat", name="Artists by mistake")
    jobs.submit(store, wrong, "itemknn", protocol="random")
    jobs.run_worker(store, once=True)
    assert store.list_runs(wrong)["status"].tolist() == ["failed"]
    at = open_app("pages/train.py", dataset=wrong)
    failure = texts(at.error)
    assert "Similar items (ItemKNN) · run #1 failed" in failure
    assert "nothing to test the model on" in failure and "Check on the Data page" in failure
    assert "test set empty" not in failure


def test_a_model_that_cannot_be_queued_does_not_stop_the_others(home, files, open_app):
    store = Store(home)
    store.ensure_demo()
    dataset = store.add_dataset(files["plays"], source_name="user_artists.dat", name="Plays")
    at = open_app("pages/train.py", dataset=dataset)
    at.multiselect(key=f"models_{dataset}").set_value(["ials", "itemknn"]).run()
    at.number_input(key="param_ials_factors").set_value(4096).run()
    at.number_input(key="param_ials_epochs").set_value(10_000).run()
    assert "Implicit ALS** cannot run" in texts(at.warning)
    at.button(key="start_training").click().run()
    assert not at.exception
    runs = store.list_runs(dataset)
    assert set(runs["model"]) >= {"itemknn"} and "ials" not in set(runs["model"])
    assert "Implicit ALS was not queued" in texts(at.warning)
