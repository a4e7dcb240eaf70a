"""Tuning runs in the background worker: a real ``python -m recsys worker`` process on a real store searches
on validation only, stores each trial as it ends, refits the best settings on the training part and scores
the test once; cancel and a killed worker keep the trials. The data is a listening log of four scenes
(built in tests/test_tuning.py)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from recsys import cli, jobs, tuning
from recsys.models import MODELS
from recsys.models.knn import ItemKNN
from recsys.split import make_split
from tests.conftest import start_worker, wait_for
from tests.test_tuning import listening_log, pairs

ROOT = Path(__file__).resolve().parents[1]


def plays_csv() -> bytes:
    return listening_log().to_csv(index=False).encode()


def test_a_tuning_run_searches_stores_its_trials_and_scores_the_best_settings_once(store, processes, capsys):
    dataset_id = store.add_dataset(plays_csv(), source_name="plays.csv")
    run_id = jobs.submit(store, dataset_id, "ials", {"factors": 16}, protocol="random", seed=4,
                         tune={"trials": 5})
    queued = store.run(run_id)
    assert queued["tune"] == {"minutes": None, "trials": 5} and queued["estimate"]["seconds"] > 0
    worker = start_worker(store, processes)
    assert worker.wait(timeout=300) == 0
    run = store.run(run_id)
    assert run["status"] == "done", run["error"]
    trials = store.trials(run_id)
    assert [t["number"] for t in trials] == list(range(5)) and run["trials_done"] == 5
    assert all(t["state"] in ("complete", "pruned", "failed") for t in trials)
    best = max((t for t in trials if t["state"] == "complete"), key=lambda t: t["value"])
    assert run["tune"]["best_trial"] == best["number"] and run["tune"]["best_value"] == pytest.approx(best["value"])
    assert run["tune"]["searched"] == ["regularization", "alpha"]  # factors was fixed
    # the run's settings are the best trial's (its epoch count included), early stopping off
    assert {k: run["params"][k] for k in best["params"]} == best["params"]
    assert run["params"]["factors"] == 16 and run["params"]["patience"] is None
    assert run["epochs_total"] == best["params"]["epochs"] == len(store.epochs(run_id))
    model = store.load_run_model(run_id, evaluated=True)
    assert model.regularization == pytest.approx(best["params"]["regularization"])
    # refitted on the whole training part (fit-train and validation), scored on the test part once;
    # the serving model: the same settings and epochs on every interaction
    inter, _ = store.load_dataset(dataset_id)
    split = make_split(inter, "random", seed=4)
    assert model.user_items_.nnz == len(split.train) > len(split.fit_train)
    serving = store.load_run_model(run_id)
    assert serving.user_items_.nnz == len(inter) and serving.get_params() == model.get_params()
    assert run["summary"]["ndcg"] > 0 and store.load_evaluation(run_id).summary["ndcg"] == run["summary"]["ndcg"]
    # its folder's manifest keeps the trials, so `doctor --repair` can bring them back
    manifest = json.loads((store.run_dir(run_id) / "manifest.json").read_text())
    assert [t["number"] for t in manifest["trials"]] == list(range(5))
    # the baseline and the command line say it was tuned
    assert store.baseline_run(dataset_id, "random", 4) is not None
    assert cli.main(["runs"]) == 0
    assert "ials (tuned, 5 trials)" in capsys.readouterr().out


def test_cancel_stops_the_search_and_keeps_its_trials(store, processes):
    dataset_id = store.add_dataset(plays_csv(), source_name="plays.csv")
    run_id = jobs.submit(store, dataset_id, "ials", protocol="random", tune={"minutes": 10})
    start_worker(store, processes)
    wait_for(lambda: len(store.trials(run_id)) >= 2, "two trials stored", timeout=120)
    jobs.cancel(store, run_id)
    wait_for(lambda: store.run(run_id)["status"] != "running", "the run to stop", timeout=120)
    run = store.run(run_id)
    assert run["status"] == "cancelled"
    kept = store.trials(run_id)
    assert len(kept) >= 2 and "Cancelled while tuning" in run["error"] and "the best so far" in run["error"]
    assert run["tune"]["ended_by"] == "cancelled"
    assert not store.run_dir(run_id).exists()  # nothing refitted or saved


def test_a_killed_worker_leaves_the_tuning_run_interrupted_with_its_trials(store, processes):
    dataset_id = store.add_dataset(plays_csv(), source_name="plays.csv")
    run_id = jobs.submit(store, dataset_id, "ials", protocol="random", tune={"minutes": 10})
    worker = start_worker(store, processes)
    wait_for(lambda: len(store.trials(run_id)) >= 1, "a trial stored", timeout=120)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=30)
    jobs.worker_state(store)  # what the dashboard calls on every page: marks the run interrupted
    run = store.run(run_id)
    assert run["status"] == "interrupted" and "killed" in run["error"]
    assert len(store.trials(run_id)) >= 1


def test_bad_tuning_budgets_are_refused_in_one_line(store):
    dataset_id = store.add_dataset(plays_csv(), source_name="plays.csv")
    for budget, words in (({"minutes": 0}, "more than 0"), ({"trials": 0}, "from 1 to"),
                          ({"minutes": "soon"}, "number of minutes")):
        with pytest.raises(jobs.JobRefused, match=words):
            jobs.submit(store, dataset_id, "bpr", tune=budget)
    with pytest.raises(jobs.JobRefused, match="no setting to tune"):
        jobs.submit(store, dataset_id, "popularity", tune={})
    with pytest.raises(jobs.JobRefused, match="no setting to tune left"):
        jobs.submit(store, dataset_id, "ease", {"regularization": 100.0}, tune={})
    assert store.run_records() == []
    assert jobs.submit(store, dataset_id, "bpr", tune={}) and store.run_records()[0]["tune"]["minutes"] == 5.0


class Recording(ItemKNN):
    """Item-KNN that writes down every pair it learns from."""

    name = "recording"
    fitted: list[set] = []

    def fit(self, train, on_epoch=None, **kwargs):
        Recording.fitted.append(pairs(train))
        return super().fit(train, on_epoch, **kwargs)


def test_the_worker_never_lets_the_search_see_the_test_split(store, monkeypatch):
    monkeypatch.setitem(MODELS, "recording", Recording)
    monkeypatch.setattr(Recording, "fitted", [])
    dataset_id = store.add_dataset(plays_csv(), source_name="plays.csv")
    inter, _ = store.load_dataset(dataset_id)
    split = make_split(inter, "random", seed=9)
    test = pairs(split.test)
    fit_train, validation, _ = tuning.search_parts(split)
    run_id = jobs.submit(store, dataset_id, "recording", protocol="random", seed=9, tune={"trials": 3})
    assert jobs.run_worker(store, once=True) >= 1  # in this process, so the recording model is registered
    assert store.run(run_id)["status"] == "done", store.run(run_id)["error"]
    *searched, refit, serving = Recording.fitted[-5:]
    assert len(store.trials(run_id)) == 3 == len(searched)
    assert all(fitted == pairs(fit_train) for fitted in searched)  # trials learn from fit-train only
    assert refit == pairs(split.train)  # the best settings: the whole training part, then scored once
    assert serving == pairs(inter)  # the serving model: every interaction, after the test was scored
    assert not any(fitted & test for fitted in Recording.fitted[:-1])
    assert not pairs(validation) & test and np.isfinite(store.run(run_id)["summary"]["ndcg"])


def test_submit_tune_from_the_command_line(store, tmp_path, capsys):
    plays = tmp_path / "plays.csv"
    plays.write_bytes(plays_csv())
    assert cli.main(["submit", str(plays), "--model", "bpr", "--tune", "--minutes", "5"]) == 0
    out = capsys.readouterr()
    run = store.run(int(out.out.strip()))
    assert run["tune"] == {"minutes": 5.0, "trials": None} and "queued tuning run" in out.err
    assert run["estimate"]["seconds"] >= 300
    assert cli.main(["submit", str(plays), "--model", "bpr", "--minutes", "5"]) == 2
    assert "add --tune" in capsys.readouterr().err


def test_progress_of_a_search_counts_its_budget():
    run = {"status": "running", "phase": "tuning", "duration_seconds": 150.0, "trials_done": 7,
           "tune": {"minutes": 5.0, "trials": None}, "estimate": {"seconds": 320.0}}
    progress = jobs.progress(run)
    assert progress["fraction"] == pytest.approx(0.05 + 0.8 * 0.5)
    assert progress["eta_seconds"] == pytest.approx(150.0 + 20.0)  # the rest of the search, then one fit
    by_trials = jobs.progress({**run, "tune": {"minutes": None, "trials": 10}})
    assert by_trials["fraction"] == pytest.approx(0.05 + 0.8 * 0.7)
    assert by_trials["eta_seconds"] == pytest.approx(150.0 / 7 * 3)
