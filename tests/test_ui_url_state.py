"""The URL carries the view: the dataset (and a page's run and person) are in the query parameters, so a
reload or a shared link lands on the same view, and a new tab opens on the dataset last used, never on
the demo while the user has data of their own. Real store, real app (AppTest), a new AppTest per visit
(a new browser session)."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from benchmarks.listening import plays_file
from recsys import jobs
from recsys.store import Store

ROOT = Path(__file__).resolve().parents[1]


def sidebar_text(at: AppTest) -> str:
    return " ".join(str(el.proto) for el in at.sidebar.get("html"))


def test_a_new_tab_opens_on_the_users_data_and_the_url_names_it(home, open_app):
    first = open_app()
    store = Store(home)
    demo = int(store.list_datasets()["id"].iloc[0])
    assert first.query_params["dataset"] == str(demo)  # a fresh studio: only the demo
    own = store.add_dataset(plays_file(), source_name="plays.csv", name="Label plays")

    tab = open_app()  # a new tab, no query parameters: the user's own data, not the demo
    assert tab.query_params["dataset"] == str(own)
    assert "Label plays" in sidebar_text(tab)


def test_reload_and_shared_links_keep_the_dataset_and_a_new_tab_opens_on_the_last_used(home, open_app):
    open_app()
    store = Store(home)
    demo = int(store.list_datasets()["id"].iloc[0])
    own = store.add_dataset(plays_file(), source_name="plays.csv", name="Label plays")

    reload = open_app("pages/train.py", dataset=str(demo))  # a reload of /train?dataset=<demo>
    assert reload.query_params["dataset"] == str(demo)
    assert "MovieLens (demo)" in sidebar_text(reload)
    assert store.preference("last_dataset") == demo

    tab = open_app()  # a second tab opens on the dataset last used (here the demo, chosen by the link)
    assert tab.query_params["dataset"] == str(demo)

    picked = open_app(dataset=str(own))
    picked.selectbox(key=f"data_overview_picker_{own}").set_value(demo).run()  # the user switches
    assert picked.query_params["dataset"] == str(demo)
    assert store.preference("last_dataset") == demo

    stale = open_app(dataset="999")  # a link to a dataset that was deleted: the last used, not an error
    assert stale.query_params["dataset"] == str(demo)


def test_a_link_lands_on_the_same_run_and_person(home, open_app):
    store = Store(home)
    dataset = store.add_dataset(plays_file(), source_name="plays.csv", name="Label plays")
    jobs.submit(store, dataset, "popularity", protocol="random", seed=42)
    knn = jobs.submit(store, dataset, "itemknn", protocol="random", seed=42)
    jobs.run_worker(store, once=True)
    assert set(store.list_runs(dataset)["status"]) == {"done"}
    pop = int(store.list_runs(dataset).query("model == 'popularity'")["id"].iloc[0])

    shared = open_app("pages/recommend.py", dataset=str(dataset), run=str(pop), person="17")
    assert shared.selectbox(key="rec_run").value == pop  # not the page's own default (the best run)
    assert shared.selectbox(key="rec_user").value == "17"  # not the most active person
    assert shared.query_params["person"] == "17" and shared.query_params["run"] == str(pop)
    shared.selectbox(key="rec_run").set_value(knn).run()
    assert shared.query_params["run"] == str(knn)

    explore = open_app("pages/explore.py", dataset=str(dataset), run=str(knn))
    assert explore.selectbox(key="explore_run").value == knn
