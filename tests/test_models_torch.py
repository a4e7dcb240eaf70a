"""Model-specific tests of the torch models (ials, bpr, mf, multvae) on small synthetic data.

Known answers come from direct dense numpy computations of the same definitions (closed-form least
squares, the weighted loss, implicit's explanation identity)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recsys import device as device_module
from recsys.data import Interactions
from recsys.device import cpu_cache_bytes
from recsys.models import als, make_model
from recsys.models.als import ImplicitALS
from recsys.models.base import ModelError
from recsys.models.bpr import BPR
from recsys.models.mf import BiasedMF
from recsys.models.vae import MultVAE


def make_interactions(dense: np.ndarray, explicit: bool = False) -> Interactions:
    users, items = np.nonzero(dense)
    return Interactions(
        users=users.astype(np.int32), items=items.astype(np.int32),
        user_ids=np.arange(dense.shape[0]), item_ids=np.arange(dense.shape[1]),
        values=dense[users, items].astype(np.float32), explicit=explicit,
    )


def clustered(n_users: int = 80, n_items: int = 60, groups: int = 3, seed: int = 0) -> np.ndarray:
    """Users of group g mostly like items of group g (ratings 1..5 where they interact)."""
    rng = np.random.default_rng(seed)
    user_group, item_group = np.arange(n_users) % groups, np.arange(n_items) % groups
    same = user_group[:, None] == item_group[None, :]
    likes = rng.random((n_users, n_items)) < np.where(same, 0.5, 0.05)
    return likes * rng.integers(1, 6, (n_users, n_items)).astype(np.float32)


@pytest.fixture(scope="module")
def small() -> Interactions:
    return make_interactions(clustered())


FAST = {
    "ials": {"factors": 8, "epochs": 6, "regularization": 1.0},
    "bpr": {"factors": 8, "epochs": 15, "learning_rate": 0.05, "batch_size": 256},
    "mf": {"factors": 8, "epochs": 15, "batch_size": 128},
    "multvae": {"factors": 8, "hidden": 32, "epochs": 30, "batch_size": 32, "anneal_steps": 20},
}


@pytest.mark.parametrize("name", list(FAST))
def test_loss_is_finite_and_decreases(name, small):
    model = make_model(name, device="cpu", **FAST[name]).fit(small)
    losses = np.array([h["loss"] for h in model.history_])
    assert len(losses) == FAST[name]["epochs"]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < losses[0]
    if name == "multvae":  # the KL weight grows during annealing: compare the likelihood term
        nll = [h["nll"] for h in model.history_]
        assert nll[-1] < nll[0]


@pytest.mark.parametrize("name", list(FAST))
def test_same_seed_same_model_on_cpu(name, small):
    first = make_model(name, device="cpu", seed=7, **FAST[name]).fit(small)
    second = make_model(name, device="cpu", seed=7, **FAST[name]).fit(small)
    third = make_model(name, device="cpu", seed=8, **FAST[name]).fit(small)
    users = np.arange(small.n_users)
    assert np.array_equal(first.score(users), second.score(users))
    assert not np.array_equal(first.score(users), third.score(users))


@pytest.mark.parametrize("name", list(FAST))
def test_cuda_request_falls_back_to_cpu_without_a_gpu(name, small):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: nothing to fall back from")
    model = make_model(name, device="cuda", **{**FAST[name], "epochs": 1}).fit(small)
    assert model.device_.type == "cpu"
    assert model.recommend(np.arange(3), k=5)[0].shape == (3, 5)


# -- ials ------------------------------------------------------------------------------------------
def confidence_matrix(dense: np.ndarray, alpha: float, binary: bool) -> np.ndarray:
    return 1.0 + alpha * (dense > 0 if binary else dense)


def exact_solve(fixed: np.ndarray, conf: np.ndarray, pref: np.ndarray, reg: float) -> np.ndarray:
    """Rows of argmin_x sum_j conf_j (pref_j - x . f_j)^2 + reg |x|^2, one closed-form solve per row."""
    k = fixed.shape[1]
    return np.stack([
        np.linalg.solve(fixed.T @ (c[:, None] * fixed) + reg * np.eye(k), fixed.T @ (c * p))
        for c, p in zip(conf, pref, strict=True)
    ])


@pytest.mark.parametrize("binary", [True, False])
def test_ials_conjugate_gradient_reaches_the_exact_half_step(binary):
    dense = clustered(30, 20, seed=1)
    reg, alpha = 0.5, 2.0
    model = ImplicitALS(factors=5, epochs=2, cg_steps=40, regularization=reg, alpha=alpha, binary=binary,
                        device="cpu").fit(make_interactions(dense))
    x, y = model.user_factors_.double().numpy(), model.item_factors_.double().numpy()
    conf, pref = confidence_matrix(dense, alpha, binary), (dense > 0).astype(float)
    # the last half-step solved the items given the final user factors
    np.testing.assert_allclose(y, exact_solve(x, conf.T, pref.T, reg), atol=1e-4)


def test_ials_few_cg_steps_are_only_approximate():
    dense = clustered(30, 20, seed=1)
    model = ImplicitALS(factors=5, epochs=1, cg_steps=1, regularization=0.5, device="cpu")
    model.fit(make_interactions(dense))
    x, y = model.user_factors_.double().numpy(), model.item_factors_.double().numpy()
    conf, pref = confidence_matrix(dense, 1.0, True), (dense > 0).astype(float)
    assert np.abs(y - exact_solve(x, conf.T, pref.T, 0.5)).max() > 1e-3


def test_user_blocks_cut_by_rows_and_by_cells():
    # rows hold 5, 1, 1, 4, 2, 2 cells
    indptr = np.array([0, 5, 6, 7, 11, 13, 15])
    assert als.user_blocks(indptr, max_rows=10, max_cells=100) == [(0, 6)]
    assert als.user_blocks(indptr, max_rows=2, max_cells=100) == [(0, 2), (2, 4), (4, 6)]
    # by cells: 5 + 1 + 1 = 7 > 6 stops the first block at two rows; a row over the limit stands alone
    assert als.user_blocks(indptr, max_rows=10, max_cells=6) == [(0, 2), (2, 4), (4, 6)]
    assert als.user_blocks(indptr, max_rows=10, max_cells=3) == [(0, 1), (1, 3), (3, 4), (4, 5), (5, 6)]


@pytest.mark.parametrize("binary", [True, False])
def test_ials_user_blocks_give_the_one_block_result(binary, monkeypatch):
    train = make_interactions(clustered(90, 40, seed=3))
    params = {"factors": 6, "epochs": 3, "regularization": 0.5, "binary": binary, "device": "cpu"}
    whole = ImplicitALS(**params).fit(train)
    monkeypatch.setitem(als.BLOCK_ELEMENTS, "cpu", 60)  # 10 users (at 6 factors) or 60 cells a block
    blocked, blocks = ImplicitALS(**params), []
    blocked.fit(train, on_epoch=lambda record: blocks.append(len(blocked._state.blocks)))
    assert min(blocks) >= 9  # 90 users, at most 10 a block
    np.testing.assert_allclose(blocked.user_factors_.numpy(), whole.user_factors_.numpy(), atol=1e-5)
    np.testing.assert_allclose(blocked.item_factors_.numpy(), whole.item_factors_.numpy(), atol=1e-5)
    assert [h["loss"] for h in blocked.history_] == pytest.approx([h["loss"] for h in whole.history_], rel=1e-5)


def test_ials_item_side_product_in_column_blocks_is_the_whole_product(monkeypatch):
    rng = np.random.default_rng(0)
    dense = (rng.random((90, 40)) < 0.3).astype(np.float32)
    dense[5] = 0  # a user without cells
    csr = sp.csr_matrix(dense)
    monkeypatch.setitem(als.ITEM_BLOCK_BYTES, "cpu", 4 * 6 * 7)  # 7 users (of 6 factors) a block
    state = als._TrainingState(csr, lambda v: 1.0 + v, torch.device("cpu"), None, 6)
    assert len(state.item_blocks) == 13  # 90 users, 7 a block
    state.item_values.copy_(torch.as_tensor(rng.standard_normal(csr.nnz), dtype=torch.float32))
    # the items x users matrix the values stand for: item_values[to_item_major == n] sits at cell n
    user_major = np.empty(csr.nnz, np.float64)
    user_major[state.to_item_major.numpy()] = state.item_values.numpy()
    users = np.repeat(np.arange(90), state.row_lengths.numpy())
    weights = np.zeros((40, 90))
    weights[state.cols.numpy(), users] = user_major
    x = torch.as_tensor(rng.standard_normal((90, 6)), dtype=torch.float32)
    start = torch.as_tensor(rng.standard_normal((40, 6)), dtype=torch.float32)
    out = state.item_spmm(start.clone(), x, beta=-1.0)
    np.testing.assert_allclose(out.numpy(), -start.numpy() + weights @ x.double().numpy(), atol=1e-5)


@pytest.mark.parametrize("binary", [True, False])
def test_ials_item_side_column_blocks_train_as_one_block(binary, monkeypatch):
    train = make_interactions(clustered(90, 40, seed=4))
    params = {"factors": 6, "epochs": 3, "regularization": 0.5, "binary": binary, "device": "cpu"}
    monkeypatch.setitem(als.ITEM_BLOCK_BYTES, "cpu", 0)  # one block: the whole items x users product
    whole = ImplicitALS(**params).fit(train)
    monkeypatch.setitem(als.ITEM_BLOCK_BYTES, "cpu", 4 * 6 * 7)
    blocked = ImplicitALS(**params).fit(train)
    # the same sums in another order (the product itself is exact: the test above): float rounding,
    # grown by three CG steps a half-step to a few 1e-4 on factors of about 0.5; a lost block moves them
    # by tenths
    np.testing.assert_allclose(blocked.user_factors_.numpy(), whole.user_factors_.numpy(), atol=1e-3)
    np.testing.assert_allclose(blocked.item_factors_.numpy(), whole.item_factors_.numpy(), atol=1e-3)
    assert [h["loss"] for h in blocked.history_] == pytest.approx([h["loss"] for h in whole.history_], rel=1e-4)


def test_item_block_width_comes_from_the_cpu_caches(monkeypatch):
    caches = cpu_cache_bytes()
    assert caches[2] > 0 and caches[3] > 0
    expected = max(caches[2], caches[3] // 8) // (4 * 64)
    assert als.item_block_users(200_000, 64, torch.device("cpu")) == expected
    assert als.item_block_users(200_000, 64, torch.device("cuda")) == 200_000  # a GPU: one block
    monkeypatch.setitem(als.ITEM_BLOCK_BYTES, "cpu", 4096)
    assert als.item_block_users(200_000, 64, torch.device("cpu")) == 16
    assert device_module._parse_size("1024K") == 2**20 and device_module._parse_size("32M") == 2**25


def test_heap_settings_apply_on_glibc_and_are_only_raised(monkeypatch):
    monkeypatch.setitem(device_module._HEAP_KEPT, "bytes", 0)
    calls = []
    real = device_module.ctypes.CDLL

    class Libc:
        def __init__(self, name):
            self.real = real(name)

        def mallopt(self, param, value):
            calls.append((param, value))
            return self.real.mallopt(param, value)

    monkeypatch.setattr(device_module.ctypes, "CDLL", Libc)
    if device_module.sys.platform != "linux" or device_module.platform.libc_ver()[0] != "glibc":
        assert not device_module.keep_heap_for(16 << 20) and calls == []
        return
    assert device_module.keep_heap_for(16 << 20)
    assert calls == [(-3, 32 << 20), (-1, 64 << 20)]  # mmap threshold 2 blocks, trim threshold 4 blocks
    assert device_module.keep_heap_for(4 << 20) and len(calls) == 2  # smaller: nothing lowered
    monkeypatch.setattr(device_module.platform, "libc_ver", lambda: ("musl", "1.2"))
    assert not device_module.keep_heap_for(64 << 20)


@pytest.mark.parametrize("binary", [True, False])
def test_ials_reported_loss_is_the_weighted_objective(binary):
    dense = clustered(30, 20, seed=2)
    reg, alpha = 0.3, 1.5
    model = ImplicitALS(factors=4, epochs=3, regularization=reg, alpha=alpha, binary=binary, device="cpu")
    model.fit(make_interactions(dense))
    x, y = model.user_factors_.double().numpy(), model.item_factors_.double().numpy()
    conf, pref = confidence_matrix(dense, alpha, binary), (dense > 0).astype(float)
    objective = (conf * (pref - x @ y.T) ** 2).sum() + reg * ((x**2).sum() + (y**2).sum())
    cells = dense.size + conf[dense > 0].sum() - (dense > 0).sum()
    assert model.history_[-1]["loss"] == pytest.approx(objective / cells, rel=1e-5)


@pytest.mark.parametrize("binary", [True, False])
def test_ials_explanations_sum_to_the_exactly_solved_score(binary):
    dense = clustered(30, 20, seed=3)
    reg, alpha = 0.5, 2.0
    model = ImplicitALS(factors=5, epochs=3, regularization=reg, alpha=alpha, binary=binary, device="cpu")
    model.fit(make_interactions(dense))
    y = model.item_factors_.double().numpy()
    user, item = 4, 7
    conf, pref = confidence_matrix(dense, alpha, binary), (dense > 0).astype(float)
    x_exact = exact_solve(y, conf[user : user + 1], pref[user : user + 1], reg)[0]
    history = np.flatnonzero(dense[user])
    contributions = model._explain(user, history, dense[user, history], item)
    assert contributions.sum() == pytest.approx(float(y[item] @ x_exact), rel=1e-4, abs=1e-6)
    # implicit's per-item formula: c_uj * y_i^T W_u^-1 y_j
    w = y.T @ (conf[user][:, None] * y) + reg * np.eye(5)
    expected = conf[user, history] * (y[history] @ np.linalg.solve(w, y[item]))
    np.testing.assert_allclose(contributions, expected, rtol=1e-4, atol=1e-6)
    # the public explain returns the largest of them, largest first
    top = model.explain(user, item, n=3)
    assert [i for i, _ in top] == list(history[np.argsort(-expected)[:3]])


def test_ials_fold_in_solves_the_user_exactly():
    dense = clustered(30, 20, seed=4)
    model = ImplicitALS(factors=5, epochs=3, regularization=0.5, device="cpu").fit(make_interactions(dense))
    y = model.item_factors_.double().numpy()
    history = sp.csr_matrix(dense[[2, 5, 9]])
    conf, pref = confidence_matrix(dense[[2, 5, 9]], 1.0, True), (dense[[2, 5, 9]] > 0).astype(float)
    expected = exact_solve(y, conf, pref, 0.5) @ y.T
    np.testing.assert_allclose(model._score_histories(history).double().numpy(), expected, atol=1e-4)


# -- bpr -------------------------------------------------------------------------------------------
def test_bpr_ranks_the_users_group_first(small):
    model = BPR(factors=8, epochs=30, learning_rate=0.05, batch_size=256, device="cpu").fit(small)
    assert model.history_[-1]["correct"] > 0.8
    recs, _ = model.recommend(np.arange(small.n_users), k=5)
    same_group = (recs % 3) == (np.arange(small.n_users) % 3)[:, None]
    assert same_group.mean() > 0.8


def test_bpr_negatives_are_never_the_users_items(small):
    model = BPR(device="cpu", epochs=1)
    model.fit(small)
    model._start_training(small, None)
    users = torch.as_tensor(small.users, dtype=torch.int64).repeat(20)
    negatives, valid = model._negatives(users)
    has = small.to_csr(use_values=False).toarray() > 0
    picked = has[users.numpy(), negatives.numpy()]
    assert not picked[valid.numpy()].any()
    assert valid.float().mean() > 0.95


def test_bpr_popularity_negatives_follow_item_counts(small):
    model = BPR(device="cpu", epochs=1, negative_sampling="popularity")
    model.fit(small)
    model._start_training(small, None)
    drawn = np.bincount(model._draw_items(200_000).numpy(), minlength=small.n_items) / 200_000
    share = small.item_counts() / len(small)
    np.testing.assert_allclose(drawn, share, atol=0.004)
    uniform = BPR(device="cpu", epochs=1).fit(small)
    uniform._start_training(small, None)
    drawn = np.bincount(uniform._draw_items(200_000).numpy(), minlength=small.n_items) / 200_000
    np.testing.assert_allclose(drawn, 1 / small.n_items, atol=0.004)


def test_bpr_rejects_an_unknown_negative_sampling(small):
    with pytest.raises(ModelError, match="negative_sampling must be one of uniform, popularity"):
        BPR(device="cpu", epochs=1, negative_sampling="hard").fit(small)


def test_bpr_fold_in_is_the_centred_ridge_fit_and_explanations_sum_to_it(small):
    model = BPR(factors=6, epochs=5, batch_size=256, device="cpu").fit(small)
    q, b = model.item_factors_.double().numpy(), model.item_bias_.double().numpy()
    x = model.user_factors_.double().numpy()
    # the margin: mean of p_u . (q_i - q_mean) over the training interactions
    centred = q - q.mean(0)
    margin = np.mean([x[u] @ centred[i] for u, i in zip(small.users, small.items, strict=True)])
    assert model.fold_in_margin_ == pytest.approx(margin, rel=1e-4)
    items = np.array([0, 3, 6, 9])
    ridge = 5.0 * np.mean((centred**2).sum(1))
    p = np.linalg.solve(centred[items].T @ centred[items] + ridge * np.eye(6), centred[items].T @ np.full(4, margin))
    got = model._score_histories(model._history_matrix(items)).double().numpy()[0]
    np.testing.assert_allclose(got, q @ p + b, atol=1e-4)
    contributions = model._explain(0, items, np.ones(4, np.float32), 12)
    assert contributions.sum() == pytest.approx(centred[12] @ p, abs=1e-4)


@pytest.mark.slow  # compiling takes ~10 s
def test_bpr_compiled_step_matches_the_op_by_op_step():
    """The fused (torch.compile) update used for large data on a CPU is the same arithmetic."""
    from recsys.device import cpu_threads
    from recsys.models.bpr import compiled_sgd_step, sgd_step

    gen = torch.Generator().manual_seed(0)
    users_f, items_f, bias = torch.randn(30, 8, generator=gen), torch.randn(20, 8, generator=gen), torch.randn(20)
    u, i, j = (torch.randint(0, n, (64,), generator=gen) for n in (30, 20, 20))
    valid = (torch.rand(64, generator=gen) > 0.1).float()
    eager = [t.clone() for t in (users_f, items_f, bias)]
    fused = [t.clone() for t in (users_f, items_f, bias)]
    with torch.no_grad(), cpu_threads(1):
        totals_eager = sgd_step(*eager, u, i, j, valid, 0.05, 0.0005)
        totals_fused = compiled_sgd_step(*fused, u, i, j, valid, 0.05, 0.0005)
    for a, b in zip(eager, fused, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(totals_eager.numpy(), totals_fused.numpy(), rtol=1e-5)


# -- mf --------------------------------------------------------------------------------------------
def low_rank_ratings(n_users=200, n_items=150, rank=3, density=0.3, noise=0.1, seed=0):
    rng = np.random.default_rng(seed)
    p, q = rng.normal(0, 0.6, (n_users, rank)), rng.normal(0, 0.6, (n_items, rank))
    truth = 3.0 + rng.normal(0, 0.3, (n_users, 1)) + rng.normal(0, 0.3, (1, n_items)) + p @ q.T
    observed = rng.random((n_users, n_items)) < density
    ratings = np.clip(truth + rng.normal(0, noise, truth.shape), 0.5, 5.0)
    return ratings, observed, rng


def test_mf_predicts_held_out_low_rank_ratings():
    ratings, observed, rng = low_rank_ratings()
    users, items = np.nonzero(observed)
    test = rng.random(len(users)) < 0.2
    inter = Interactions(users=users[~test].astype(np.int32), items=items[~test].astype(np.int32),
                         user_ids=np.arange(200), item_ids=np.arange(150),
                         values=ratings[users[~test], items[~test]].astype(np.float32), explicit=True)
    model = BiasedMF(factors=8, epochs=40, learning_rate=0.02, regularization=0.02, batch_size=512,
                     device="cpu").fit(inter)
    pred = model.predict(users[test], items[test])
    assert pred.shape == (test.sum(),) and pred.dtype == np.float32
    truth = ratings[users[test], items[test]]
    rmse = np.sqrt(np.mean((pred - truth) ** 2))
    baseline = np.sqrt(np.mean((truth - inter.values.mean()) ** 2))
    assert rmse < 0.5 * baseline
    history = model.history_
    assert {"loss", "rmse", "mae"} <= set(history[-1])
    assert history[-1]["rmse"] < history[0]["rmse"]
    # ranking scores are the predicted ratings
    np.testing.assert_allclose(model.score(users[test][:5])[np.arange(5), items[test][:5]], pred[:5], atol=1e-5)


def test_mf_fold_in_reproduces_a_known_users_taste():
    ratings, observed, _ = low_rank_ratings(seed=1)
    users, items = np.nonzero(observed)
    inter = Interactions(users=users.astype(np.int32), items=items.astype(np.int32),
                         user_ids=np.arange(200), item_ids=np.arange(150),
                         values=ratings[users, items].astype(np.float32), explicit=True)
    model = BiasedMF(factors=8, epochs=30, learning_rate=0.02, regularization=0.02, batch_size=512,
                     device="cpu").fit(inter)
    row = model.user_items_[10]
    folded = model._score_histories(row).numpy()[0]
    trained = model.score(np.array([10]))[0]
    assert np.corrcoef(folded, trained)[0, 1] > 0.9
    contributions = model._explain(10, row.indices, row.data, 3)
    expected = folded[3] - model.global_mean_ - float(model.item_bias_[3])
    assert contributions.sum() == pytest.approx(expected, abs=1e-3)


# -- multvae ---------------------------------------------------------------------------------------
def test_multvae_scores_users_as_their_histories_and_round_trips(small, tmp_path):
    from recsys.models import load_model

    model = MultVAE(device="cpu", **FAST["multvae"]).fit(small)
    users = np.arange(10)
    direct = model.score(users)
    folded = model._score_histories(model.user_items_[users]).numpy()
    np.testing.assert_allclose(direct, folded, atol=1e-6)
    recs, _ = model.recommend(np.arange(small.n_users), k=5)
    assert ((recs % 3) == (np.arange(small.n_users) % 3)[:, None]).mean() > 0.8
    loaded = load_model(model.save(tmp_path / "vae"))
    np.testing.assert_array_equal(loaded.score(users), direct)

