"""Exposure: known answers on tiny hand-made lists, creators read from a catalogue, and the figures the
real worker stores with a run being the ones computed again from its lists."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.listening import track_files
from recsys import exposure as ex
from recsys import popularity_bands as bands
from recsys.data import DataError, Interactions, load_items

ROOT = Path(__file__).resolve().parents[1]

# 24 items: 0-3 hold 40, 30, 20, 10 interactions, 4-19 one each, 20-23 none (116 interactions in all).
COUNTS = np.array([40, 30, 20, 10] + [1] * 16 + [0] * 4)
# three people's top-2 lists (-1 = an empty slot): item 0 twice, items 1, 5 and 6 once: 5 slots
LISTS = np.array([[0, 1], [0, 5], [6, -1]])
CREATORS = np.array(["Ana", "Ana", "Bo", "Bo"] + ["Cy"] * 8 + [""] * 8 + ["Dee"] * 4, dtype=object)


def test_item_exposure_known_answers():
    slots = np.bincount(LISTS[LISTS >= 0], minlength=24)
    got = ex.exposure_from_slots(slots, COUNTS)
    assert got["slots"] == 5 and got["n_items"] == 24
    # 20 items have interactions: the top 1% is 1 item (0), the popular top 10% is 2 items (0, 1)
    assert got["hits_share"] == pytest.approx(2 / 5)
    assert got["popular_share"] == pytest.approx(3 / 5)
    assert got["items_shown"] == 4 and got["coverage"] == pytest.approx(4 / 24)
    # x sorted ascending over all 24 items: twenty 0s, then 1, 1, 1, 2
    # G = 2 * (21 + 22 + 23 + 2 * 24) / (24 * 5) - 25 / 24
    assert got["gini"] == pytest.approx(2 * 114 / 120 - 25 / 24)
    assert got["creators"] is None


def test_even_and_concentrated_exposure_are_the_two_ends():
    counts = np.arange(100, 0, -1)
    even = ex.exposure_from_slots(np.ones(100), counts)
    assert even["gini"] == pytest.approx(0.0) and even["coverage"] == 1.0
    assert even["hits_share"] == pytest.approx(0.01) and even["popular_share"] == pytest.approx(0.10)
    one = np.zeros(100)
    one[0] = 50
    assert ex.exposure_from_slots(one, counts)["gini"] == pytest.approx(0.99)  # (n - 1) / n
    assert ex.exposure_from_slots(np.zeros(100), counts)["hits_share"] == 0.0  # no slots at all


def test_creator_exposure_known_answers():
    slots = np.bincount(LISTS[LISTS >= 0], minlength=24)
    got = ex.exposure_from_slots(slots, COUNTS, CREATORS, top=2)["creators"]
    # interactions: Ana 70, Bo 30, Cy 8, Dee 0 (nobody played Dee: not counted), 8 from unnamed items
    assert got["creators"] == 3
    assert got["top_creators"] == ["Ana", "Bo"]
    assert got["top_creators_data_share"] == pytest.approx(100 / 116)
    # slots: Ana 3 (item 0 twice, item 1), Cy 2 (items 5 and 6), Bo none
    assert got["top_creators_slot_share"] == pytest.approx(3 / 5)
    assert got["creators_shown"] == 2
    assert got["unknown_slot_share"] == 0.0
    tied = ex.exposure_from_slots(np.ones(4), np.ones(4), np.array(["Zed", "Amy", "Bea", "Bea"], dtype=object),
                                  top=1)["creators"]
    assert tied["top_creators"] == ["Bea"]  # 2 interactions beat 1
    tied = ex.exposure_from_slots(np.ones(3), np.ones(3), np.array(["Zed", "Amy", "Bea"], dtype=object),
                                  top=1)["creators"]
    assert tied["top_creators"] == ["Amy"]  # ties by name


def test_popular_share_uses_the_shared_definition():
    counts = np.array([9, 9, 8, 7, 6, 5, 4, 3, 2, 1, 1, 1])  # ties at the top: lower number first
    head = np.flatnonzero(bands.head_mask(counts))
    assert head.tolist() == [0, 1]  # 10% of 12 rounded up
    slots = np.zeros(12)
    slots[head] = 1
    slots[5] = 2
    assert ex.exposure_from_slots(slots, counts)["popular_share"] == pytest.approx(0.5)


def _tiny() -> Interactions:
    frame = pd.DataFrame({"user": ["p1", "p1", "p2", "p2", "p3"], "item": ["a", "b", "a", "c", "a"]})
    return Interactions.from_frame(frame, "user", "item")


def test_list_exposure_cuts_at_k_and_maps_ids():
    inter = _tiny()  # a: 3 interactions, b: 1, c: 1
    recs = pd.DataFrame({
        "user": ["p1", "p1", "p2", "p2", "p3", "p3"],
        "item": ["c", "a", "b", "a", "b", "zzz"],  # zzz is not in the data: left out
        "rank": [1, 2, 1, 2, 1, 2],
    })
    got = ex.list_exposure(recs, inter, k=1)
    assert got["k"] == 1 and got["lists"] == 3 and got["slots"] == 3
    assert got["hits_share"] == 0.0 and got["items_shown"] == 2  # c once, b twice; a only at rank 2
    got = ex.list_exposure(recs, inter, k=2)
    assert got["slots"] == 5 and got["hits_share"] == pytest.approx(2 / 5)
    data = ex.data_exposure(inter)
    assert data["slots"] == 5 and data["hits_share"] == pytest.approx(3 / 5) and data["coverage"] == 1.0


# -- creators from the catalogue -----------------------------------------------------------------
CATALOGUE = (
    "track_id,track_name,artist,label,genre\n"
    "t1,Blue Hour,Nova Lane,Northside Records,ambient\n"
    "t2,Glasswork,Nova Lane,Northside Records,ambient|electronic\n"
    "t3,Paper Moons,The Quiet Forks,Harbour,folk\n"
    "t4,Untitled,,Harbour,folk\n"
)


def test_catalogue_reads_the_creator_column_by_name_or_as_told():
    catalog = load_items(io.BytesIO(CATALOGUE.encode()))
    assert catalog.report["columns"]["creator"] == "artist" and catalog.report["columns"]["title"] == "track_name"
    assert catalog.frame["creator"].tolist() == ["Nova Lane", "Nova Lane", "The Quiet Forks", ""]
    assert catalog.report["with_creator"] == 3 and catalog.report["distinct_creators"] == 2
    assert ex.creator_noun(catalog) == "artists"
    labels = load_items(io.BytesIO(CATALOGUE.encode()), creator_column="Label")
    assert labels.frame["creator"].tolist() == ["Northside Records"] * 2 + ["Harbour"] * 2
    assert ex.creator_noun(labels) == "labels"
    none = load_items(io.BytesIO(CATALOGUE.encode()), creator_column="")
    assert ex.creators_of(none, np.array(["t1", "t2"])) is None
    with pytest.raises(DataError, match="'studio'.*track_id"):
        load_items(io.BytesIO(CATALOGUE.encode()), creator_column="studio")
    # items the catalogue does not list have no creator
    assert ex.creators_of(catalog, np.array(["t3", "t9"])).tolist() == ["The Quiet Forks", ""]
    # a movie catalogue has no creator column
    assert load_items(io.BytesIO(b"movieId,title,genres\n1,Heat (1995),Action\n")).report["columns"]["creator"] is None


# -- through the real worker --------------------------------------------------------------------
def run_worker(home: Path) -> None:
    env = dict(os.environ, TASTEMAKER_HOME=str(home))
    done = subprocess.run([sys.executable, "-m", "recsys", "worker", "--once"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_worker_stores_exposure_and_older_runs_get_the_same_figures(tmp_path):
    from recsys import jobs
    from recsys.store import Store

    log, catalogue = track_files(tmp_path)
    store = Store(tmp_path / "home")
    dataset = store.add_dataset(log, items=catalogue)
    run_id = jobs.submit(store, dataset, "itemknn", protocol="random", seed=3)
    run_worker(store.home)
    runs = store.list_runs(dataset)
    assert set(runs["status"]) == {"done"} and len(runs) == 2  # the run and its Popularity baseline
    inter, catalog = store.load_dataset(dataset)
    for rid in runs["id"].astype(int):
        stored = store.run_exposure(rid)
        assert stored is not None and stored["creators"] is not None
        again = ex.list_exposure(store.run_recommendations(rid), inter, catalog, k=int(store.run(rid)["k"]))
        assert stored == json.loads(json.dumps(again))
    # a run stored before exposure was kept: the same figures, computed from its lists
    stored = store.run_exposure(run_id)
    (store.run_dir(run_id) / "exposure.json").unlink()
    assert store.run_exposure(run_id) is None
    assert json.loads(json.dumps(ex.run_exposure(store, run_id))) == stored
    baseline = int(runs.loc[runs["model"] == "popularity", "id"].iloc[0])
    table = ex.exposure_table(store, dataset, [(run_id, "Similar items"), (baseline, "Popularity")])
    assert table["label"].tolist() == ["Similar items", "Popularity", ex.DATA_LABEL]
    assert table["is_reference"].tolist() == [False, True, True]
    pop, data = table.iloc[1], table.iloc[2]
    assert pop["popular_share"] > data["popular_share"]  # Popularity concentrates on the hits more than people do
    assert data["top_creators_slot_share"] == pytest.approx(data["top_creators_data_share"])
    assert data["creators"] == len({a for a in catalog.frame["creator"] if a})
    sentences = ex.exposure_sentences(table, ex.creator_noun(catalog))
    assert sentences[0].startswith("In the data itself") and "ten biggest artists" in sentences[1]
