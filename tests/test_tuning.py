"""Tuning (recsys/tuning.py): search spaces from the declarations, Optuna trials scored on validation only,
a hopeless trial pruned, the refit of the best settings, and the test split never seen by the search.

The data is a listening log built here: listeners each favour one of four scenes (techno, folk, jazz,
metal) and mostly play artists of that scene, so settings that capture the scenes score far above ones
that do not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys import tuning
from recsys.data import Interactions
from recsys.models import MODELS, ModelError
from recsys.models.knn import ItemKNN
from recsys.split import random_split

SCENES = ("techno", "folk", "jazz", "metal")


def listening_log(listeners: int = 160, per_scene: int = 15, seed: int = 3) -> pd.DataFrame:
    """Play counts: each listener plays 10 artists of their scene and 2 of others."""
    rng = np.random.default_rng(seed)
    artists = [f"{scene} artist {n}" for scene in SCENES for n in range(per_scene)]
    rows = []
    for listener in range(listeners):
        scene = listener % len(SCENES)
        own = rng.choice(per_scene, 10, replace=False) + scene * per_scene
        others = rng.choice([a for a in range(len(artists)) if a // per_scene != scene], 2, replace=False)
        for artist in [*own, *others]:
            rows.append({"listener": f"listener-{listener:03d}", "artist": artists[artist],
                         "plays": int(rng.integers(1, 50))})
    return pd.DataFrame(rows)


def log_interactions() -> Interactions:
    return Interactions.from_frame(listening_log(), user="listener", item="artist", value="plays")


def pairs(part: Interactions) -> set[tuple[int, int]]:
    return set(zip(part.users.tolist(), part.items.tolist(), strict=True))


# -- search spaces --------------------------------------------------------------------------------
def test_the_search_space_is_read_from_the_declarations():
    space = {d.name: d for d in tuning.search_space("ials")}
    assert list(space) == ["factors", "regularization", "alpha"]  # epochs is chosen by validation, not searched
    assert space["factors"].kind == "int" and space["factors"].log
    assert (space["regularization"].low, space["regularization"].high, space["regularization"].log) == (0.1, 100.0, True)
    assert tuning.max_epochs("ials") == MODELS["ials"].setting("epochs").tune[1]
    assert [d.name for d in tuning.search_space("ials", fixed={"factors": 32})] == ["regularization", "alpha"]
    assert {d.name for d in tuning.search_space("bpr")} == {"factors", "learning_rate", "regularization"}
    assert tuning.search_space("ease")[0].log and tuning.max_epochs("ease") is None
    for name, cls in MODELS.items():  # every model with settings has a space, and only the two baselines lack one
        assert tuning.tunable(name) == (name not in ("popularity", "random")), name
        for d in tuning.search_space(name):
            setting = cls.setting(d.name)
            assert setting.low <= d.low < d.high <= (setting.high if setting.high is not None else np.inf), name
    with pytest.raises(tuning.TuningError, match="no setting to tune"):
        tuning.tune("popularity", log_interactions(), log_interactions(), trials=1)


# -- the search -----------------------------------------------------------------------------------
def test_tuning_itemknn_records_every_trial_and_picks_the_best():
    inter = log_interactions()
    fit_train, validation = tuning.validation_split(inter, seed=1)
    seen: list[int] = []
    result = tuning.tune("itemknn", fit_train, validation, trials=6, seed=7, on_trial=lambda t: seen.append(t.number))
    assert [t.number for t in result.trials] == seen == list(range(6))
    first = result.trials[0]
    defaults = MODELS["itemknn"].default_params()
    assert first.params == {d.name: defaults[d.name] for d in result.space}  # trial 0: the defaults
    assert all(t.state == "complete" and 0 < t.value <= 1 and t.seconds > 0 for t in result.trials)
    best = max(result.trials, key=lambda t: t.value)
    assert result.best_value == best.value and result.best_trial == best.number
    assert {k: result.best_params[k] for k in best.params} == best.params
    assert result.ended_by == "trials" and result.counts() == {"complete": 6, "pruned": 0, "failed": 0}
    assert len({tuple(sorted(t.params.items())) for t in result.trials}) == 6  # six different proposals
    # the scores are validation NDCG@10 of exactly those settings
    again = ItemKNN(**best.params).fit(fit_train)
    from recsys.training import validation_ndcg

    assert validation_ndcg(again, validation)() == pytest.approx(best.value)
    # the same seed proposes the same settings
    twice = tuning.tune("itemknn", fit_train, validation, trials=6, seed=7)
    assert [t.params for t in twice.trials] == [t.params for t in result.trials]


def test_a_hopeless_trial_is_pruned_early_and_the_best_epoch_is_kept():
    """bpr with a learning rate of 1e-6 never leaves its random start: the median pruner stops it at
    its first validation after the warm-up, long before the last epoch."""
    inter = log_interactions()
    fit_train, validation = tuning.validation_split(inter, seed=1)
    space = [tuning.Dimension("learning_rate", "float", 1e-6, 0.5, True, "Learning rate")]
    good = [{"learning_rate": rate} for rate in (0.1, 0.08, 0.12, 0.06)]  # five complete before pruning
    result = tuning.tune("bpr", fit_train, validation, trials=6, seed=1, space=space,
                         first=[*good, {"learning_rate": 1e-6}], fixed={"factors": 16})
    states = [t.state for t in result.trials]
    assert states == ["complete"] * 5 + ["pruned"], [(t.state, t.note) for t in result.trials]
    hopeless = result.trials[5]
    assert hopeless.params["learning_rate"] == pytest.approx(1e-6)
    top = tuning.max_epochs("bpr")
    assert hopeless.epochs[-1]["epoch"] < top / 2  # stopped early
    assert "median" in hopeless.note
    assert hopeless.value < 0.5 * min(t.value for t in result.trials[:5])
    # each complete trial kept the epoch of its best validation as its epoch count
    for trial in result.trials[:5]:
        best = max(trial.epochs, key=lambda p: p["validation"])
        assert trial.params["epochs"] == max(tuning.min_epochs("bpr"), best["epoch"])
        assert trial.value == best["validation"]
    assert result.best_params["factors"] == 16 and result.best_params["epochs"] >= tuning.min_epochs("bpr")
    refit = tuning.refit_params(result)
    assert refit["patience"] is None and refit["epochs"] == result.best_params["epochs"]


def test_a_diverging_trial_is_recorded_as_failed_and_the_search_goes_on():
    inter = log_interactions()
    fit_train, validation = tuning.validation_split(inter, seed=1)
    space = [tuning.Dimension("learning_rate", "float", 1e-3, 10.0, True, "Learning rate")]
    result = tuning.tune("bpr", fit_train, validation, trials=2, space=space, first=[{"learning_rate": 10.0}],
                         fixed={"factors": 8})
    assert [t.state for t in result.trials] == ["complete", "failed"]
    assert "learning rate" in result.trials[1].note and result.best_trial == 0


def test_the_time_budget_ends_the_search():
    inter = log_interactions()
    fit_train, validation = tuning.validation_split(inter, seed=1)
    result = tuning.tune("itemknn", fit_train, validation, minutes=0.02)  # 1.2 s
    assert result.ended_by == "time" and result.trials and result.seconds < 30
    assert result.budget == {"trials": None, "minutes": 0.02}


def test_should_stop_ends_the_search_with_the_trials_so_far():
    inter = log_interactions()
    fit_train, validation = tuning.validation_split(inter, seed=1)
    ended: list[tuning.Trial] = []
    result = tuning.tune("ials", fit_train, validation, trials=10, on_trial=ended.append,
                         should_stop=lambda: len(ended) >= 2, fixed={"factors": 8})
    assert result.ended_by == "cancelled" and [t.number for t in result.trials] == [0, 1]


def test_the_test_split_is_never_seen_by_the_search(monkeypatch):
    """A model that writes down every pair it learns from or is scored on: the search sees fit-train and
    validation only, never a test row."""

    class Recording(ItemKNN):
        name = "recording"
        fitted: list[set] = []
        scored: list[np.ndarray] = []

        def fit(self, train, on_epoch=None, **kwargs):
            Recording.fitted.append(pairs(train))
            return super().fit(train, on_epoch, **kwargs)

        def recommend(self, users=None, k=10, **kwargs):
            Recording.scored.append(np.asarray(users))
            return super().recommend(users, k=k, **kwargs)

    monkeypatch.setitem(MODELS, "recording", Recording)
    inter = log_interactions()
    split = random_split(inter, test_fraction=0.2, seed=5)
    fit_train, validation = tuning.validation_split(split.train, seed=5)
    test = pairs(split.test)
    assert test and not test & pairs(fit_train) and not test & pairs(validation)
    result = tuning.tune("recording", fit_train, validation, trials=4)
    assert len(Recording.fitted) == 4 == len(result.trials)
    assert all(fitted == pairs(fit_train) for fitted in Recording.fitted)
    validation_users = np.unique(validation.users)
    assert all(np.array_equal(users, validation_users) for users in Recording.scored)


def test_importances_and_plain_words():
    inter = log_interactions()
    fit_train, validation = tuning.validation_split(inter, seed=1)
    result = tuning.tune("itemknn", fit_train, validation, trials=8, seed=2)
    shares = tuning.setting_importances("itemknn", [t.to_dict() for t in result.trials])
    assert set(shares) <= {"neighbors", "shrinkage", "asymmetry"} and sum(shares.values()) == pytest.approx(1.0)
    assert tuning.setting_importances("itemknn", result.trials[:2]) == {}  # too few to say
    words = tuning.settings_in_words("bpr", {"factors": 128, "learning_rate": 0.031234, "epochs": 35, "seed": 1})
    assert words == "Taste dimensions 128, Learning rate 0.0312, Training passes 35"
    with pytest.raises(ModelError):
        tuning.tune("itemknn", fit_train, validation, trials=1, fixed={"neighbors": -3})


# -- the command line -----------------------------------------------------------------------------
def test_cli_tune_trains_the_best_settings_on_every_row_and_saves_them(tmp_path, capsys):
    import json

    from recsys import cli
    from recsys.models import load_model

    plays = tmp_path / "plays.csv"
    listening_log().to_csv(plays, index=False)
    out = tmp_path / "tuned"
    assert cli.main(["tune", str(plays), "--model", "itemknn", "--trials", "4", "--set", "shrinkage=0",
                     "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert err.count("trial ") >= 4 and "validation NDCG@10" in err
    document = json.loads((out / "tuning.json").read_text())
    assert len(document["trials"]) == 4 and document["metric"] == "ndcg@10"
    assert {d["name"] for d in document["space"]} == {"neighbors", "asymmetry"}  # shrinkage was fixed
    best = max((t for t in document["trials"] if t["state"] == "complete"), key=lambda t: t["value"])
    assert document["best_value"] == best["value"] and document["best_params"]["shrinkage"] == 0
    model = load_model(out)
    assert {k: model.get_params()[k] for k in best["params"]} == best["params"]
    inter = log_interactions()
    assert model.user_items_.nnz == len(inter) == document["refit"]["interactions"]  # every row of the file
    assert document["validation"]["validation_rows"] + document["validation"]["fit_train_rows"] == len(inter)
    recs = tmp_path / "recs.csv"
    assert cli.main(["recommend", str(out), "--k", "5", "--out", str(recs)]) == 0
    assert pd.read_csv(recs)["user"].nunique() == inter.n_users


@pytest.mark.parametrize("argv, words", [
    (["--model", "popularity"], "no setting left to tune"),
    (["--model", "ials", "--trials", "0"], "--trials must be at least 1"),
    (["--model", "ials", "--minutes", "-1"], "--minutes must be more than 0"),
    (["--model", "ials", "--set", "factors=lots"], "factors must be a whole number"),
])
def test_cli_tune_refuses_bad_requests_in_one_line(argv, words, tmp_path, capsys):
    from recsys import cli

    plays = tmp_path / "plays.csv"
    listening_log().to_csv(plays, index=False)
    assert cli.main(["tune", str(plays), *argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()
