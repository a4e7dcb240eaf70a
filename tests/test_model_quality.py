"""Quality floors on the MovieLens demo with DEFAULT hyperparameters (issue 3).

Protocol: every rating is an interaction; per user a random 20% held out for the test (``random_split``,
seed 42) and, as the worker does, a random 10% of the rest carved out for validation (``fit_on_split``):
iterative models learn from the remaining 72% and are validated on the 10%; one-step models (popularity,
knn, EASE, content), which have nothing for validation to choose, learn from the whole 80%. Each user's ranking covers the whole catalogue minus their
training and validation items; NDCG@10 (every held-out rating relevant) averaged over every user with
test items. Reference implementations on this protocol: popularity 0.188, implicit's ALS
0.304, BPR 0.212, cosine item-KNN (50 neighbours) 0.329, user-KNN 0.319, EASE (lambda 200) 0.366, all
trained on the whole 80%.
``mf`` is judged on what it predicts: RMSE of the held-out ratings <= 0.90. It is not held to "beats
popularity" on top-10: it ranks by predicted stars, and a rating predictor scores below popularity on
this protocol (every held-out rating, low ones too, counts as a hit; Cremonesi et al., RecSys 2010).

Each model trains once per session (on first use). ``pytest -m slow tests/test_model_quality.py -rA``
prints every model's NDCG@10 and fit time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from recsys import metrics
from recsys.data import load_demo
from recsys.evaluation import fit_on_split
from recsys.models import MODELS, PERSONALISED, make_model
from recsys.split import random_split

pytestmark = pytest.mark.slow

# Iterative models learn from 72% of the ratings instead of 80% (validation carved out), which costs them a
# little: on this split, trained on the whole 80% -> on fit-train: iALS 0.3475 -> 0.3276, BPR 0.2283 ->
# 0.2240. One-step models still learn from the whole 80%, so their floors are unchanged.
FLOORS = {"itemknn": 0.32, "userknn": 0.31, "ials": 0.30, "ease": 0.36, "bpr": 0.20}
MF_RMSE_CEILING = 0.90


@dataclass
class Result:
    model: object
    ndcg: float
    fit_seconds: float


@pytest.fixture(scope="module")
def demo_split():
    inter, catalog = load_demo()
    split = random_split(inter, test_fraction=0.2, seed=42)
    return split, catalog


@pytest.fixture(scope="module")
def trained(demo_split) -> Callable[[str], Result]:
    """``trained(name)``: the model with default settings, fitted once, and its mean NDCG@10."""
    split, catalog = demo_split
    users = np.unique(split.test.users)
    truth = split.test.to_csr(use_values=False)[users]
    before_test = split.train.to_csr(use_values=False)  # fit-train and validation: never recommended
    cache: dict[str, Result] = {}

    def get(name: str) -> Result:
        if name not in cache:
            started = time.perf_counter()
            model = fit_on_split(make_model(name), split, catalog=catalog)
            seconds = time.perf_counter() - started
            recs, _ = model.recommend(users, k=10, exclude=before_test)
            score = float(np.mean(metrics.ndcg(recs, truth, 10)))
            cache[name] = Result(model, score, seconds)
            print(f"\n{name}: NDCG@10 {score:.4f}, fit {seconds:.1f} s")
        return cache[name]

    return get


def test_protocol_matches_the_reference_popularity(trained):
    assert 0.16 <= trained("popularity").ndcg <= 0.21  # reference 0.188 on the same protocol


@pytest.mark.parametrize("name", list(FLOORS))
def test_ndcg_floor_with_default_settings(name, trained):
    result = trained(name)
    assert result.ndcg >= FLOORS[name], f"{name}: NDCG@10 {result.ndcg:.4f} < floor {FLOORS[name]}"


RANKING_MODELS = [name for name in PERSONALISED if MODELS[name].feedback != "explicit"]


@pytest.mark.parametrize("name", RANKING_MODELS)
def test_every_personalised_model_beats_popularity(name, trained):
    result, popularity = trained(name), trained("popularity")
    assert result.ndcg > popularity.ndcg, f"{name}: NDCG@10 {result.ndcg:.4f} <= popularity {popularity.ndcg:.4f}"


def test_mf_rmse_on_held_out_ratings(trained, demo_split):
    split, _ = demo_split
    model = trained("mf").model
    predicted = model.predict(split.test.users, split.test.items)
    rmse = metrics.rmse(predicted, split.test.values)
    print(f"\nmf: RMSE {rmse:.4f}")
    assert rmse <= MF_RMSE_CEILING
