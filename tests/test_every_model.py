"""Every registered model through the dashboard's real path: ``jobs.submit``, a real ``python -m recsys
worker --once`` process on a real SQLite store, then the stored results and ``recommend --run``.

The data is built here and is not movies: a music listening log (listeners, artist names, play counts,
a catalogue of genres) tested on the random split, and a book-club log of 1-5 star ratings tested on
the users split (whole readers held out and scored by fold-in). Each run must finish with its evaluation
(test top-k lists included) and a serving model trained on every interaction, and nothing it recommends
(stored lists or the CSV export) may be an item the person has anywhere in the data.

A second test registers a model that only records what it is given, runs it through the same worker
loop, and checks that no test interaction ever reaches ``fit``, as training data or as validation.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys import cli, jobs
from recsys.evaluation import relevance_threshold_of, relevant_part, run_protocol
from recsys.models import MODELS
from recsys.models.bpr import BPR
from recsys.split import make_split

ROOT = Path(__file__).resolve().parents[1]

GENRES = {
    "rock": ["The Granite Owls", "Velvet Tractor", "Paper Lanterns", "Iron Orchard", "Static Harbour",
             "Red Meridian", "Hollow Pines", "The Lowlands"],
    "jazz": ["Miriam Okafor Trio", "Blue Alder Quartet", "Samuel Reyes", "Nightjar Ensemble", "Clara Voss",
             "The Slow Rivers", "Tomas Lindqvist", "Amber Loop"],
    "hip hop": ["Kid Compass", "Lyric Stone", "MC Halcyon", "Grit & Gold", "Dana Blaze", "Rooftop Verse",
                "Northside Echo", "Big Solstice"],
    "electronic": ["Neon Harbor", "Pulse Theory", "Orbit Nine", "Circuit Bloom", "Polar Drift", "Synthwood",
                   "Lumen Array", "Glasshouse"],
    "folk": ["Maple & Rye", "The Wandering Oaks", "Ellie Marsh", "Old Creek Band", "Willow Thorne",
             "Harvest Moon Choir", "Jonah Brightwater", "The Quiet Fields"],
}


def listening_log(n_people: int = 60, seed: int = 0) -> tuple[bytes, bytes]:
    """(plays CSV: user, artist, plays; catalogue CSV: artist, name, genre). Each listener loves two
    genres and plays mostly their artists, with heavy-tailed play counts."""
    rng = np.random.default_rng(seed)
    genres = list(GENRES)
    rows = []
    for person in range(n_people):
        loved = rng.choice(len(genres), 2, replace=False)
        pool = [a for g in loved for a in GENRES[genres[g]]]
        others = [a for g, names in GENRES.items() if genres.index(g) not in loved for a in names]
        picks = [*rng.choice(pool, int(rng.integers(6, 14)), replace=False), *rng.choice(others, 2, replace=False)]
        rows += [(f"listener_{person:03d}", artist, int(rng.geometric(0.02))) for artist in picks]
    plays = pd.DataFrame(rows, columns=["user", "artist", "plays"])
    catalogue = pd.DataFrame([(a, a, g) for g, names in GENRES.items() for a in names],
                             columns=["artist", "name", "genre"])
    return plays.to_csv(index=False).encode(), catalogue.to_csv(index=False).encode()


def book_ratings(n_people: int = 60, seed: int = 1) -> tuple[bytes, bytes]:
    """(ratings CSV: reader, book, stars 1-5; catalogue CSV: book, title, genre). Readers rate books of
    their favourite genre high and the rest low."""
    rng = np.random.default_rng(seed)
    shelves = {g: [f"{g.title()} Book {i}" for i in range(8)] for g in ("mystery", "romance", "sci-fi", "history")}
    rows = []
    for person in range(n_people):
        favourite = rng.choice(list(shelves))
        for genre, books in shelves.items():
            count = 6 if genre == favourite else 2
            for book in rng.choice(books, count, replace=False):
                stars = int(rng.integers(4, 6)) if genre == favourite else int(rng.integers(1, 4))
                rows.append((f"reader_{person:03d}", book, stars))
    ratings = pd.DataFrame(rows, columns=["reader", "book", "stars"])
    catalogue = pd.DataFrame([(b, b, g) for g, books in shelves.items() for b in books],
                             columns=["book", "title", "genre"])
    return ratings.to_csv(index=False).encode(), catalogue.to_csv(index=False).encode()


def short_settings(name: str) -> dict:
    """Settings that keep every model to about a second on this data: few epochs and factors, a
    validation after every epoch and early stopping (so the refit's epoch count comes from validation)."""
    wanted = {"epochs": 3, "factors": 8, "hidden": 16, "neighbors": 10, "validate_every": 1, "patience": 1}
    return {k: v for k, v in wanted.items() if k in MODELS[name].param_names()}


def pairs(users: pd.Series, items: pd.Series) -> set[tuple[str, str]]:
    return set(zip(users.astype(str), items.astype(str), strict=True))


@pytest.mark.parametrize(("data", "protocol"), [(listening_log, "random"), (book_ratings, "users")],
                         ids=["music plays, random split", "book stars, users split"])
def test_every_model_trains_through_the_worker_and_never_recommends_what_people_have(
    data, protocol, store, tmp_path, capsys
):
    interactions, catalogue = data()
    dataset_id = store.add_dataset(interactions, items=catalogue, source_name="log.csv")
    inter, _ = store.load_dataset(dataset_id)
    had = pairs(pd.Series(inter.user_ids[inter.users]), pd.Series(inter.item_ids[inter.items]))
    refused = jobs.model_refusals(store, dataset_id)
    assert set(refused) == ({"mf"} if data is listening_log else set()), refused  # mf needs star ratings
    runs = {name: jobs.submit(store, dataset_id, name, short_settings(name), protocol=protocol, seed=5)
            for name in MODELS if name not in refused}

    started = time.perf_counter()
    env = dict(os.environ, TASTEMAKER_HOME=str(store.home), PYTHONPATH=str(ROOT))
    worker = subprocess.run([sys.executable, "-m", "recsys", "worker", "--once"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - started
    assert worker.returncode == 0, worker.stderr[-2000:]
    print(f"\n{len(runs)} models ({protocol} split) through one worker process: {seconds:.1f} s")

    split = make_split(inter, protocol, seed=5)
    for name, run_id in runs.items():
        run = store.run(run_id)
        assert run["status"] == "done", f"{name}: {run['status']}: {run['error']}"
        evaluation = store.load_evaluation(run_id)
        assert np.isfinite(evaluation.summary["ndcg"]), name
        assert evaluation.recs is not None and evaluation.recs.shape == (len(evaluation.users), run["k"]), name
        assert evaluation.split_fingerprint == split.fingerprint(), name
        assert not np.isnan(evaluation.per_user["diversity"]).all(), name  # one shared item representation
        if MODELS[name].iterative:
            assert store.epochs(run_id)["validation"].notna().any(), name  # validated while training

        serving = store.load_run_model(run_id)
        evaluated = store.load_run_model(run_id, evaluated=True)
        assert (store.run_dir(run_id) / "serving" / "model.json").exists(), name
        assert serving.user_items_.nnz == len(inter), f"{name}: the serving model knows every interaction"
        # iterative models learn from fit-train (validation steers them); one-step models from the whole
        # training part; neither from the test
        learned_from = split.fit_train if MODELS[name].iterative else split.train
        assert evaluated.user_items_.nnz == len(learned_from), f"{name}: learned from the wrong part"

        stored = store.run_recommendations(run_id)
        assert not pairs(stored["user"], stored["item"]) & had, f"{name}: stored lists repeat history"
        assert stored["user"].nunique() == inter.n_users, name

        out = tmp_path / f"{name}.csv"
        assert cli.main(["recommend", "--run", str(run_id), "--k", "10", "--out", str(out)]) == 0
        capsys.readouterr()
        export = pd.read_csv(out, dtype={"user": str, "item": str})
        assert list(export.columns) == ["user", "item", "rank", "score"], name
        assert not pairs(export["user"], export["item"]) & had, f"{name}: the export repeats history"
        assert export["user"].nunique() == inter.n_users and export["rank"].max() == 10, name

    baseline = store.baseline_run(dataset_id, protocol, 5)
    assert baseline is not None and (store.run_dir(baseline) / "serving" / "model.json").exists()


class Recorder(BPR):
    """BPR (iterative, so validation steers it) that writes down every (user, item) pair it is fitted or
    validated on."""

    name = "recorder"
    calls: list[dict[str, set]] = []

    def fit(self, train, on_epoch=None, *, validation=None, validation_input=None, catalog=None):
        def rows(part):
            return set() if part is None else set(zip(part.users.tolist(), part.items.tolist(), strict=True))

        Recorder.calls.append({"train": rows(train), "validation": rows(validation),
                               "validation_input": rows(validation_input)})
        return super().fit(train, on_epoch, validation=validation, validation_input=validation_input,
                           catalog=catalog)


@pytest.mark.parametrize("protocol", ["random", "users"])
def test_no_code_path_fits_on_the_test_split(protocol, store, monkeypatch):
    monkeypatch.setitem(MODELS, "recorder", Recorder)
    monkeypatch.setattr(Recorder, "calls", [])
    ratings, catalogue = book_ratings()
    dataset_id = store.add_dataset(ratings, items=catalogue, source_name="books.csv")
    inter, catalog = store.load_dataset(dataset_id)
    split = make_split(inter, protocol, seed=3)
    test = set(zip(split.test.users.tolist(), split.test.items.tolist(), strict=True))
    assert test

    settings = {"epochs": 2, "factors": 4, "validate_every": 1}
    run_id = jobs.submit(store, dataset_id, "recorder", settings, protocol=protocol, seed=3)
    assert jobs.run_worker(store, once=True) >= 1  # in this process, so the recorder is registered
    assert store.run(run_id)["status"] == "done", store.run(run_id)["error"]
    run_protocol(inter, ["recorder"], protocol=protocol, seed=3, catalog=catalog,  # `python -m recsys evaluate`
                 params={"recorder": settings})

    evaluated, serving, evaluated_again = Recorder.calls
    for call in (evaluated, evaluated_again):
        assert not call["train"] & test and not call["validation"] & test and not call["validation_input"] & test
        assert call["train"] == set(zip(split.fit_train.users.tolist(), split.fit_train.items.tolist(), strict=True))
        wanted = relevant_part(split.validation, relevance_threshold_of(split))
        assert call["validation"] == set(zip(wanted.users.tolist(), wanted.items.tolist(), strict=True))
        assert call["validation"]  # there was something to validate on
    assert serving["train"] == set(zip(inter.users.tolist(), inter.items.tolist(), strict=True))
    assert not serving["validation"]


def test_the_same_run_twice_gives_the_same_scores(store):
    """A run's seed seeds its split and its model: submitted twice, every figure is the same."""
    plays, catalogue = listening_log()
    dataset_id = store.add_dataset(plays, items=catalogue, source_name="plays.csv")
    twice = {name: [jobs.submit(store, dataset_id, name, short_settings(name), protocol="random", seed=11)
                    for _ in range(2)] for name in ("random", "bpr", "multvae")}
    other_seed = jobs.submit(store, dataset_id, "bpr", short_settings("bpr"), protocol="random", seed=12)
    jobs.run_worker(store, once=True)
    for name, (first, second) in twice.items():
        a, b = store.load_evaluation(first), store.load_evaluation(second)
        assert a.summary == b.summary, name
        np.testing.assert_array_equal(a.recs, b.recs)
        pd.testing.assert_frame_equal(store.run_recommendations(first), store.run_recommendations(second))
        assert store.load_run_model(first, evaluated=True).seed == store.load_run_model(first).seed == 11
    assert store.load_evaluation(other_seed).split_fingerprint != store.load_evaluation(twice["bpr"][0]).split_fingerprint


def test_the_refit_runs_the_epochs_validation_chose():
    from recsys.training import chosen_epochs, run_epochs

    scores = iter([0.10, 0.30, 0.25, 0.20, 0.40])
    history = run_epochs(10, lambda epoch: 1.0, validate=lambda: next(scores), validate_every=1, patience=2)
    assert len(history) == 4  # two validations without a gain after epoch 2: stopped
    assert chosen_epochs(history, patience=2) == 2  # the best validated epoch
    assert chosen_epochs(history, patience=None) == 4  # no early stopping: the epochs that ran
    assert chosen_epochs(run_epochs(3, lambda epoch: 1.0), patience=5) == 3  # never validated


def test_recommend_needs_one_source_and_names_a_missing_run(store, tmp_path, capsys):
    out = str(tmp_path / "recs.csv")
    assert cli.main(["recommend", "--k", "5", "--out", out]) == 2
    assert "either a saved model's folder" in capsys.readouterr().err
    assert cli.main(["recommend", "--run", "99", "--out", out]) == 2
    err = capsys.readouterr().err
    assert "99" in err and "Traceback" not in err and err.count("\n") == 1


def test_runs_saved_before_serving_models_still_load(store):
    """An older run has only model/ and an evaluation without top-k lists: both still load."""
    from dataclasses import replace

    from recsys.evaluation import evaluate, fit_on_split
    from recsys.models import make_model

    plays, _ = listening_log(n_people=20)
    dataset_id = store.add_dataset(plays, source_name="plays.csv")
    inter, _ = store.load_dataset(dataset_id)
    split = make_split(inter, "random", seed=1)
    run_id = store.create_run(dataset_id, "itemknn", {}, "random", 1, status="running")
    store.update_run(run_id, worker_id="test-worker")
    model = fit_on_split(make_model("itemknn"), split)
    store.save_run_results(run_id, model, replace(evaluate(model, split, k=5), recs=None, relevance=""))
    assert store.finish_run(run_id, "test-worker", "done")
    assert store.load_evaluation(run_id).recs is None
    for evaluated in (False, True):
        loaded = store.load_run_model(run_id, evaluated=evaluated)
        assert loaded.user_items_.nnz == len(split.train)  # the evaluated model, the only one there is
