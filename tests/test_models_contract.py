"""The model contract (recsys/models/base.py), checked for EVERY entry of ``recsys.models.MODELS``.

Data: a synthetic "checkerboard": even users interact only with even items, odd users only with odd
items (with skewed item popularity). Explicit-feedback models get ratings instead: 4-5 stars for their
own parity, 1 star for a few items of the other. Every personalised model must recover the pattern.
Each model trains once per test session with small settings (``FAST``), so the suite stays quick.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from recsys.data import Catalog, Interactions
from recsys.models import MODELS, PERSONALISED, ModelError, Recommender, base, load_model, make_model

N_USERS, N_ITEMS, PER_USER = 200, 100, 20

# small settings per model so that every model trains in about a second; every key must be a setting
FAST: dict[str, dict] = {
    "popularity": {},
    "random": {},
    "itemknn": {"neighbors": 20},
    "userknn": {"neighbors": 20},
    "ease": {"regularization": 20.0},
    "ials": {"factors": 16, "epochs": 5},
    "bpr": {"factors": 16, "epochs": 10},
    "mf": {"factors": 16, "epochs": 30},
    "content": {},
    "multvae": {"epochs": 10},
}


def checkerboard(explicit: bool, seed: int = 0) -> Interactions:
    """Users ``u000..`` and items ``i000..`` (ids sort like their numbers, so numbers keep parity)."""
    rng = np.random.default_rng(seed)
    users, items, values = [], [], []
    for user in range(N_USERS):
        own = np.arange(user % 2, N_ITEMS, 2)
        weight = 1.0 / np.sqrt(1.0 + np.arange(len(own)))  # a few popular items, a long tail
        liked = rng.choice(own, PER_USER, replace=False, p=weight / weight.sum())
        users += [user] * PER_USER
        items += liked.tolist()
        values += (rng.integers(4, 6, PER_USER) if explicit else rng.integers(1, 4, PER_USER)).tolist()
        if explicit:
            other = rng.choice(np.arange(1 - user % 2, N_ITEMS, 2), 5, replace=False)
            users += [user] * 5
            items += other.tolist()
            values += [1] * 5
    frame = pd.DataFrame({
        "user": [f"u{u:03d}" for u in users],
        "item": [f"i{i:03d}" for i in items],
        "value": np.asarray(values, np.float32),
    })
    return Interactions.from_frame(frame, value="value", explicit=explicit)


def synthetic_catalog() -> Catalog:
    """Item ``i012`` is titled "Even item" and tagged ``even``: the content that explains the checkerboard.
    No title word is unique to one item: such words would dilute each item's TF-IDF vector until the
    content model's default popularity blend outweighed the parity tag."""
    return Catalog(pd.DataFrame({
        "item_id": [f"i{i:03d}" for i in range(N_ITEMS)],
        "title": ["Even item" if i % 2 == 0 else "Odd item" for i in range(N_ITEMS)],
        "tags": [["even" if i % 2 == 0 else "odd"] for i in range(N_ITEMS)],
        "description": [""] * N_ITEMS,
        "image_url": [""] * N_ITEMS,
    }))


IMPLICIT = checkerboard(explicit=False)
EXPLICIT = checkerboard(explicit=True)
CATALOG = synthetic_catalog()


def data_for(name: str) -> Interactions:
    return EXPLICIT if MODELS[name].feedback == "explicit" else IMPLICIT


def new_model(name: str, **extra) -> Recommender:
    params = {**FAST[name], **extra}
    unknown = set(params) - set(MODELS[name].param_names())
    assert not unknown, f"FAST settings {sorted(unknown)} are not settings of {name}"
    return make_model(name, **params)


@pytest.fixture(scope="module")
def fitted() -> dict[str, Recommender]:
    """Every model, trained once on its checkerboard (``fit`` must return the model itself)."""
    models: dict[str, Recommender] = {}
    for name in MODELS:
        model = new_model(name)
        assert model.fit(data_for(name), catalog=CATALOG) is model, f"{name}.fit must return self"
        models[name] = model
    return models


ALL = list(MODELS)


def test_every_model_has_a_fast_setting_and_the_registry_is_consistent():
    assert set(FAST) == set(MODELS)
    for name, cls in MODELS.items():
        assert cls.name == name
        assert cls.description and "\n" not in cls.description
        assert cls.feedback in ("implicit", "explicit", "both")


# -- hyperparameters --------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
def test_defaults_construct_without_work_and_params_round_trip(name):
    cls = MODELS[name]
    model = cls()
    assert not model.is_fitted
    # no logic in __init__: the instance holds exactly its settings, nothing learned
    assert set(vars(model)) == set(cls.param_names())
    assert model.get_params() == cls.default_params()
    assert all(not n.endswith("_") for n in cls.param_names())
    copy = make_model(name, **model.get_params())
    assert copy.get_params() == model.get_params()
    changed = new_model(name)
    assert make_model(name, **changed.get_params()).get_params() == changed.get_params()
    with pytest.raises(ModelError):
        model.set_params(no_such_setting=1)
    with pytest.raises(ModelError):
        model.recommend(np.array([0]))  # not trained yet


# -- fitting and scores -----------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
def test_learned_state_ends_in_underscore(name, fitted):
    model = fitted[name]
    learned = [k for k in vars(model) if k not in model.param_names() and not k.startswith("_")]
    assert learned and all(k.endswith("_") for k in learned), learned
    assert model.n_users_ == N_USERS and model.n_items_ == N_ITEMS
    assert model.get_params() == {**MODELS[name].default_params(), **FAST[name]}


@pytest.mark.parametrize("name", ALL)
def test_scores_are_finite(name, fitted):
    scores = fitted[name].score(np.arange(N_USERS))
    assert scores.shape == (N_USERS, N_ITEMS)
    assert np.isfinite(scores).all()


@pytest.mark.parametrize("name", ALL)
def test_recommend_never_returns_seen_items(name, fitted):
    model = fitted[name]
    items, scores = model.recommend(None, k=10)
    assert items.shape == scores.shape == (N_USERS, 10)
    seen = data_for(name).to_csr()
    for user in range(N_USERS):
        row = items[user]
        assert (row >= 0).all() and (row < N_ITEMS).all()  # 80 unseen items: never padded here
        assert len(set(row.tolist())) == 10
        assert not set(row.tolist()) & set(seen[user].indices.tolist())
        assert np.all(np.diff(scores[user]) <= 0), "scores come best first"
    # and with exclude_seen=False the seen items may come back: the filter is the only difference
    all_items, _ = model.recommend(np.arange(4), k=N_ITEMS, exclude_seen=False)
    assert sorted(all_items[0].tolist()) == list(range(N_ITEMS))


@pytest.mark.parametrize("name", [n for n in ALL if n != "random"])  # random draws per block
def test_recommend_is_the_same_in_any_block_size(name, fitted, monkeypatch):
    model = fitted[name]
    whole_items, whole_scores = model.recommend(None, k=10)
    items, scores = model.recommend(None, k=10, batch_size=7)  # blocks of 7 users, the last one short
    np.testing.assert_allclose(scores, whole_scores, rtol=1e-5, atol=1e-6)
    assert (items == whole_items).mean() > 0.95  # ties may order differently between products
    monkeypatch.setitem(base.SCORE_BATCH_ELEMENTS, "cpu", 3 * N_ITEMS)  # the default block: 3 users
    items, scores = model.recommend(None, k=10)
    np.testing.assert_allclose(scores, whole_scores, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ALL)
def test_allowed_and_denied_items_are_honoured(name, fitted):
    model = fitted[name]
    allowed = np.arange(0, N_ITEMS, 3)
    items, _ = model.recommend(np.arange(20), k=10, allowed_items=allowed)
    assert set(items[items >= 0].tolist()) <= set(allowed.tolist())
    free, _ = model.recommend(np.arange(20), k=10)
    denied = np.unique(free[:, :3])
    items, _ = model.recommend(np.arange(20), k=10, denied_items=denied)
    assert not set(items.ravel().tolist()) & set(denied.tolist())


@pytest.mark.parametrize("name", ALL)
def test_k_beyond_the_candidates_pads_with_minus_one(name, fitted):
    model = fitted[name]
    allowed = np.array([0, 1, 2, 3])
    items, scores = model.recommend(np.arange(N_USERS), k=10, allowed_items=allowed)
    seen = data_for(name).to_csr()
    for user in range(N_USERS):
        expected = set(allowed.tolist()) - set(seen[user].indices.tolist())
        got = items[user][items[user] >= 0]
        assert set(got.tolist()) == expected
        assert (items[user][len(got):] == -1).all() and np.isneginf(scores[user][len(got):]).all()
        assert np.isfinite(scores[user][: len(got)]).all()
    wide, _ = model.recommend(np.array([0]), k=N_ITEMS + 50)
    assert wide.shape[1] == N_ITEMS and (wide[0] >= 0).sum() == N_ITEMS - seen[0].nnz


# -- save / load --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
def test_save_load_round_trip_is_exact(name, fitted, tmp_path):
    model = fitted[name]
    model.save(tmp_path / name)
    loaded = load_model(tmp_path / name)
    assert type(loaded) is type(model) and loaded.get_params() == model.get_params()
    users = np.arange(N_USERS)
    items_a, scores_a = model.recommend(users, k=10)
    items_b, scores_b = loaded.recommend(users, k=10)
    np.testing.assert_array_equal(items_a, items_b)
    np.testing.assert_array_equal(scores_a, scores_b)
    np.testing.assert_array_equal(loaded.user_ids_, model.user_ids_)
    np.testing.assert_array_equal(loaded.item_ids_, model.item_ids_)
    assert sorted((tmp_path / name).iterdir()) == [tmp_path / name / "arrays.npz", tmp_path / name / "model.json"]


# -- fold-in, similar items, explanations ----------------------------------------------------
@pytest.mark.parametrize("name", ALL)
def test_fold_in_recommends_for_a_new_user_or_says_it_cannot(name, fitted):
    model = fitted[name]
    liked = np.array([0, 2, 4, 6, 8, 10])
    if not model.supports_fold_in:
        with pytest.raises(ModelError):
            model.recommend_for_history(liked, k=5)
        return
    stars = np.full(len(liked), 5.0) if model.feedback == "explicit" else None  # liked: top rating
    items, scores = model.recommend_for_history(liked, stars, k=5)
    assert len(items) == 5 and np.isfinite(scores).all()
    assert not set(items.tolist()) & set(liked.tolist())
    if name in PERSONALISED:
        assert (items % 2 == 0).all(), f"{name} fold-in of even items recommended {items}"


NO_SIMILARITY = {"popularity", "random"}  # they learn nothing about what items have in common


@pytest.mark.parametrize("name", ALL)
def test_item_similarity_is_on_one_scale(name, fitted):
    """Heatmaps and "more like this" read every model the same way: an item with itself is 1, values
    lie in [-1, 1], A-B equals B-A, and the model says in words what the number is."""
    model = fitted[name]
    items = np.arange(12)
    if name in NO_SIMILARITY:
        with pytest.raises(ModelError, match="similarity"):
            model.similar_items(4, k=5)
        with pytest.raises(ModelError, match="similarity"):
            model.item_similarity_matrix(items)
        return
    assert type(model).similarity_basis.startswith("the cosine of")
    grid = model.item_similarity_matrix(items)
    assert grid.shape == (12, 12) and np.isfinite(grid).all()
    np.testing.assert_allclose(np.diag(grid), 1.0, atol=1e-6)
    assert grid.min() >= -1.0 and grid.max() <= 1.0
    np.testing.assert_allclose(grid, grid.T, atol=1e-5)
    similar, sims = model.similar_items(4, k=5)
    assert len(similar) == 5 and 4 not in similar.tolist()
    assert np.all(np.diff(sims) <= 1e-6) and sims.min() >= -1.0 and sims.max() <= 1.0
    # "more like this" and the heatmap give the same number for the same pair
    np.testing.assert_allclose(sims, model.item_similarity_matrix(np.r_[4, similar])[0, 1:], atol=1e-5)
    if name in PERSONALISED:  # the checkerboard: what is like an even item is even
        assert (similar % 2 == 0).all(), f"{name}: items like item 4 were {similar}"
        same = grid[np.ix_(items % 2 == 0, items % 2 == 0)][~np.eye(6, dtype=bool)]
        other = grid[np.ix_(items % 2 == 0, items % 2 == 1)]
        assert same.mean() > other.mean() + 0.05, f"{name}: same parity {same.mean():.3f}, other {other.mean():.3f}"


@pytest.mark.parametrize("name", ["itemknn", "userknn", "ease", "ials"])
def test_an_item_nobody_chose_is_like_itself_and_nothing_else(name):
    data = IMPLICIT
    lonely = Interactions(  # one more item in the catalogue, with no interactions
        users=data.users, items=data.items, user_ids=data.user_ids,
        item_ids=np.append(data.item_ids, "i999"), values=data.values, explicit=False,
    )
    model = new_model(name).fit(lonely)
    grid = model.item_similarity_matrix(np.array([0, 2, N_ITEMS]))
    assert grid[2, 2] == pytest.approx(1.0)
    if name != "ials":  # factor models give an unseen item its (small) initial vector
        np.testing.assert_allclose(grid[2, :2], 0.0, atol=1e-6)


def test_ease_similarity_reads_as_similarity():
    """EASE's raw weights are small with a zero diagonal (a nearly blank heatmap); the cosine of its
    weight rows puts items of one taste far above items of the other."""
    model = new_model("ease").fit(IMPLICIT)
    raw = model.weights_[:6, :6].cpu().numpy()
    assert np.allclose(np.diag(raw), 0) and np.abs(raw).max() < 0.5
    grid = model.item_similarity_matrix(np.arange(6))
    assert np.diag(grid) == pytest.approx(np.ones(6))
    even = np.arange(6) % 2 == 0
    same = np.equal.outer(even, even) & ~np.eye(6, dtype=bool)
    assert grid[same].min() > 0.2 > raw[same].max()  # raw weights of 0.02-0.1 now read 0.24-0.52
    np.testing.assert_allclose(grid[~np.equal.outer(even, even)], 0.0, atol=1e-6)  # other taste: nothing shared


@pytest.mark.parametrize("name", ALL)
def test_explain_names_history_items(name, fitted):
    model = fitted[name]
    user = 3
    history = set(data_for(name).to_csr()[user].indices.tolist())
    top, _ = model.recommend(np.array([user]), k=1)
    reasons = model.explain(user, int(top[0, 0]), n=5)
    assert 0 < len(reasons) <= 5
    assert {item for item, _ in reasons} <= history
    weights = [w for _, w in reasons]
    assert all(math.isfinite(w) for w in weights) and weights == sorted(weights, reverse=True)


# -- what every personalised model must learn --------------------------------------------------
@pytest.mark.parametrize("name", PERSONALISED)
def test_checkerboard_is_recovered(name, fitted):
    items, _ = fitted[name].recommend(None, k=5)
    parity = np.arange(N_USERS) % 2
    wrong = (items % 2 != parity[:, None]).sum()
    assert wrong == 0, f"{name}: {wrong} of {items.size} recommendations have the other parity"


@pytest.mark.parametrize("name", [n for n in ALL if MODELS[n].needs_catalog])
def test_models_that_need_a_catalogue_refuse_without_one(name):
    with pytest.raises(ModelError, match="catalogue"):
        new_model(name).fit(data_for(name))


# -- iterative training ------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
def test_epochs_are_reported_and_stop_on_request(name):
    records: list[dict] = []
    model = new_model(name)
    if not model.iterative:
        model.fit(data_for(name), on_epoch=lambda r: records.append(r), catalog=CATALOG)
        assert records == [] and model.history_ == []
        return
    model.set_params(epochs=6)

    def stop_after_two(record: dict) -> bool:
        records.append(record)
        return record["epoch"] == 2

    model.fit(data_for(name), on_epoch=stop_after_two, catalog=CATALOG)
    assert [r["epoch"] for r in records] == [1, 2]
    for record in records:
        assert math.isfinite(record["loss"]) and record["seconds"] >= 0 and record["epochs"] == 6
    assert len(model.history_) == 2
    assert np.isfinite(model.score(np.arange(3))).all()  # stopped early, still usable


@pytest.mark.parametrize("name", [n for n in ALL if "seed" in MODELS[n].param_names() or MODELS[n].iterative])
def test_training_is_deterministic_on_cpu(name):
    short = {"epochs": 2} if MODELS[name].iterative else {}
    first = new_model(name, device="cpu", **short).fit(data_for(name), catalog=CATALOG)
    second = new_model(name, device="cpu", **short).fit(data_for(name), catalog=CATALOG)
    np.testing.assert_array_equal(first.score(np.arange(10)), second.score(np.arange(10)))


# -- known answers for the neighbourhood and closed-form models --------------------------------
def tiny() -> Interactions:
    """Three users: u0 has items 0,1; u1 has 0,1,2; u2 has 2,3."""
    frame = pd.DataFrame({"user": ["a", "a", "b", "b", "b", "c", "c"], "item": [0, 1, 0, 1, 2, 2, 3]})
    return Interactions.from_frame(frame)


def test_itemknn_similarity_is_the_cosine_of_item_columns():
    model = make_model("itemknn", asymmetry=0.5, user_weighting=False, neighbors=10).fit(tiny())
    sim = model.similarity_.toarray()
    # items 0 and 1 share users a,b (|0|=|1|=sqrt 2): cosine 1; items 1 and 2 share b: 1/(sqrt2 sqrt2)
    assert sim[0, 1] == pytest.approx(1.0) and sim[1, 2] == pytest.approx(0.5)
    assert sim[0, 3] == 0 and np.all(np.diag(sim) == 0)
    assert sim[2, 3] == pytest.approx(1 / math.sqrt(2))
    # user a (items 0,1): score of 2 = sim(0,2) + sim(1,2) = 1; item 3 = 0
    scores = model.score(np.array([0]))[0]
    assert scores[2] == pytest.approx(1.0) and scores[3] == pytest.approx(0.0)
    assert dict(model.explain(0, 2)) == pytest.approx({0: 0.5, 1: 0.5})
    nearest = make_model("itemknn", asymmetry=0.5, user_weighting=False, neighbors=1).fit(tiny()).similarity_
    assert np.diff(nearest.tocsc().indptr).tolist() == [1, 1, 1, 1]  # one neighbour kept per target item
    assert nearest[3, 2] == pytest.approx(1 / math.sqrt(2)) and nearest[0, 2] == 0


def test_itemknn_keeps_only_the_nearest_neighbours_of_each_item():
    model = make_model("itemknn", neighbors=3).fit(IMPLICIT)
    per_target = np.diff(model.similarity_.tocsc().indptr)
    assert per_target.max() == 3
    full = make_model("itemknn", neighbors=N_ITEMS).fit(IMPLICIT).similarity_.toarray()
    kept = model.similarity_.toarray()
    for target in range(N_ITEMS):  # the kept ones are the largest of the full column
        column = kept[:, target]
        assert np.sort(column[column > 0]) == pytest.approx(np.sort(full[:, target])[-len(column[column > 0]):])


def test_userknn_scores_are_neighbour_votes():
    model = make_model("userknn", neighbors=1, asymmetry=0.5, exponent=1.0).fit(tiny())
    # user a's nearest user is b (cosine 2/sqrt(2*3)); b votes for 0,1,2
    scores = model.score(np.array([0]))[0]
    assert scores == pytest.approx(np.array([1, 1, 1, 0]) * 2 / math.sqrt(6), rel=1e-5)
    assert sum(w for _, w in model.explain(0, 2)) == pytest.approx(scores[2], rel=1e-5)
    folded, scores = model.recommend_for_history(np.array([2]), k=1)  # b (1/sqrt3) < c (1/sqrt2)
    assert folded.tolist() == [3] and scores[0] == pytest.approx(1 / math.sqrt(2), rel=1e-5)


def test_ease_weights_solve_the_ridge_problem_exactly():
    data = IMPLICIT
    x = data.to_csr(use_values=False).toarray().astype(np.float64)
    lam = 20.0
    p = np.linalg.inv(x.T @ x + lam * np.eye(N_ITEMS))
    expected = -p / np.diag(p)
    np.fill_diagonal(expected, 0)
    for precision in ("float32", "float64"):
        model = make_model("ease", regularization=lam, precision=precision, device="cpu").fit(data)
        np.testing.assert_allclose(model.weights_.cpu().numpy(), expected, atol=1e-5)
    # the direct path (more users than items) and the Woodbury path (fewer) agree
    few_users = data.subset(data.users < 40)
    wide = make_model("ease", regularization=lam, device="cpu").fit(few_users)
    x = few_users.to_csr(use_values=False).toarray().astype(np.float64)
    p = np.linalg.inv(x.T @ x + lam * np.eye(N_ITEMS))
    expected = -p / np.diag(p)
    np.fill_diagonal(expected, 0)
    np.testing.assert_allclose(wide.weights_.cpu().numpy(), expected, atol=1e-5)
    user = 5
    item = int(wide.recommend(np.array([user]), k=1)[0][0, 0])
    score = wide.score(np.array([user]))[0, item]
    assert sum(w for _, w in wide.explain(user, item, n=N_ITEMS)) == pytest.approx(score, rel=1e-4)


def test_ease_refuses_a_catalogue_too_large_for_memory(monkeypatch):
    from recsys.models import ease

    monkeypatch.setattr(ease, "available_memory", lambda device: 10_000)
    with pytest.raises(ModelError, match=r"GiB"):
        make_model("ease").fit(IMPLICIT)
    assert ease.ease_memory_bytes(100_000) == 100_000**2 * 4 * ease.WORKING_COPIES


def test_content_scores_new_items_by_their_description():
    catalog = synthetic_catalog()
    frame = catalog.frame.copy()
    frame.loc[len(frame)] = ["brand-new", "Brand New", ["even"], "", ""]
    train = IMPLICIT
    # the new item is in the numbering but nobody has interacted with it yet
    ids = np.append(train.item_ids, "brand-new")
    data = Interactions(users=train.users, items=train.items, user_ids=train.user_ids, item_ids=ids,
                        values=train.values)
    model = make_model("content", popularity_weight=0.0).fit(data, catalog=Catalog(frame))
    new = len(ids) - 1
    scores = model.score(np.array([0, 1]))
    even_user, odd_user = scores[0], scores[1]
    assert even_user[new] > 0 and even_user[new] > odd_user[new]
    similar, _ = model.similar_items(new, k=3)
    assert (similar % 2 == 0).all()
    assert model.item_embeddings().shape[0] == len(ids)
    assert sum(w for _, w in model.explain(0, new, n=100)) == pytest.approx(float(even_user[new]), rel=1e-4)


def test_scores_live_on_the_model_device(fitted):
    for name in ("itemknn", "userknn", "ease", "content"):
        model = fitted[name]
        assert model._score_users(torch.arange(3, device=model.device_)).device == model.device_
