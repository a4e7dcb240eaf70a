"""The store's dataset extras: a catalogue given for data already saved attaches to it (replacing one only
when asked), a dataset's words are kept with it (through a rebuild from its manifest), and small
preferences (the dataset a new tab opens on) are remembered. Real store on a temporary folder."""

from __future__ import annotations

import pytest

from benchmarks.listening import listening_log
from recsys.nouns import Nouns, dataset_nouns, detect_nouns
from recsys.store import Store, StoreError, doctor


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    plays, artists, _ = listening_log(listeners=60, artists=120, seed=4)

    def tsv(frame) -> bytes:
        return frame.to_csv(sep="\t", index=False).encode()

    return {"plays": tsv(plays), "artists": tsv(artists), "bands": tsv(artists.assign(name="Band " + artists["id"].astype(str))),
            "partial": tsv(artists.head(30))}


def title_of(store: Store, dataset: int, item: str) -> str:
    _, catalog = store.load_dataset(dataset)
    return str(catalog.frame.set_index("item_id").loc[item, "title"])


def test_a_catalogue_for_saved_data_attaches_and_replaces_only_when_asked(tmp_path, files):
    store = Store(tmp_path / "home")
    dataset = store.add_dataset(files["plays"], source_name="user_artists.dat")
    assert not store.dataset(dataset)["has_catalog"]
    assert store.registered_dataset(files["plays"]) == dataset

    again = store.add_dataset(files["plays"], source_name="user_artists.dat", items=files["partial"],
                              items_name="artists.dat")  # the same bytes with a catalogue: attached, not ignored
    assert again == dataset and store.dataset(dataset)["has_catalog"]
    coverage = store.dataset(dataset)["report"]["catalog"]
    assert coverage["items_in_both"] == 30 and coverage["hash"]
    assert store.attach_catalog(dataset, files["partial"]) is False  # the same catalogue: nothing changes

    with pytest.raises(StoreError, match="already has an item catalogue"):
        store.attach_catalog(dataset, files["bands"])
    assert title_of(store, dataset, "7") != "Band 7"
    assert store.attach_catalog(dataset, files["bands"], replace=True) is True
    assert title_of(store, dataset, "7") == "Band 7"
    report = store.dataset(dataset)["report"]
    assert report["catalog"]["items_in_both"] == store.dataset(dataset)["n_items"]
    assert not [w for w in report["warnings"] if "no catalogue entry" in w]  # the old coverage warning went
    assert doctor(store.home).ok


def test_a_datasets_words_are_kept_with_it_and_survive_a_rebuild(tmp_path, files):
    home = tmp_path / "home"
    store = Store(home)
    dataset = store.add_dataset(files["plays"], source_name="user_artists.dat")
    detected = dataset_nouns(store.dataset(dataset))
    assert (detected.item, detected.person, detected.value) == ("artist", "listener", "plays")
    store.set_dataset_nouns(dataset, {"item": "band", "person": "fan"})
    chosen = dataset_nouns(store.dataset(dataset))
    assert (chosen.item, chosen.items, chosen.people, chosen.events) == ("band", "bands", "fans", "plays")

    (home / "tastemaker.db").unlink()  # the database lost: the manifest brings the words back
    doctor(home, repair=True)
    assert dataset_nouns(Store(home).dataset(dataset)).items == "bands"
    Store(home).set_dataset_nouns(dataset, None)
    assert dataset_nouns(Store(home).dataset(dataset)).items == "artists"


def test_words_detected_from_names():
    assert detect_nouns({"user": "userId", "item": "movieId", "rating": "rating"}, explicit=True,
                        rating_max=5) == Nouns("movie", "movies", "viewer", "viewers", "rating", "ratings", "rated",
                                               "stars")
    shop = detect_nouns({"user": "customer_id", "item": "sku", "rating": "quantity"})
    assert (shop.item, shop.person, shop.did, shop.value) == ("product", "customer", "bought", "quantity")
    ads = detect_nouns({"user": "visitor", "item": "ad_id", "rating": "clicks"})
    assert (ads.item, ads.events, ads.value_label) == ("ad", "clicks", "Clicks")
    assert detect_nouns({"user": "u", "item": "i"}) == Nouns()  # nothing says more: item, person


def test_preferences_are_remembered_and_forgotten_quietly_when_they_cannot_be_written(tmp_path):
    store = Store(tmp_path / "home")
    assert store.preference("last_dataset") is None
    assert store.set_preference("last_dataset", 3) is True
    assert Store(tmp_path / "home").preference("last_dataset") == 3
    (tmp_path / "home" / "preferences.json").write_text("{not json")
    assert store.preference("last_dataset", "fallback") == "fallback"  # a damaged file is not an error
