"""What the queue accepts and what it expects, before any worker runs: which models a dataset is offered,
how long a run will take and how much memory it needs (calibrated from the finished runs in the store),
and how far a running run is. Real stores in temporary folders; datasets built by the tests."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.listening import listening_log
from recsys import jobs
from recsys.data import describes_items
from recsys.store import Store

ROOT = Path(__file__).resolve().parents[1]


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
    plays, artists, _ = listening_log(listeners=150, artists=400, seed=2)
    return plays, artists


# -- content only where there is content ---------------------------------------------------------------
def test_artist_names_alone_do_not_offer_content(store, music):
    plays, artists = music
    dataset = store.add_dataset(tsv(plays), items=tsv(artists), source_name="user_artists.dat")
    meta = store.dataset(dataset)
    assert meta["has_catalog"] and not describes_items(meta["report"]["catalog"])
    assert "content" not in [m["model"] for m in meta["report"]["suggested_models"]]
    refused = jobs.model_refusals(store, dataset)
    assert set(refused) == {"content", "mf"}  # mf: play counts are no star ratings
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
    assert set(jobs.model_refusals(store, dataset)) == {"mf"}
    assert store.run(jobs.submit(store, dataset, "content"))["status"] == "queued"


def test_no_catalogue_at_all_refuses_content_saying_so(store, music):
    plays, _ = music
    dataset = store.add_dataset(tsv(plays), source_name="plays.tsv")
    assert "has none" in jobs.model_refusals(store, dataset)["content"]


# -- rating models only on ratings ------------------------------------------------------------------
def test_play_counts_refuse_the_rating_model_and_star_ratings_accept_it(store, music):
    """mf predicts star ratings: on play counts (into the thousands here) it has nothing to predict and its
    squared error overflowed to NaN; it is refused before queueing, in one sentence that names what to pick."""
    plays, _ = music
    counts = store.add_dataset(tsv(plays), source_name="user_artists.dat")
    assert not store.dataset(counts)["explicit"]
    with pytest.raises(jobs.JobRefused) as refusal:
        jobs.submit(store, counts, "mf")
    assert str(refusal.value) == (
        "Matrix factorisation predicts star ratings, and this dataset has none (its values are counts or events): "
        "pick a model that learns from plays, clicks or purchases, such as Implicit ALS, EASE or Similar items "
        "(ItemKNN).")
    assert store.list_runs().empty

    stars = pd.DataFrame({"reader": [f"r{i % 40}" for i in range(400)],
                          "book": [f"Book {(i * 7) % 30}" for i in range(400)],
                          "stars": [1 + (i % 5) for i in range(400)]})
    rated = store.add_dataset(stars.to_csv(index=False).encode(), source_name="book_ratings.csv")
    assert store.dataset(rated)["explicit"]
    assert "mf" not in jobs.model_refusals(store, rated)
    assert store.run(jobs.submit(store, rated, "mf"))["status"] == "queued"


def test_train_page_does_not_offer_content_for_names_only(store, music, monkeypatch, open_app):
    plays, artists = music
    dataset = store.add_dataset(tsv(plays), name="Artists", items=tsv(artists), source_name="user_artists.dat")
    monkeypatch.setenv("TASTEMAKER_HOME", str(store.home))
    monkeypatch.chdir(ROOT)
    at = open_app("pages/train.py", session={"tm_current_dataset": dataset})
    assert not at.exception, at.exception
    models = at.multiselect(key=f"models_{dataset}")
    assert "Content-based" not in models.options and "content" not in models.value  # options are labels
    assert "EASE" in models.options
    assert any(c.value.startswith("Not offered: Content-based needs a catalogue") for c in at.caption)


# -- estimates from this machine -----------------------------------------------------------------------
def finished(store: Store, dataset: int, model: str, seconds: float, device: str = "cpu", epochs: int = 0,
             params: dict | None = None, peak_memory: int | None = None) -> int:
    """A finished run in the store's history that took ``seconds`` (a fake history: no training)."""
    run = store.create_run(dataset, model, params or {}, "random", 42, status="done")
    store.update_run(run, device=device, started_at=1_000.0, finished_at=1_000.0 + seconds)
    for epoch in range(1, epochs + 1):
        store.add_epoch(run, {"epoch": epoch, "epochs": epochs, "loss": 1.0, "seconds": 0.1})
    if peak_memory is not None:
        store.run_dir(run).mkdir(parents=True, exist_ok=True)
        store.save_run_usage(run, {"peak_memory_bytes": peak_memory})
    return run


def formula(model: str, meta: dict, **params) -> float:
    from recsys.models import MODELS

    p = {**MODELS[model].default_params(), **params}
    phases, _ = jobs.formula_phases(model, p, meta["n_users"], meta["n_items"], meta["n_interactions"])
    return sum(phases.values())


@pytest.fixture
def two_sizes(store, music):
    """The same kind of data at two sizes: (small dataset id, large dataset id)."""
    plays, _ = music
    bigger, _, _ = listening_log(listeners=300, artists=800, seed=3)
    return (store.add_dataset(tsv(plays), source_name="small.tsv"),
            store.add_dataset(tsv(bigger), source_name="large.tsv"))


def test_without_history_the_estimate_is_the_formula_with_the_serving_refit(store, two_sizes):
    small, _ = two_sizes
    meta = store.dataset(small)
    guess = jobs.estimate((store, small), "ease", device="cpu")
    assert guess.seconds == pytest.approx(formula("ease", meta))
    assert set(guess.phases) == {"loading", "training", "evaluating", "refitting", "saving"}
    assert guess.phases["refitting"] > guess.phases["training"] > 0  # the refit sees all the data, not 80%
    assert guess.basis.startswith("this machine's formula") and guess.epoch_seconds is None
    ials = jobs.estimate((store, small), "ials", {"epochs": 10}, device="cpu")
    assert ials.epoch_seconds == pytest.approx(ials.phases["training"] / 10)


def test_history_scales_the_formula_by_the_median_ratio(store, two_sizes):
    small, large = two_sizes
    meta_small, meta_large = store.dataset(small), store.dataset(large)
    base = formula("itemknn", meta_small)
    for ratio in (1.0, 3.0, 10.0):  # the median is 3
        finished(store, small, "itemknn", ratio * base)
    finished(store, small, "ease", 100 * base)  # another model: no say
    finished(store, small, "itemknn", 50 * base, device="cuda")  # another device: no say
    guess = jobs.estimate((store, small), "itemknn", device="cpu")
    assert guess.seconds == pytest.approx(3.0 * base)
    assert guess.basis == "calibrated on 3 finished runs of this model"
    # on twice the data the calibrated estimate scales as the formula does
    other = jobs.estimate((store, large), "itemknn", device="cpu")
    assert other.seconds / guess.seconds == pytest.approx(formula("itemknn", meta_large) / base)
    assert formula("itemknn", meta_large) > base
    assert jobs.estimate((store, small), "userknn", device="cpu").seconds == pytest.approx(
        formula("userknn", meta_small))  # no history of its own


def test_history_counts_the_epochs_a_run_really_did(store, two_sizes):
    small, _ = two_sizes
    meta = store.dataset(small)
    # stopped early after 5 of 20 epochs, and it took twice what the formula says for 5 epochs
    finished(store, small, "ials", 2.0 * formula("ials", meta, epochs=5), epochs=5, params={"epochs": 20})
    guess = jobs.estimate((store, small), "ials", {"epochs": 20}, device="cpu")
    assert guess.seconds == pytest.approx(2.0 * formula("ials", meta, epochs=20))
    assert guess.epoch_seconds == pytest.approx(2.0 * jobs.formula_phases(
        "ials", {**jobs_defaults("ials"), "epochs": 20}, meta["n_users"], meta["n_items"],
        meta["n_interactions"])[1])


def jobs_defaults(model: str) -> dict:
    from recsys.models import MODELS

    return MODELS[model].default_params()


def test_memory_is_calibrated_from_measured_peaks(store, two_sizes):
    small, _ = two_sizes
    plain = jobs.estimate((store, small), "bpr", device="cpu").memory_bytes
    finished(store, small, "bpr", 5.0, peak_memory=3 * plain)
    assert jobs.estimate((store, small), "bpr", device="cpu").memory_bytes == pytest.approx(3 * plain, rel=1e-6)


def test_submit_stores_the_calibrated_estimate_with_its_phases(store, two_sizes):
    small, _ = two_sizes
    base = formula("popularity", store.dataset(small))
    finished(store, small, "popularity", 4.0 * base)
    run = store.run(jobs.submit(store, small, "popularity"))
    assert run["estimate"]["seconds"] == pytest.approx(4.0 * base)
    assert run["estimate"]["phases"]["refitting"] > 0 and "calibrated" in run["estimate"]["basis"]


# -- progress ------------------------------------------------------------------------------------------
PHASES = {"loading": 1.0, "training": 20.0, "evaluating": 4.0, "refitting": 20.0, "saving": 5.0}  # 50 s
ESTIMATE = {"seconds": 50.0, "phases": PHASES, "epoch_seconds": 2.0}  # 10 epochs of 2 s


def running(**fields) -> dict:
    return {"status": "running", "estimate": ESTIMATE, "epochs_total": 10, **fields}


def test_progress_known_answers():
    assert jobs.progress({"status": "queued", "estimate": ESTIMATE})["eta_seconds"] == 50.0
    assert jobs.progress({"status": "done"}) == {"fraction": 1.0, "eta_seconds": 0.0, "late": False}
    # 5 of 10 epochs measured at 4 s each, twice the estimate: 5 more epochs, and the later phases doubled
    half = jobs.progress(running(phase="training", epochs_done=5, epoch_seconds=20.0, duration_seconds=21.0))
    assert half["eta_seconds"] == pytest.approx(4.0 * 5 + 2.0 * (4.0 + 20.0 + 5.0))
    assert half["fraction"] == pytest.approx(21.0 / (21.0 + 78.0))
    # a one-shot model: the estimate less the time elapsed
    one_shot = jobs.progress({"status": "running", "phase": "training", "epochs_total": None,
                              "duration_seconds": 5.0, "estimate": {"seconds": 20.0}})
    assert one_shot["eta_seconds"] == pytest.approx(15.0) and one_shot["fraction"] == pytest.approx(0.25)
    stopped = jobs.progress({"status": "cancelled", "epochs_done": 3, "epochs_total": 10})
    assert stopped == {"fraction": 0.3, "eta_seconds": None, "late": False}
    # rows of list_runs() hold NaN where a figure is missing
    row = pd.Series({"status": "running", "phase": "training", "epochs_done": 0, "epochs_total": float("nan"),
                     "epoch_seconds": float("nan"), "duration_seconds": 1.0, "estimate": {"seconds": 10.0}})
    assert jobs.progress(row)["eta_seconds"] == pytest.approx(9.0)


def test_progress_never_sits_at_one_second():
    """Every second of a run whose phases overrun: the time left is a real count of at least 2 s, or
    unknown (the page then says "finishing" or "taking longer than estimated"), never "1 s" for long."""
    etas = []
    for second in range(0, 120):
        for phase in ("loading", "training", "evaluating", "refitting", "saving"):
            state = jobs.progress(running(phase=phase, epochs_done=10 if phase != "training" else 0,
                                          epoch_seconds=40.0, duration_seconds=float(second)))
            eta = state["eta_seconds"]
            assert eta is None or eta >= 2.0, (phase, second, eta)
            assert 0.0 <= state["fraction"] < 1.0
            if phase == "saving":
                etas.append(eta)
    assert etas[0] == pytest.approx(2.0 * 50.0 - 0.0)  # measured epochs at twice the estimate: all doubled
    assert etas[-1] is None  # 119 s into a run estimated (after scaling) at 100 s
    late = jobs.progress(running(phase="saving", epochs_done=10, epoch_seconds=40.0, duration_seconds=119.0))
    assert late["late"] is True and late["fraction"] == pytest.approx(0.97)


def test_train_page_estimates_learn_from_this_machines_runs(store, music, monkeypatch, open_app):
    from ui import format as fmt

    plays, _ = music
    dataset = store.add_dataset(tsv(plays), name="Plays", source_name="plays.tsv")
    base = formula("ease", store.dataset(dataset))
    finished(store, dataset, "ease", 3.0 * base)
    monkeypatch.setenv("TASTEMAKER_HOME", str(store.home))
    monkeypatch.chdir(ROOT)
    at = open_app("pages/train.py", session={"tm_current_dataset": dataset})
    at.radio(key="train_device").set_value("cpu")
    at.multiselect(key=f"models_{dataset}").set_value(["ease", "itemknn"]).run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value.set_index("Model")
    assert table.loc["EASE", "Time"] == fmt.about(3.0 * base)
    assert any("Learned from earlier runs on this machine for EASE; first guesses for the others" in c.value
               for c in at.caption)
