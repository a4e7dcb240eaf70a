"""recsys.explore on small synthetic data with known answers.

Two taste groups: users 0-9 watch the action films (items 0-4), users 10-19 the dramas (items 5-9).
Item popularity is made distinct so popularity orderings are known. Besides the library's Popularity
and Random models, a small real model following the Recommender contract stands in for an
item-neighbour model: item vectors are the item columns of the interaction matrix, so item-item
similarity is their cosine, and fold-in scores are history @ similarity.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from recsys import explore
from recsys.data import Catalog, DataError, Interactions
from recsys.models.base import ModelError, Recommender
from recsys.models.baselines import Popularity, RandomModel

TITLES = ["Die Hard", "Speed", "Heat", "Ronin", "Taken", "Amelie", "Babel", "Carol", "Drive My Car", "Emma"]
GENRES = [["Action", "Thriller"]] * 5 + [["Drama"]] * 5


class CosineItems(Recommender):
    """Item-neighbour stand-in: item vectors = item columns of the training matrix."""

    name = "cosine-items"
    description = "test model"

    def __init__(self, device: str | None = None) -> None:
        self.device = device

    def _fit(self, train, catalog) -> None:
        dense = torch.as_tensor(train.to_csr(use_values=False).toarray().T, device=self.device_)
        self.item_vectors_ = dense

    def item_embeddings(self):
        return self.item_vectors_

    def _score_histories(self, history: sp.csr_matrix) -> torch.Tensor:
        sims = self._item_similarities(torch.arange(self.n_items_, device=self.device_))
        hist = torch.as_tensor(history.toarray(), device=self.device_)
        return hist @ sims


def _interactions() -> Interactions:
    rows = []
    for user in range(20):
        group = range(0, 5) if user < 10 else range(5, 10)
        for item in group:
            # item j is watched by the first (10 - (j % 5) * 2) users of its group: distinct popularity
            if (user % 10) < 10 - (item % 5) * 2:
                rows.append((user, item, 3.0 + (item % 3), 1_000_000 + user * 100 + item))
    frame = pd.DataFrame(rows, columns=["user", "item", "rating", "ts"])
    frame["user"] = "u" + frame["user"].astype(str).str.zfill(2)
    frame["item"] = "m" + frame["item"].astype(str)
    return Interactions.from_frame(frame, "user", "item", "rating", "ts", explicit=True)


def _interactions_with(user: str, item: str) -> Interactions:
    frame = _interactions().to_frame()
    frame = pd.concat([frame, pd.DataFrame({"user": [user], "item": [item], "value": [5.0], "timestamp": [2_000_000]})])
    return Interactions.from_frame(frame, "user", "item", "value", "timestamp", explicit=True)


def _catalog(with_unknown: bool = False) -> Catalog:
    frame = pd.DataFrame(
        {
            "item_id": [f"m{i}" for i in range(10)],
            "title": TITLES,
            "tags": GENRES,
            "description": [""] * 10,
            "image_url": [f"https://img/{i}.jpg" if i % 2 == 0 else "" for i in range(10)],
        }
    )
    if with_unknown:
        frame = frame.iloc[1:]  # m0 missing from the catalogue
    return Catalog(frame=frame)


@pytest.fixture(scope="module")
def data():
    return _interactions()


@pytest.fixture(scope="module")
def catalog():
    return _catalog()


@pytest.fixture(scope="module")
def pop(data):
    return Popularity(device="cpu").fit(data)


@pytest.fixture(scope="module")
def cos(data):
    return CosineItems(device="cpu").fit(data)


@pytest.fixture(scope="module")
def rnd(data):
    return RandomModel(device="cpu").fit(data)


def test_synthetic_data_is_as_described(data):
    assert data.n_users == 20 and data.n_items == 10
    # action item j (and drama item j+5) watched by 10 - 2j users of its group
    assert data.item_counts().tolist() == [10, 8, 6, 4, 2] * 2


def test_item_labels_with_and_without_catalogue(data):
    labels = explore.item_labels(data.item_ids, _catalog(with_unknown=True))
    assert labels.loc[0, "title"] == "m0" and labels.loc[0, "tags"] == [] and labels.loc[0, "genres"] == ""
    assert labels.loc[1, "title"] == "Speed" and labels.loc[1, "genres"] == "Action, Thriller"
    assert labels.loc[2, "image_url"] == "https://img/2.jpg" and labels.loc[3, "image_url"] == ""
    bare = explore.item_labels(data.item_ids)
    assert bare["title"].tolist() == [f"m{i}" for i in range(10)]


def test_main_genres_pick_the_most_specific_common_tag():
    tags = [["Adventure", "Animation", "Children"], ["Adventure", "Drama"], ["Drama"], ["Drama", "Western"], [],
            ["Adventure"]]
    # counts: Adventure 3, Drama 3, Animation 1, Children 1, Western 1; keep the 3 most common
    assert explore.main_genres(tags, max_genres=3) == ["Animation", "Adventure", "Drama", "Drama", "Unknown", "Adventure"]
    assert explore.main_genres(tags, max_genres=2) == ["Adventure", "Adventure", "Drama", "Drama", "Unknown", "Adventure"]
    assert explore.main_genres([["Western"], ["Drama"], ["Drama"]], max_genres=1) == ["Other", "Drama", "Drama"]


def test_popular_items_most_first(data):
    assert explore.popular_items(data, 4).tolist() == [0, 5, 1, 6]


def test_search_items_and_users(data, catalog, cos):
    found = explore.search_items(cos, catalog, "a")  # titles containing "a", case-insensitive
    assert set(found["title"]) == {"Die Hard", "Heat", "Taken", "Amelie", "Babel", "Carol", "Drive My Car", "Emma"}
    assert found["interactions"].is_monotonic_decreasing
    assert explore.search_items(data, catalog, "heat")["item_id"].tolist() == ["m2"]
    assert explore.search_items(data, catalog, "no such film").empty
    users = explore.search_users(data, "u1")
    assert set(users["user_id"]) == {f"u{i}" for i in range(10, 20)}
    assert users["interactions"].is_monotonic_decreasing
    assert explore.search_users(data, "u05").loc[0, "label"] == "User u05 (3 interactions)"
    ids = pd.DataFrame({"user": ["1", "10", "10", "21", "21", "21"], "item": ["a", "a", "b", "a", "b", "c"]})
    few = Interactions.from_frame(ids, "user", "item")
    assert explore.search_users(few, "1")["user_id"].tolist() == ["1", "21", "10"]  # exact match, then most active
    assert explore.search_users(few)["user_id"].tolist() == ["21", "10", "1"]


def test_item_similarity_heatmap_is_cosine_labelled_by_title(data, catalog, cos):
    heat = explore.item_similarity_heatmap(cos, [0, 1, 5], catalog)
    assert list(heat.index) == ["Die Hard", "Speed", "Amelie"] == list(heat.columns)
    # Die Hard: 10 action users; Speed: the first 8 of them -> cosine 8 / sqrt(10 * 8)
    assert heat.loc["Die Hard", "Speed"] == pytest.approx(8 / np.sqrt(80), abs=1e-6)
    assert heat.loc["Die Hard", "Amelie"] == pytest.approx(0.0)
    assert np.allclose(np.diag(heat.to_numpy()), 1.0)
    assert np.allclose(heat.to_numpy(), heat.to_numpy().T)


def test_heatmap_from_a_model_without_similarity_says_so(pop, cos, catalog):
    assert explore.supports_item_similarity(cos) is True
    assert explore.supports_item_similarity(pop) is False
    with pytest.raises(ModelError, match="similarity"):
        explore.item_similarity_heatmap(pop, [0, 1], catalog)
    with pytest.raises(DataError):
        explore.item_similarity_heatmap(cos, [], catalog)


def test_repeated_titles_get_their_id(data, cos):
    frame = _catalog().frame.copy()
    frame.loc[1, "title"] = "Die Hard"
    heat = explore.item_similarity_heatmap(cos, [0, 1], Catalog(frame=frame))
    assert list(heat.index) == ["Die Hard (m0)", "Die Hard (m1)"]


def test_user_similarity_heatmap(data, pop, cos, rnd):
    users = [0, 1, 10, 11]
    same = explore.user_similarity_heatmap(pop, users)
    assert np.allclose(same.to_numpy(), 1.0)  # popularity treats everyone alike
    assert list(same.index) == ["User u00", "User u01", "User u10", "User u11"]
    taste = explore.user_similarity_heatmap(cos, users)
    assert taste.loc["User u00", "User u01"] > 0.9
    assert taste.loc["User u00", "User u10"] < 0  # opposite tastes anti-correlate
    noise = explore.user_similarity_heatmap(rnd, users).to_numpy()
    assert np.allclose(np.diag(noise), 1.0)


def test_sample_users_is_reproducible(data):
    first = explore.sample_users(data, 5, seed=3)
    assert len(first) == 5 and np.all(np.diff(first) > 0)
    assert first.tolist() == explore.sample_users(data, 5, seed=3).tolist()
    assert len(explore.sample_users(data, 100)) == 20


def test_more_like_this(catalog, cos, pop):
    like = explore.more_like_this(cos, 0, catalog, k=3)
    assert like["title"].tolist() == ["Speed", "Heat", "Ronin"]  # nested sets: bigger overlap = closer
    assert like["rank"].tolist() == [1, 2, 3]
    assert like["similarity"].is_monotonic_decreasing
    assert like.loc[1, "image_url"] == "https://img/2.jpg"
    assert like.loc[0, "genres"] == "Action, Thriller"
    with pytest.raises(ModelError):
        explore.more_like_this(pop, 0, catalog)


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_embedding_map_from_model_vectors(cos, catalog, method):
    points = explore.embedding_map(cos, catalog, method=method, max_items=10)
    assert len(points) == 10 and set(points.columns) >= {"x", "y", "title", "genre", "interactions"}
    assert points.attrs["source"] == "the model's item vectors"
    assert np.isfinite(points[["x", "y"]].to_numpy()).all()
    action = points[points["genre"] == "Action"][["x", "y"]].mean().to_numpy()
    drama = points[points["genre"] == "Drama"][["x", "y"]].mean().to_numpy()
    spread = np.linalg.norm(points[["x", "y"]].to_numpy() - points[["x", "y"]].mean().to_numpy(), axis=1).mean()
    assert np.linalg.norm(action - drama) > spread  # the two tastes land apart


class SimilarityOnly(CosineItems):
    """Like an item-neighbour model: similarities but no item vectors."""

    def item_embeddings(self):
        return None

    def _similarity_vectors(self):
        return self.item_vectors_


def test_embedding_map_from_similarities(data, catalog):
    model = SimilarityOnly(device="cpu").fit(data)
    points = explore.embedding_map(model, catalog, max_items=10)
    assert points.attrs["source"] == "the model's item similarities (compressed)"
    action = points[points["genre"] == "Action"][["x", "y"]].mean().to_numpy()
    drama = points[points["genre"] == "Drama"][["x", "y"]].mean().to_numpy()
    assert np.linalg.norm(action - drama) > 0.5


def test_embedding_map_without_vectors_uses_interactions(pop, catalog):
    points = explore.embedding_map(pop, catalog, max_items=6, max_genres=1)  # keeps Action, the rest: Other
    assert len(points) == 6
    assert "interacted" in points.attrs["source"]
    assert set(points["genre"]) <= {"Action", "Drama", explore.OTHER_GENRE}
    assert explore.genre_order(points)[-1] == explore.OTHER_GENRE
    assert points["interactions"].tolist() == [10, 10, 8, 8, 6, 6]
    with pytest.raises(DataError):
        explore.embedding_map(pop, catalog, method="umap")


def test_user_history_newest_first(data, catalog):
    history = explore.user_history(data, "u02", catalog)
    assert history["title"].tolist() == ["Ronin", "Heat", "Speed", "Die Hard"]
    assert history["rating"].tolist() == [3.0, 5.0, 4.0, 3.0]
    assert str(history["when"].dtype).startswith("datetime64")
    assert len(explore.user_history(data, "u09", catalog)) == 1  # the least active user: only Die Hard
    with pytest.raises(DataError, match="not in this dataset"):
        explore.user_history(data, "nobody", catalog)


def test_recommendations_with_reasons(data, catalog, cos, pop):
    recs = explore.recommendations_for_user(cos, "u06", catalog, k=3)  # u06 has Die Hard, Speed
    assert recs["title"].tolist() == ["Heat", "Ronin", "Taken"]
    assert recs["because"].iloc[0].startswith("Because you liked ")
    assert "Die Hard" in recs["because"].iloc[0] and "Amelie" not in recs["because"].iloc[0]
    assert not recs["picked_later"].any()
    # held out from training: u06's Heat is in the full data but not in what the model saw
    seen = explore.recommendations_for_user(cos, "u06", catalog, k=3, everything=_interactions_with("u06", "m2"))
    assert seen["picked_later"].tolist() == [True, False, False]
    assert seen.attrs["held_out"] == 1  # Heat: in the data, not in what the model trained on
    assert explore.recommendations_for_user(cos, "u06", catalog, k=3, everything=data).attrs["held_out"] == 0
    popular = explore.recommendations_for_user(pop, "u06", catalog, k=2)
    assert popular["title"].tolist() == ["Amelie", "Babel"]  # the two most watched films u06 has not seen
    assert (popular["because"] == "Popular with everyone").all()
    with pytest.raises(DataError, match="not in the data"):
        explore.recommendations_for_user(pop, "nobody", catalog)


def test_random_says_so(rnd, catalog):
    assert (explore.recommendations_for_user(rnd, "u00", catalog, k=3)["because"] == "Picked at random").all()


def test_compare_recommendations(catalog, cos, pop):
    same = explore.compare_recommendations(pop, pop, "u00", catalog, k=3)
    assert same.overlap == 3 and same.names == ("popularity (A)", "popularity (B)")
    assert same.table.iloc[0, 1].startswith("✓ ")
    diff = explore.compare_recommendations(cos, pop, "u00", catalog, k=5, names=("Neighbours", "Popular"))
    assert list(diff.table.columns) == ["rank", "Neighbours", "Popular"]
    # u00 has watched every action film: the neighbour model can only offer dramas, all with score 0
    assert diff.overlap == len(diff.shared) and set(diff.shared) <= set(TITLES[5:])


def test_persona_across_models(catalog, cos, pop, rnd):
    class NoFoldIn(Popularity):
        supports_fold_in = False

    stubborn = NoFoldIn(device="cpu").fit(_interactions())
    result = explore.persona_recommendations(
        {"Neighbours": cos, "Popular": pop, "Random": rnd, "Stubborn": stubborn}, ["m5", "m6"], catalog, k=3
    )
    assert set(result.frame["model"]) == {"Neighbours", "Popular", "Random"}
    assert "Stubborn" in result.problems and "new user" in result.problems["Stubborn"]
    mine = result.frame[result.frame["model"] == "Neighbours"]
    assert mine["title"].tolist() == ["Carol", "Drive My Car", "Emma"]  # the rest of the dramas
    assert not set(result.frame["item_id"]) & {"m5", "m6"}  # what you love is not re-recommended
    wide = explore.persona_table(result)
    assert list(wide.columns) == ["rank", "Neighbours", "Popular", "Random"] and len(wide) == 3
    unknown = explore.persona_recommendations({"Popular": pop}, ["m5", "zzz"], catalog)
    assert unknown.frame.empty and "zzz" in unknown.problems["Popular"]
    with pytest.raises(DataError):
        explore.persona_recommendations({"Popular": pop}, [], catalog)


def test_all_recommendations_csv(data, catalog, pop):
    table = explore.all_recommendations(pop, catalog, k=2)
    assert len(table) == data.n_users * 2
    assert list(table.columns) == ["user", "rank", "item", "title", "score"]
    first = table[table["user"] == "u00"]
    assert first["title"].tolist() == ["Amelie", "Babel"]  # u00 saw every action film
    text = explore.recommendations_csv(pop, catalog, k=2).decode("utf-8")
    assert text.splitlines()[0] == "user,rank,item,title,score" and len(text.splitlines()) == 41
