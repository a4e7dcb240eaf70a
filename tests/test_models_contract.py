"""The model contract (recsys/models/base.py), checked for EVERY entry of ``recsys.models.MODELS``.

Data: a synthetic "checkerboard": even users interact only with even items, odd users only with odd
items (with skewed item popularity). Explicit-feedback models get ratings instead: 4-5 stars for their
own parity, 1 star for a few items of the other. Every personalised model must recover the pattern.
Each model trains once per test session with small settings (``FAST``), so the suite stays quick.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from recsys.data import Catalog, Interactions
from recsys.models import MODELS, PERSONALISED, ModelError, Recommender, base, load_model, make_model
from recsys.models.bpr import BPR
from recsys.models.settings import DEVICE, KINDS, SEED
from recsys.training import TrainingDiverged, run_epochs

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


# -- declared settings --------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
def test_settings_are_declared_once_and_agree_with_the_constructor(name):
    cls = MODELS[name]
    assert [s.name for s in cls.settings] == cls.param_names(), "one declaration per constructor argument, in order"
    defaults = cls.default_params()
    for s in cls.settings:
        assert s.kind in KINDS, s.name
        assert s.default == defaults[s.name] and type(s.default) is type(defaults[s.name]), s.name
        assert s.check(s.default, name) == s.default, f"{s.name}'s default is not allowed by its own declaration"
        assert s.label and s.help and "\n" not in s.help and "_" not in s.label + s.help, s.name
        if s.kind in ("int", "float"):
            assert s.low is not None and s.high is not None and s.low <= s.high, s.name
        if s.kind == "choice":
            assert s.default in s.choices and len(s.choice_labels) == len(s.choices), s.name
        if s.tune is not None:
            assert s.kind in ("int", "float") and s.low <= s.tune[0] < s.tune[1] <= s.high, s.name
            assert not s.log or s.tune[0] > 0, f"{s.name}: a log scale needs a positive range"
    labels = [s.label for s in cls.settings]
    assert len(set(labels)) == len(labels), "two settings of one model share a label"
    assert cls.setting("device") is DEVICE, "shared settings are declared once, in recsys.models.settings"


def test_settings_read_text_and_refuse_bad_values_in_one_line():
    typed = MODELS["bpr"].check_params({
        "factors": "32", "learning_rate": "1e-2", "epochs": "40.0", "batch_size": "none", "patience": " 3 ",
        "verify_negatives": "false", "negative_sampling": "Popularity", "device": "cuda:1", "seed": 7,
    })
    assert typed == {"factors": 32, "learning_rate": 0.01, "epochs": 40, "batch_size": None, "patience": 3,
                     "verify_negatives": False, "negative_sampling": "popularity", "device": "cuda:1", "seed": 7}
    assert type(typed["factors"]) is int and type(typed["learning_rate"]) is float
    refused = {
        ("factors", "abc"): "a whole number from 1 to 4,096", ("factors", -1): "from 1", ("factors", 2.5): "whole",
        ("factors", True): "whole", ("epochs", -3): "from 1", ("learning_rate", "nan"): "a number from",
        ("learning_rate", float("inf")): "a number", ("regularization", 1e308): "to 1,000,000",
        ("device", "bogus"): "auto, cpu, cuda or cuda:N", ("negative_sampling", "sideways"): "uniform, popularity",
        ("verify_negatives", "maybe"): "true or false", ("seed", None): "whole number", ("patience", 0): "from 1",
    }
    for (key, value), allowed in refused.items():
        with pytest.raises(ModelError) as caught:
            make_model("bpr", **{key: value})
        message = str(caught.value)
        assert message.startswith(f"bpr's {key} must be") and allowed in message, message
        assert "\n" not in message and len(message) < 160, message
    with pytest.raises(ModelError) as caught:
        make_model("bpr", factor=8)
    message = str(caught.value)
    assert "bpr has no setting 'factor'" in message and "factors, learning_rate" in message and "\n" not in message
    model = make_model("bpr", factors=8)
    with pytest.raises(ModelError):
        model.set_params(epochs=5, factors=-1)
    assert model.epochs == 50 and model.factors == 8, "a refused change changes nothing"


def test_fit_checks_settings_given_to_the_constructor():
    with pytest.raises(ModelError, match="factors must be"):
        BPR(factors=-1).fit(IMPLICIT)
    model = BPR(factors="8", epochs="2", verify_negatives="false").fit(IMPLICIT)
    assert (model.factors, model.epochs, model.verify_negatives) == (8, 2, False)
    assert model.user_factors_.shape == (N_USERS, 8)


def test_split_seed_and_device_use_the_shared_declarations():
    assert SEED.check("12", "the split") == 12
    with pytest.raises(ModelError, match="the split's seed must be a whole number from 0"):
        SEED.check(-1, "the split")
    assert DEVICE.check("") is None and DEVICE.check("auto") == "auto"


# -- training that blows up -------------------------------------------------------------------
def test_the_epoch_loop_stops_at_a_non_finite_loss_before_reporting_it():
    losses = iter([0.7, 0.5, float("nan"), 0.1])
    reported: list[dict] = []
    with pytest.raises(TrainingDiverged) as caught:
        run_epochs(4, lambda epoch: next(losses), on_epoch=reported.append)
    assert caught.value.epoch == 3 and caught.value.what == "NaN"
    assert [r["epoch"] for r in reported] == [1, 2]
    with pytest.raises(TrainingDiverged, match="infinite at epoch 1"):
        run_epochs(2, lambda epoch: {"loss": float("inf")})


@pytest.mark.parametrize("name", ["bpr", "mf", "multvae"])
def test_a_learning_rate_that_blows_up_fails_with_advice_not_a_nan_model(name):
    reported: list[dict] = []
    model = make_model(name, learning_rate=10.0, epochs=30, factors=8)
    with pytest.raises(ModelError) as caught:
        model.fit(data_for(name), on_epoch=reported.append)
    message = str(caught.value)
    assert re.fullmatch(rf"{name}'s training went wrong: the loss became (NaN|infinite) at epoch \d+\. "
                        r"Try a lower learning rate \(now 10\)\.", message), message
    assert all(math.isfinite(r["loss"]) for r in reported), "the NaN epoch is never reported"


def test_factors_that_overflow_in_the_last_epoch_are_caught_after_fit():
    """Every epoch count either gives a model whose scores are all finite or fails with advice; on this
    data some count ends with a finite loss but factors already NaN or infinite (the check after fit)."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"user": rng.integers(0, 50, 900).astype(str), "item": rng.integers(0, 60, 900).astype(str)})
    data = Interactions.from_frame(frame.drop_duplicates())
    messages = []
    for epochs in range(1, 16):
        try:
            model = make_model("bpr", learning_rate=10.0, epochs=epochs).fit(data)
        except ModelError as exc:
            messages.append(str(exc))
            assert "Try a lower learning rate (now 10)." in str(exc)
        else:
            assert np.isfinite(model.score(np.arange(model.n_users_))).all(), epochs
    assert any("some learned values became NaN or infinite" in m for m in messages), messages
    assert any("the loss became" in m for m in messages), messages


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


def load_within(path: Path, seconds: float = 10.0, **kwargs) -> ModelError:
    """The ModelError ``load_model(path)`` raises, which must come within ``seconds`` (a daemon thread: a
    load blocked on a pipe fails the test instead of hanging it)."""
    outcome: dict = {}

    def attempt() -> None:
        try:
            outcome["model"] = load_model(path, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - the test looks at whatever came out
            outcome["error"] = exc

    started = time.monotonic()
    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"load_model({path.name}) still blocked after {seconds} s"
    assert "model" not in outcome, f"{path.name} was loaded"
    error = outcome["error"]
    assert isinstance(error, ModelError), f"{path.name}: {type(error).__name__}: {error}"
    assert "\n" not in str(error) and time.monotonic() - started < seconds
    return error


def _npz_claiming(shape: tuple[int, ...]) -> bytes:
    """An .npz whose one array's header claims ``shape`` (float32) but holds 16 bytes."""
    import io

    from numpy.lib import format as npy

    member = io.BytesIO()
    npy.write_array_header_1_0(member, {"descr": "<f4", "fortran_order": False, "shape": shape})
    member.write(b"\0" * 16)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("item_factors_.npy", member.getvalue())
    return out.getvalue()


def test_load_refuses_pipes_devices_folders_and_damaged_files_in_one_sentence(fitted, tmp_path):
    saved = fitted["itemknn"].save(tmp_path / "good")
    meta = (saved / "model.json").read_text()
    arrays = dict(np.load(saved / "arrays.npz"))

    def variant(name: str, file: str, make) -> Path:
        folder = tmp_path / name
        shutil.copytree(saved, folder)
        (folder / file).unlink()
        make(folder / file)
        return folder

    def savez(target: Path, compressed: bool = False, **extra) -> None:
        with open(target, "wb") as fh:
            (np.savez_compressed if compressed else np.savez)(fh, **{**arrays, **extra})

    folders = {
        "a pipe as model.json": variant("fifo-json", "model.json", os.mkfifo),
        "a pipe as arrays.npz": variant("fifo-npz", "arrays.npz", os.mkfifo),
        "a folder as model.json": variant("dir-json", "model.json", os.mkdir),
        "a device as arrays.npz": variant("dev-npz", "arrays.npz", lambda p: os.symlink("/dev/zero", p)),
        "model.json not JSON": variant("bad-json", "model.json", lambda p: p.write_text("{not json")),
        "model.json a list": variant("list-json", "model.json", lambda p: p.write_text("[1, 2]")),
        "model.json binary": variant("bin-json", "model.json", lambda p: p.write_bytes(b"\xff\xfe\x00")),
        "a crafted name": variant("crafted", "model.json", lambda p: p.write_text(
            meta.replace('"scalars": {', '"scalars": {"recommend": 1, '))),
        "a bad setting": variant("bad-setting", "model.json", lambda p: p.write_text(
            meta.replace('"neighbors": 20', '"neighbors": -5'))),
        "arrays.npz not a zip": variant("junk-npz", "arrays.npz", lambda p: p.write_bytes(b"PK\x03\x04junk" * 10)),
        "arrays.npz compressed": variant("zipped-npz", "arrays.npz", lambda p: savez(p, compressed=True)),
        "an object array": variant("pickle-npz", "arrays.npz", lambda p: savez(p, extra_=np.array([{}], object))),
        "a header claiming 4 TB": variant("huge-npz", "arrays.npz", lambda p: p.write_bytes(_npz_claiming((10**12,)))),
        "a missing array": variant("short-npz", "arrays.npz", lambda p: np.savez(
            p, **{k: v for k, v in arrays.items() if not k.startswith("similarity_")})),
        "no model here": tmp_path / "nothing-here",
    }
    assert '"neighbors": 20' in meta and '"scalars": {' in meta
    for what, folder in folders.items():
        assert folder.name in str(load_within(folder)), what  # the sentence says where
    assert "not a regular file" in str(load_within(folders["a pipe as model.json"]))
    assert "not a regular file" in str(load_within(folders["a device as arrays.npz"]))
    assert "neighbors must be" in str(load_within(folders["a bad setting"]))
    assert load_model(saved).get_params() == fitted["itemknn"].get_params()  # the original still loads


def test_load_refuses_a_model_of_another_kind(fitted, tmp_path):
    saved = fitted["ease"].save(tmp_path / "ease")
    error = load_within(saved, kind="ials")
    assert str(error) == f"{saved} holds a model of kind ease where kind ials was expected."
    assert load_model(saved, kind="ease").name == "ease"


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
