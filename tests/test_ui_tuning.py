"""Tuning on the Train page (Streamlit's in-process runner, a temporary TASTEMAKER_HOME): the "Tune
automatically" choice with its budget and estimate, and a tuning run's trials as a table and two charts."""

from __future__ import annotations

import json

import pytest

from recsys import jobs
from recsys.store import Store
from tests.test_tuning import listening_log


def test_tune_automatically_sets_a_budget_shows_its_estimate_and_queues_tuning_runs(home, open_app):
    at = open_app("pages/train.py")
    demo_id = int(Store(home).list_datasets().iloc[0]["id"])
    at.multiselect(key=f"models_{demo_id}").set_value(["ease", "popularity"]).run()
    plain = at.get("dataframe")[0].value
    assert "(tuned)" not in " ".join(plain["Model"])
    at.toggle(key="train_tune_on").set_value(True).run()
    assert not at.exception and not at.error
    assert at.select_slider(key="train_tune_minutes").value == 5
    at.select_slider(key="train_tune_minutes").set_value(2).run()
    estimate = at.get("dataframe")[0].value
    tuned = estimate[estimate["Model"].str.contains("(tuned)", regex=False)]
    assert len(tuned) == 1 and "EASE" in tuned.iloc[0]["Model"]
    assert "min" in tuned.iloc[0]["Time"]  # at least the two minutes of searching
    assert any("nothing to tune" in c.value for c in at.caption)  # Popularity trains as it is
    at.button(key="start_training").click().run()
    assert not at.exception and not at.error
    runs = {run["model"]: run for run in Store(home).run_records(dataset_id=demo_id)}
    assert runs["ease"]["tune"] == {"minutes": 2.0, "trials": None}
    assert runs["popularity"]["tune"] is None
    for run in runs.values():
        if run["status"] in ("queued", "running"):
            jobs.cancel(Store(home), int(run["id"]))


@pytest.fixture
def tuned_run(home):
    """A finished tuning run of item-KNN (5 trials) on a listening log, trained by the worker in this process."""
    store = Store(home)
    store.ensure_demo()
    dataset_id = store.add_dataset(listening_log().to_csv(index=False).encode(), name="Scenes",
                                   source_name="plays.csv")
    run_id = jobs.submit(store, dataset_id, "itemknn", protocol="random", tune={"trials": 5})
    jobs.run_worker(store, once=True)
    assert store.run(run_id)["status"] == "done", store.run(run_id)["error"]
    return dataset_id, run_id


def test_a_tuning_run_shows_its_trials_charts_and_chosen_settings(home, tuned_run, open_app):
    dataset_id, run_id = tuned_run
    at = open_app("pages/train.py")
    picker = next(box for box in at.selectbox if (box.key or "").startswith("train_dataset_picker"))
    picker.set_value(dataset_id).run()
    assert not at.exception and not at.error
    tables = [df.value for df in at.get("dataframe")]
    runs = next(t for t in tables if "Status" in t)
    assert [m for m in runs["Model"] if m.endswith("(tuned)")] == ["Similar items (ItemKNN) (tuned)"]
    trials = next(t for t in tables if "Validation NDCG@10" in t)
    assert list(trials["Trial"]) == [0, 1, 2, 3, 4]
    assert trials["Settings"].str.contains("Neighbours").all()  # plain labels, not raw names
    assert trials["Outcome"].str.contains("Best so far").sum() == 1
    assert "(the defaults)" in trials.iloc[0]["Outcome"]
    specs = {json.loads(c.proto.spec)["layout"]["title"]["text"]: json.loads(c.proto.spec)
             for c in at.get("plotly_chart")}
    history = specs["How the search went"]
    assert history["layout"]["xaxis"]["title"]["text"] == "Trial"
    assert sum(len(trace["x"]) for trace in history["data"] if trace["mode"] == "markers") == 5
    importance = specs["Which settings mattered"]
    assert importance["layout"]["xaxis"]["title"]["text"] and importance["data"][0]["y"]
    chosen = " ".join(m.value for m in at.markdown)
    assert "Chosen settings" in chosen and "Neighbours" in chosen


def test_the_leaderboard_marks_the_tuned_run_and_says_what_it_chose(home, tuned_run, open_app):
    dataset_id, run_id = tuned_run
    at = open_app("pages/results.py", session={"tm_current_dataset": dataset_id})
    assert not at.exception and not at.error, (at.exception, at.error)
    board = next(df.value for df in at.get("dataframe") if "Model" in df.value)
    assert [m for m in board["Model"] if "(tuned)" in m] == [f"Similar items (ItemKNN) (tuned) · run #{run_id}"]
    chosen = " ".join(m.value for m in at.markdown)
    run = Store(home).run(run_id)
    assert run["tune"]["settings_words"] and run["tune"]["settings_words"] in chosen
    assert "Neighbours" in run["tune"]["settings_words"] and "from 5 trials" in chosen


def test_tuned_settings_in_the_leaderboard_module():
    import pandas as pd

    from recsys import leaderboard

    runs = pd.DataFrame([
        {"id": 3, "model": "bpr", "status": "done", "protocol": "random", "seed": 42, "tune": None},
        {"id": 4, "model": "bpr", "status": "done", "protocol": "random", "seed": 42,
         "tune": {"settings_words": "Learning rate 0.04", "best_value": 0.18, "default_value": 0.16,
                  "counts": {"complete": 3, "pruned": 4, "failed": 1}, "seconds": 240.0}},
    ])
    finished = leaderboard.finished_runs(runs)
    assert list(finished["label"]) == ["BPR (tuned) · run #4", "BPR · run #3"]
    tuned = leaderboard.tuned_settings(finished)
    assert tuned.to_dict("records") == [{"run_id": 4, "label": "BPR (tuned) · run #4", "settings": "Learning rate 0.04",
                                         "validation": 0.18, "defaults": 0.16, "trials": 8, "minutes": 4.0}]
