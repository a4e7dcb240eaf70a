"""evaluate(), segments(), compare(), run_protocol() and `python -m recsys evaluate`, on a hand-computed
case with the real popularity model, and end to end on the demo data (slow)."""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys import metrics, popularity_bands
from recsys.cli import main
from recsys.data import Catalog, Interactions, load_interactions
from recsys.evaluation import (
    Evaluation,
    compare,
    evaluate,
    fit_on_split,
    item_representation,
    relevance_threshold,
    run_protocol,
    segments,
)
from recsys.models import ModelError, make_model
from recsys.models.baselines import Popularity
from recsys.split import Split, make_split

DEMO = Path(__file__).resolve().parents[1] / "assets" / "datasets" / "ml-latest-small" / "ratings.csv"

# Five users u0..u4, five items i0..i4. Training: u0 has i0..i4, u1 i0..i3, u2 i0..i2, u3 i0,i1, u4 i0,
# so training counts are i0:5, i1:4, i2:3, i3:2, i4:1 (no ties: popularity's order is i0 > i1 > ... > i4).
# Test: u2 {i4}, u3 {i3, i4}, u4 {i4}. With K = 2 popularity recommends, excluding training items:
#   u2 -> [i3, i4]  hit at rank 2          u3 -> [i2, i3]  hit at rank 2          u4 -> [i1, i2]  no hit
TRAIN_PAIRS = [(u, i) for u in range(5) for i in range(5 - u)]
TEST_PAIRS = [(2, 4), (3, 3), (3, 4), (4, 4)]
TEST_RATINGS = [5.0, 1.0, 3.0, 3.0]


def hand_split() -> Split:
    def inter(pairs, values):
        users, items = zip(*pairs, strict=True)
        return Interactions(
            users=np.array(users, np.int32), items=np.array(items, np.int32),
            user_ids=np.array([f"u{u}" for u in range(5)]), item_ids=np.array([f"i{i}" for i in range(5)]),
            values=np.array(values, np.float32), explicit=True,
        )

    return Split(
        train=inter(TRAIN_PAIRS, [3.0] * len(TRAIN_PAIRS)), test=inter(TEST_PAIRS, TEST_RATINGS), protocol="hand"
    )


class MeanRating(Popularity):
    """Popularity ranking plus a rating prediction: the global mean training rating, for every pair."""

    name = "mean-rating"

    def _fit(self, train, catalog):
        super()._fit(train, catalog)
        self.mean_rating_ = float(np.mean(train.values))

    def predict(self, users, items):
        return np.full(len(users), self.mean_rating_)


L3 = math.log2(3)


def test_evaluate_hand_computed_case():
    split = hand_split()
    ev = evaluate(make_model("popularity").fit(split.train), split, k=2, relevance_threshold=None)
    assert ev.users.tolist() == [2, 3, 4]
    assert ev.recs.tolist() == [[3, 4], [2, 3], [1, 2]]
    # per user (u2, u3, u4); u4 has no hit and still counts, as 0
    np.testing.assert_allclose(ev.per_user["precision"], [0.5, 0.5, 0.0])
    np.testing.assert_allclose(ev.per_user["recall"], [1.0, 0.5, 0.0])
    # u2: (1/log2 3) / 1;  u3: (1/log2 3) / (1 + 1/log2 3)  (ideal over min(|T|=2, K=2))
    np.testing.assert_allclose(ev.per_user["ndcg"], [1 / L3, (1 / L3) / (1 + 1 / L3), 0.0])
    np.testing.assert_allclose(ev.per_user["map"], [0.5, 0.25, 0.0])  # P@2 / min(|T|, 2)
    np.testing.assert_allclose(ev.per_user["mrr"], [0.5, 0.5, 0.0])
    np.testing.assert_allclose(ev.per_user["hit_rate"], [1.0, 1.0, 0.0])
    # popularity ranks every test item below every other candidate: no pair ordered right
    np.testing.assert_allclose(ev.per_user["auc"], [0.0, 0.0, 0.0])
    assert ev.summary["ndcg"] == pytest.approx((1 / L3 + (1 / L3) / (1 + 1 / L3)) / 3)
    assert ev.summary["recall"] == pytest.approx(0.5)
    # mean training count of the recommended items: (2+1)/2, (3+2)/2, (4+3)/2
    np.testing.assert_allclose(ev.per_user["mean_popularity"], [1.5, 2.5, 3.5])
    # p(i) = share of the 5 users: i1 .8, i2 .6, i3 .4, i4 .2
    np.testing.assert_allclose(
        ev.per_user["novelty"],
        [-(math.log2(0.4) + math.log2(0.2)) / 2, -(math.log2(0.6) + math.log2(0.4)) / 2,
         -(math.log2(0.8) + math.log2(0.6)) / 2],
    )
    assert ev.summary["coverage"] == pytest.approx(0.8)  # i1..i4 recommended, i0 never
    # exposure i0..i4 = 0,1,2,2,1 -> sorted 0,1,1,2,2: 2*(2+3+8+10)/(5*6) - 6/5 = 1/3
    assert ev.summary["gini"] == pytest.approx(1 / 3)
    assert "rmse" not in ev.summary  # popularity does not predict ratings, and the notes say so
    assert any("predicts ratings" in note for note in ev.notes)
    low, high = ev.ci["ndcg"]
    assert low <= ev.summary["ndcg"] <= high


def test_diversity_from_catalogue_tags():
    # tags: i1 {x}, i2 {y}, i3 {x}, i4 {x, y}
    # u2 [i3, i4]: cos((1,0),(1,1)) = 1/sqrt(2) -> 1 - 0.7071;  u3 [i2, i3] and u4 [i1, i2]: cos 0 -> 1
    catalog = Catalog(frame=pd.DataFrame({
        "item_id": [f"i{i}" for i in range(5)], "title": [f"Item {i}" for i in range(5)],
        "tags": [[], ["x"], ["y"], ["x"], ["x", "y"]],
    }))
    split = hand_split()
    ev = evaluate(make_model("popularity").fit(split.train), split, k=2, catalog=catalog, relevance_threshold=None)
    np.testing.assert_allclose(ev.per_user["diversity"], [1 - 1 / math.sqrt(2), 1.0, 1.0])
    assert ev.diversity_source == "catalogue tags"


def test_rating_errors_for_a_model_that_predicts():
    # prediction 3.0 everywhere; test ratings 5, 1, 3, 3 -> errors 2, -2, 0, 0: RMSE sqrt(2), MAE 1
    split = hand_split()
    ev = evaluate(MeanRating().fit(split.train), split, k=2)
    assert ev.summary["rmse"] == pytest.approx(math.sqrt(2))
    assert ev.summary["mae"] == pytest.approx(1.0)


def test_relevance_threshold_keeps_only_well_rated_test_items():
    # rated >= 4: only (u2, i4); u3 and u4 have no relevant item and are left out
    split = hand_split()
    ev = evaluate(make_model("popularity").fit(split.train), split, k=2, relevance_threshold=4)
    assert ev.users.tolist() == [2]
    assert ev.per_user["recall"].tolist() == [1.0]
    assert any("2 test users" in note for note in ev.notes)


def test_segments_light_heavy_users_and_head_tail_items():
    split = hand_split()
    ev = evaluate(make_model("popularity").fit(split.train), split, k=2, relevance_threshold=None)
    table = segments(ev, split, min_users=0)  # three people: no merging of small groups here
    users = table[table["kind"] == "user activity"].set_index("segment")
    # training counts: u2 3, u3 2, u4 1; median 2 -> light {u3, u4}, heavy {u2}
    light = users.loc[[s for s in users.index if s.startswith("light")][0]]
    heavy = users.loc[[s for s in users.index if s.startswith("heavy")][0]]
    assert light["users"] == 2 and heavy["users"] == 1
    assert light["ndcg"] == pytest.approx(((1 / L3) / (1 + 1 / L3) + 0) / 2)
    assert heavy["ndcg"] == pytest.approx(1 / L3)
    items = table[table["kind"] == "item popularity"].set_index("segment")
    # popular = top 10% of the 5 items with training interactions, rounded up = {i0}: no test item there, never recommended
    head, tail = items.iloc[0], items.iloc[1]
    assert head["users"] == 0 and head["rec_share"] == 0.0
    assert tail["users"] == 3 and tail["rec_share"] == 1.0
    assert tail["recall"] == pytest.approx(ev.summary["recall"])


def test_to_dict_round_trip_through_json():
    split = hand_split()
    ev = evaluate(MeanRating().fit(split.train), split, k=2)
    ev.per_user["auc"][0] = np.nan  # NaN must survive as null
    back = Evaluation.from_dict(json.loads(json.dumps(ev.to_dict(), allow_nan=False)))
    assert back.model == ev.model and back.k == 2 and back.protocol == "hand"
    np.testing.assert_array_equal(back.users, ev.users)
    np.testing.assert_array_equal(back.recs, ev.recs)
    for name, values in ev.per_user.items():
        np.testing.assert_allclose(back.per_user[name], values, equal_nan=True)
    assert back.summary == pytest.approx(ev.summary, nan_ok=True)
    assert back.ci.keys() == ev.ci.keys()
    for name, interval in ev.ci.items():
        assert back.ci[name] == pytest.approx(interval, nan_ok=True)
    assert back.split_fingerprint == ev.split_fingerprint


def synthetic_taste(n_users: int = 120, n_items: int = 60, seed: int = 0) -> Interactions:
    """Popularity-skewed implicit data: item i is chosen with probability proportional to 1/(i+1)."""
    rng = np.random.default_rng(seed)
    prob = 1.0 / np.arange(1, n_items + 1)
    prob /= prob.sum()
    users, items = [], []
    for u in range(n_users):
        chosen = rng.choice(n_items, rng.integers(5, 20), replace=False, p=prob)
        users += [u] * len(chosen)
        items += chosen.tolist()
    return Interactions(
        users=np.array(users, np.int32), items=np.array(items, np.int32),
        user_ids=np.arange(n_users), item_ids=np.arange(n_items),
    )


def test_run_protocol_and_compare_on_one_split():
    inter = synthetic_taste()
    epochs = []
    results = run_protocol(inter, ["popularity", "random"], protocol="random", k=5, seed=1, on_epoch=epochs.append)
    assert [name for name, _, _ in results] == ["popularity", "random"]
    (_, pop, pop_seconds), (_, rnd, _) = results
    assert pop_seconds >= 0 and pop.k == 5 and pop.protocol == "random"
    np.testing.assert_array_equal(pop.users, rnd.users)
    verdict = compare(pop, rnd, metric="ndcg")
    assert verdict["same_split"] and verdict["users"] == pop.n_users
    assert verdict["better"] == "a" and verdict["p_value"] < 0.01
    assert verdict["mean_diff"] == pytest.approx(pop.summary["ndcg"] - rnd.summary["ndcg"])
    itself = compare(pop, pop)
    assert itself["p_value"] == pytest.approx(1.0) and itself["better"] is None
    other = evaluate(make_model("popularity").fit(make_split(inter, "random", seed=2).train),
                     make_split(inter, "random", seed=2), k=5)
    assert compare(pop, other)["same_split"] is False


def test_cli_evaluate_table_and_json(tmp_path, capsys):
    inter = synthetic_taste(n_users=80)
    path = tmp_path / "plays.csv"
    pd.DataFrame({"user": inter.users, "item": inter.items}).to_csv(path, index=False)
    assert main(["evaluate", str(path), "--models", "random", "--k", "5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["model"] for r in out["results"]] == ["popularity", "random"]  # reference row added first
    assert out["results"][1]["vs_popularity"]["better"] == "b"
    assert 0 < out["results"][0]["summary"]["ndcg"] <= 1
    assert main(["evaluate", str(path), "--models", "popularity,random", "--split", "loo"]) == 0
    table = capsys.readouterr().out
    assert "NDCG@10" in table and "(reference)" in table and table.count("popularity") >= 2
    assert main(["evaluate", str(path), "--models", "nonsense"]) == 2
    assert "nonsense" in capsys.readouterr().err


@pytest.mark.slow
def test_popularity_on_the_demo_data():
    inter = load_interactions(DEMO)
    split = make_split(inter, "random", seed=42)
    # reference figure 0.188 (every held-out rating relevant, trained on all of the 80%); this split
    # (seed 42) gives 0.1798, and seeds 42..51 average 0.187
    pop = evaluate(make_model("popularity").fit(split.train), split, k=10, relevance_threshold=None)
    assert pop.summary["ndcg"] == pytest.approx(0.1798, abs=0.002)
    low, high = pop.ci["ndcg"]
    assert low < 0.188 < high
    assert pop.n_users == inter.n_users == 610
    table = segments(pop, split)
    head = table[table["segment"] == popularity_bands.head_label()].iloc[0]
    assert head["rec_share"] == 1.0  # popularity only ever recommends popular items
    rnd = evaluate(make_model("random").fit(split.train), split, k=10)
    assert compare(pop, rnd)["p_value"] < 0.01


def test_auc_on_a_user_sample_when_the_catalogue_is_too_large(monkeypatch):
    import recsys.evaluation as evaluation

    inter = synthetic_taste()
    split = make_split(inter, "random", seed=0)
    model = make_model("popularity").fit(split.train)
    full = evaluate(model, split, k=5, metrics=["auc"])
    monkeypatch.setattr(evaluation, "AUC_CELL_LIMIT", 30 * inter.n_items)  # room for 30 users
    sampled = evaluate(model, split, k=5, metrics=["auc"])
    scored = ~np.isnan(sampled.per_user["auc"])
    assert scored.sum() == 30 and any("sample of 30" in note for note in sampled.notes)
    np.testing.assert_allclose(sampled.per_user["auc"][scored], full.per_user["auc"][scored])


def rated(values, explicit: bool = True) -> Interactions:
    values = np.asarray(values, np.float32)
    n = len(values)
    return Interactions(users=np.zeros(n, np.int32), items=np.arange(n, dtype=np.int32), user_ids=np.array(["u"]),
                        item_ids=np.arange(n).astype(str), values=values, explicit=explicit)


@pytest.mark.parametrize(("scale", "threshold"), [
    (np.arange(1, 6), 4.0),                # 1-5 stars: 4
    (np.arange(1, 11) / 2, 4.0),           # 0.5-5 in half stars: 0.5 + 0.75 * 4.5 = 3.875, raised to 4
    (np.arange(1, 11), 8.0),               # 1-10: 7.75, raised to 8
    (np.array([0.0, 20.0, 100.0]), 100.0),  # 0-100 with gaps: 75, raised to the next rating that occurs
    (np.array([3.0, 3.0]), 3.0),           # one rating value: everything counts
])
def test_relevance_threshold_known_answers(scale, threshold):
    assert relevance_threshold(rated(scale)) == threshold


def test_counts_and_events_have_no_threshold_and_stars_do_by_default():
    assert relevance_threshold(rated([1, 40, 4616], explicit=False)) is None  # play counts: all relevant
    split = hand_split()  # test ratings 5, 1, 3, 3 on a 1-5 scale: only the 5 is a hit by default
    ev = evaluate(make_model("popularity").fit(split.train), split, k=2)
    assert ev.relevance_threshold == 5.0 and ev.users.tolist() == [2]
    assert ev.relevance.startswith("A hit is a held-out rating of 5 or more (ratings here run from 1 to 5)")
    stored = Evaluation.from_dict(json.loads(json.dumps(ev.to_dict(), allow_nan=False)))
    assert stored.relevance_threshold == 5.0 and stored.relevance == ev.relevance
    everything = evaluate(make_model("popularity").fit(split.train), split, k=2, relevance_threshold=None)
    assert everything.relevance == "Every held-out interaction counts as a hit."


def test_users_split_scores_held_out_people_by_fold_in_known_answer():
    # Popularity's fold-in ignores the history's content: a held-out person gets the most-played items of
    # the training part (never counting the held-out people's own rows), minus the items they were given
    inter = synthetic_taste(n_users=60, n_items=30, seed=3)
    split = make_split(inter, "users", seed=0)
    model = fit_on_split(make_model("popularity"), split)
    ev = evaluate(model, split, k=5, metrics=["ndcg", "auc"])
    assert set(ev.users.tolist()) <= set(split.held_out_users.tolist())
    assert not set(ev.users.tolist()) & set(split.train.users.tolist())  # never in training
    counts = np.bincount(split.train.items, minlength=inter.n_items)
    given = split.test_input.to_csr()
    for row, person in enumerate(ev.users):
        allowed = np.setdiff1d(np.arange(inter.n_items), given[person].indices)
        expected = allowed[np.argsort(-counts[allowed], kind="stable")][:5]
        assert sorted(counts[ev.recs[row]].tolist()) == sorted(counts[expected].tolist())
        assert not set(ev.recs[row].tolist()) & set(given[person].indices.tolist())
    assert np.isfinite(ev.per_user["auc"]).all()


def test_a_model_without_fold_in_is_refused_on_held_out_people():
    class NoFoldIn(Popularity):
        name = "no-fold-in"
        supports_fold_in = False

    inter = synthetic_taste(n_users=40, n_items=20)
    split = make_split(inter, "users", seed=0)
    model = NoFoldIn().fit(split.fit_train)
    with pytest.raises(ModelError, match="cannot be tested on held-out people"):
        evaluate(model, split, k=5)


def test_diversity_is_measured_on_one_representation_for_every_model():
    # no catalogue: an SVD of the training data, the same whatever the model; never missing
    inter = synthetic_taste()
    split = make_split(inter, "random", seed=0)
    pop = evaluate(fit_on_split(make_model("popularity"), split), split, k=5)
    knn = evaluate(fit_on_split(make_model("itemknn"), split), split, k=5)
    assert pop.diversity_source == knn.diversity_source and "SVD" in pop.diversity_source
    assert np.isfinite(pop.per_user["diversity"]).all() and np.isfinite(knn.per_user["diversity"]).all()
    features, _ = item_representation(split.train)
    np.testing.assert_allclose(pop.per_user["diversity"], metrics.intra_list_diversity(pop.recs, features))
