"""Data for the Explore and Recommendations pages, as plain DataFrames and arrays (the Results page's
statistics live in :mod:`recsys.leaderboard`).

Every function here takes trained models (the :class:`recsys.models.base.Recommender` contract),
``Interactions`` and an optional ``Catalog`` and returns something a page can show as it is: rows
labelled with titles and genres, numbers ready to plot. Pages call one function per action; nothing
here imports Streamlit.

Definitions used throughout:

* an item's *genres* are its catalogue tags joined with ", "; on the 2-D map its *main genre* is its
  most specific tag among the most common ones (see :func:`main_genres`);
* *user-user similarity* is the Pearson correlation of two users' score vectors over all items:
  1 when the model ranks everything the same way for both, 0 when unrelated;
* *overlap* of two top-k lists is the number of items present in both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys import popularity_bands
from recsys.csv_export import csv_bytes
from recsys.data import Catalog, DataError, Interactions, lookup_ids
from recsys.leaderboard import BASELINE_MODEL
from recsys.models.base import ModelError, Recommender

UNKNOWN_GENRE = "Unknown"
OTHER_GENRE = "Other"


# -- item and user labels -------------------------------------------------------------------------
def item_labels(item_ids: np.ndarray, catalog: Catalog | None = None) -> pd.DataFrame:
    """One row per item number: ``item`` (number), ``item_id`` (text), ``title``, ``genres`` (tags joined
    with ", "), ``tags`` (list) and ``image_url`` (may be empty)."""
    item_ids = np.asarray(item_ids)
    ids = [str(i) for i in item_ids]
    if catalog is None:
        titles = ids
        tags: list[list[str]] = [[] for _ in ids]
        images = [""] * len(ids)
    else:
        aligned = catalog.align(item_ids)
        titles = [str(t) for t in aligned["title"]]
        tags = [list(t) for t in aligned["tags"]]
        images = [str(u) if isinstance(u, str) else "" for u in aligned["image_url"]]
    return pd.DataFrame(
        {
            "item": np.arange(len(ids), dtype=np.int64),
            "item_id": ids,
            "title": titles,
            "genres": [", ".join(str(x) for x in t) for t in tags],
            "tags": [[str(x) for x in t] for t in tags],
            "image_url": images,
        }
    )


def main_genres(tags: Sequence[Sequence[str]], max_genres: int = 9) -> list[str]:
    """One colour-worthy genre per item. Only the ``max_genres`` tags most common among these items
    count (ties: alphabetical); of those an item carries, the least common one is its main genre (the
    most specific: Toy Story is "Animation" rather than "Adventure"; ties: alphabetical). Items with
    tags but none of the common ones get "Other", items without tags "Unknown"."""
    counts = pd.Series([str(t) for row in tags for t in row], dtype=object).value_counts()
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: max(0, int(max_genres))]
    common = pd.Series(dict(ranked), dtype=np.int64)
    out = []
    for row in tags:
        mine = sorted({str(t) for t in row if str(t) in common.index}, key=lambda t: (common[t], t))
        out.append(mine[0] if mine else (OTHER_GENRE if len(row) else UNKNOWN_GENRE))
    return out


def _unique_labels(titles: Sequence[str], ids: Sequence[str]) -> list[str]:
    """Titles made unique for chart axes: a repeated title gets its id appended."""
    counts = pd.Series(list(titles)).value_counts()
    return [f"{t} ({i})" if counts[t] > 1 else str(t) for t, i in zip(titles, ids, strict=True)]


def _model_labels(model: Recommender, catalog: Catalog | None) -> pd.DataFrame:
    model._check_fitted()
    return item_labels(model.item_ids_, catalog)


def _counts(source: Recommender | Interactions, per: str) -> np.ndarray:
    """Interactions per ``"item"`` or ``"user"`` of a dataset, or of a model's training data."""
    if isinstance(source, Interactions):
        return source.item_counts() if per == "item" else source.user_counts()
    source._check_fitted()
    return np.asarray(source.user_items_.getnnz(axis=0 if per == "item" else 1)).ravel()


def popular_items(source: Recommender | Interactions, n: int = 20) -> np.ndarray:
    """The ``n`` item numbers with the most interactions (in a dataset, or in a model's training data),
    most popular first (ties: lower number first)."""
    order = np.argsort(-_counts(source, "item"), kind="stable")
    return order[: max(0, int(n))].astype(np.int64)


def search_items(
    model_or_train: Recommender | Interactions, catalog: Catalog | None, query: str, limit: int = 20
) -> pd.DataFrame:
    """Items whose title or id contains ``query`` (case-insensitive), most interacted-with first.
    Columns: ``item``, ``item_id``, ``title``, ``genres``, ``interactions``, ``label`` (for pickers)."""
    counts = _counts(model_or_train, "item")
    item_ids = model_or_train.item_ids if isinstance(model_or_train, Interactions) else model_or_train.item_ids_
    labels = item_labels(item_ids, catalog)
    labels["interactions"] = counts.astype(np.int64)
    query = (query or "").strip().lower()
    if query:
        hit = labels["title"].str.lower().str.contains(query, regex=False) | (labels["item_id"].str.lower() == query)
        labels = labels[hit]
    labels = labels.sort_values(["interactions", "item"], ascending=[False, True]).head(int(limit))
    labels["label"] = [f"{t} ({n:,} interactions)" for t, n in zip(labels["title"], labels["interactions"], strict=True)]
    return labels[["item", "item_id", "title", "genres", "interactions", "label"]].reset_index(drop=True)


def search_users(train: Interactions, query: str = "", limit: int = 50) -> pd.DataFrame:
    """Users whose id contains ``query`` (an exact id match first), most active first.
    Columns: ``user`` (number), ``user_id`` (text), ``interactions``, ``label``."""
    counts = train.user_counts()
    frame = pd.DataFrame(
        {"user": np.arange(train.n_users), "user_id": [str(u) for u in train.user_ids], "interactions": counts}
    )
    query = (query or "").strip()
    if query:
        frame = frame[frame["user_id"].str.contains(query, regex=False)]
        frame = frame.assign(exact=frame["user_id"] == query)
        frame = frame.sort_values(["exact", "interactions", "user"], ascending=[False, False, True])
        frame = frame.drop(columns="exact")
    else:
        frame = frame.sort_values(["interactions", "user"], ascending=[False, True])
    frame = frame.head(int(limit)).reset_index(drop=True)
    frame["label"] = [f"User {u} ({n:,} interactions)" for u, n in zip(frame["user_id"], frame["interactions"], strict=True)]
    return frame


def _user_number(model: Recommender, user_id: Any) -> int:
    number = int(lookup_ids(model.user_ids_, [user_id])[0])
    if number < 0:
        raise DataError(f"User {user_id} is not in the data this model was trained on: pick another user.")
    return number


def _item_numbers(model: Recommender, item_ids: Sequence[Any]) -> np.ndarray:
    numbers = lookup_ids(model.item_ids_, list(item_ids))
    missing = [str(i) for i, n in zip(item_ids, numbers, strict=True) if n < 0]
    if missing:
        raise DataError(
            f"Item(s) {', '.join(missing[:5])} are not in the data this model was trained on: pick others."
        )
    return numbers


# -- similarity heatmaps --------------------------------------------------------------------------
def supports_item_similarity(model: Recommender) -> bool:
    """Whether ``model`` can say how similar two items are (popularity and random cannot)."""
    try:
        model.item_similarity_matrix(np.array([0], dtype=np.int64))
    except (ModelError, NotImplementedError):
        return False
    return True


def item_similarity_heatmap(
    model: Recommender, items: Sequence[int] | np.ndarray, catalog: Catalog | None = None
) -> pd.DataFrame:
    """Square DataFrame of the model's item-item similarities among ``items`` (item numbers), with rows
    and columns labelled by title. Raises ``ModelError`` for models without a notion of similarity."""
    items = np.asarray(items, dtype=np.int64)
    if len(items) == 0:
        raise DataError("Pick at least one item for the similarity map.")
    labels = _model_labels(model, catalog).iloc[items]
    names = _unique_labels(labels["title"].tolist(), labels["item_id"].tolist())
    try:
        matrix = model.item_similarity_matrix(items)
    except NotImplementedError as exc:
        raise ModelError(f"{model.name} has no notion of item similarity.") from exc
    return pd.DataFrame(np.asarray(matrix, dtype=np.float64), index=names, columns=names)


def sample_users(
    source: Recommender | Interactions, n: int = 20, seed: int = 0, min_interactions: int = 1
) -> np.ndarray:
    """``n`` user numbers drawn at random (reproducible for a ``seed``) among users with at least
    ``min_interactions`` interactions (in a dataset, or in a model's training data), ascending."""
    eligible = np.flatnonzero(_counts(source, "user") >= min_interactions)
    if len(eligible) == 0:
        return eligible.astype(np.int64)
    rng = np.random.default_rng(seed)
    picked = rng.choice(eligible, size=min(int(n), len(eligible)), replace=False)
    return np.sort(picked).astype(np.int64)


def user_similarity_heatmap(model: Recommender, users: Sequence[int] | np.ndarray) -> pd.DataFrame:
    """Square DataFrame of user-user similarity (Pearson correlation of the model's score vectors) among
    ``users`` (user numbers), labelled ``User <id>``. A user whose scores are all equal correlates 0
    with everyone else (and 1 with themself)."""
    users = np.asarray(users, dtype=np.int64)
    if len(users) == 0:
        raise DataError("Pick at least one user for the similarity map.")
    scores = np.nan_to_num(model.score(users).astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    centred = scores - scores.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1)
    safe = np.where(norms > 0, norms, 1.0)
    unit = centred / safe[:, None]
    sims = np.clip(unit @ unit.T, -1.0, 1.0)
    np.fill_diagonal(sims, 1.0)
    names = [f"User {u}" for u in model.user_ids_[users]]
    return pd.DataFrame(sims, index=names, columns=names)


# -- more like this -------------------------------------------------------------------------------
def more_like_this(
    model: Recommender,
    item: int,
    catalog: Catalog | None = None,
    k: int = 10,
    everything: Interactions | None = None,
) -> pd.DataFrame:
    """The ``k`` items most similar to item number ``item``: columns ``rank``, ``item``, ``item_id``,
    ``title``, ``genres``, ``image_url``, ``similarity`` (on the model's scale, see
    ``Recommender.similarity_basis``: 1 for an item with itself) and ``interactions`` (in ``everything``,
    the whole dataset, when given; else in the model's training data). Raises ``ModelError`` for models
    without a notion of similarity."""
    labels = _model_labels(model, catalog)
    if not 0 <= int(item) < len(labels):
        raise DataError(f"Item number {item} is not in this model's data.")
    try:
        items, sims = model.similar_items(int(item), k=int(k))
    except NotImplementedError as exc:
        raise ModelError(f"{model.name} has no notion of item similarity.") from exc
    out = labels.iloc[items][["item", "item_id", "title", "genres", "image_url"]].reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    out["similarity"] = np.asarray(sims, dtype=np.float64)
    out["interactions"] = _counts(_same_items(everything, model) or model, "item")[items].astype(np.int64)
    return out


def _same_items(data: Interactions | None, model: Recommender) -> Interactions | None:
    """``data`` when it numbers items as ``model`` does (the dataset the model's run was trained on),
    else None. Raises ``DataError`` when they clearly belong to different datasets."""
    if data is None:
        return None
    if data.n_items != len(model.item_ids_) or not np.array_equal(
        np.asarray(data.item_ids).astype(str), np.asarray(model.item_ids_).astype(str)
    ):
        raise DataError("This model was trained on another version of the data: train it again.")
    return data


# -- 2-D map of items -----------------------------------------------------------------------------
def _item_vectors(model: Recommender, items: np.ndarray, dims: int, seed: int) -> tuple[np.ndarray, str]:
    """Vectors for ``items``: the model's own embeddings when it has them, else a TruncatedSVD of the
    model's similarities among ``items``, else of the item x user interaction matrix."""
    from sklearn.decomposition import TruncatedSVD

    emb = model.item_embeddings()
    if emb is not None:
        return emb.detach().float().cpu().numpy()[items].astype(np.float64), "the model's item vectors"

    def reduce(matrix) -> np.ndarray:
        n_components = max(1, min(dims, min(matrix.shape) - 1))
        return TruncatedSVD(n_components=n_components, random_state=seed).fit_transform(matrix)

    try:  # each item described by its similarity to every item on the map (cheap: len(items) squared)
        sims = model.item_similarity_matrix(items)
        return reduce(np.nan_to_num(sims.astype(np.float64))), "the model's item similarities (compressed)"
    except (ModelError, NotImplementedError):
        pass
    interactions = sp.csr_matrix(model.user_items_.T)[items].astype(np.float64)
    return reduce(interactions), "who interacted with each item (this model has no item vectors)"


def embedding_map(
    model: Recommender,
    catalog: Catalog | None = None,
    method: str = "pca",
    max_items: int = 500,
    max_genres: int = 9,
    seed: int = 0,
) -> pd.DataFrame:
    """A 2-D map of the ``max_items`` most-interacted items: columns ``x``, ``y``, ``item``, ``item_id``,
    ``title``, ``genre`` (see :func:`main_genres`), ``band`` (:func:`popularity_bands_of` among all items),
    ``interactions``. ``method`` is ``"pca"`` or
    ``"tsne"``. ``frame.attrs["source"]`` says in words which vectors were projected (the model's item
    vectors; else its similarities among these items; else who interacted with them), and
    ``frame.attrs["method"]`` names the projection."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    if method not in ("pca", "tsne"):
        raise DataError(f"Unknown map method {method!r}: use 'pca' or 'tsne'.")
    labels = _model_labels(model, catalog)
    counts = _counts(model, "item")
    items = popular_items(model, max(3, int(max_items)))
    if len(items) < 3:
        raise DataError("The map needs at least 3 items.")
    vectors, source = _item_vectors(model, items, dims=50, seed=seed)
    if vectors.shape[1] < 2:
        vectors = np.hstack([vectors, np.zeros((len(vectors), 2 - vectors.shape[1]))])
    if method == "pca":
        xy = PCA(n_components=2, random_state=seed).fit_transform(vectors)
    else:
        from threadpoolctl import threadpool_limits

        perplexity = float(min(30.0, max(2.0, (len(items) - 1) / 3)))
        tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", max_iter=500, random_state=seed)
        with threadpool_limits(limits=1):  # on a busy machine extra threads made t-SNE ~10x slower
            xy = tsne.fit_transform(vectors)
    picked = labels.iloc[items].reset_index(drop=True)
    out = pd.DataFrame(
        {
            "x": xy[:, 0],
            "y": xy[:, 1],
            "item": picked["item"],
            "item_id": picked["item_id"],
            "title": picked["title"],
            "genre": main_genres(picked["tags"].tolist(), max_genres),
            "band": popularity_bands_of(counts)[items],
            "interactions": counts[items].astype(np.int64),
        }
    )
    out.attrs["source"] = source
    out.attrs["method"] = "PCA" if method == "pca" else "t-SNE"
    return out


BANDS = (f"Biggest hits (top {popularity_bands.HITS_PERCENT}%)",
         f"Popular (the rest of the top {popularity_bands.HEAD_PERCENT}%)",
         f"Long tail (the other {100 - popularity_bands.HEAD_PERCENT}%)")  # the map's colours without genres


def popularity_bands_of(counts: np.ndarray) -> np.ndarray:
    """Each item's popularity band by its interactions ``counts`` (the shared definition,
    :mod:`recsys.popularity_bands`): :data:`BANDS` ``[0]`` for the biggest hits, ``[1]`` for the other
    popular items, ``[2]`` for the long tail."""
    hits = popularity_bands.head_mask(counts, popularity_bands.HITS_PERCENT)
    head = popularity_bands.head_mask(counts, popularity_bands.HEAD_PERCENT)
    return np.where(hits, BANDS[0], np.where(head, BANDS[1], BANDS[2])).astype(object)


def genre_order(points: pd.DataFrame) -> list[str]:
    """The genres of a map (:func:`embedding_map`), most items first, "Other" and "Unknown" last (for
    legends and colours)."""
    counts = points["genre"].value_counts()
    named = sorted((g for g in counts.index if g not in (OTHER_GENRE, UNKNOWN_GENRE)), key=lambda g: (-counts[g], g))
    return named + [g for g in (OTHER_GENRE, UNKNOWN_GENRE) if g in counts.index]


# -- a user's history and recommendations ---------------------------------------------------------
def user_history(
    train: Interactions, user_id: Any, catalog: Catalog | None = None, limit: int | None = None
) -> pd.DataFrame:
    """What ``user_id`` interacted with in ``train``, most recent first when there are timestamps, else
    highest rated first: columns ``item``, ``item_id``, ``title``, ``genres``, ``image_url``,
    ``rating`` (or weight; NaN without values), ``when`` (UTC datetime; NaT without timestamps)."""
    number = int(train.user_index([user_id])[0])
    if number < 0:
        raise DataError(f"User {user_id} is not in this dataset: pick one from the list.")
    rows = np.flatnonzero(train.users == number)
    labels = item_labels(train.item_ids, catalog)
    out = labels.iloc[train.items[rows]][["item", "item_id", "title", "genres", "image_url"]].reset_index(drop=True)
    out["rating"] = train.values[rows].astype(np.float64) if train.values is not None else np.nan
    if train.timestamps is not None:
        out["when"] = pd.to_datetime(train.timestamps[rows], unit="s", utc=True)
        out = out.sort_values(["when", "item"], ascending=[False, True])
    else:
        out["when"] = pd.NaT
        out = out.sort_values(["rating", "item"], ascending=[False, True])
    out = out.reset_index(drop=True)
    return out if limit is None else out.head(int(limit))


def _because(model: Recommender, user: int, item: int, titles: pd.Series, n: int) -> str:
    try:
        reasons = model.explain(user, item, n=n)
    except (ModelError, NotImplementedError):
        return ""
    liked = [titles.iloc[i] for i, weight in reasons if weight > 0]
    if not liked:
        return {BASELINE_MODEL: "Popular with everyone", "random": "Picked at random"}.get(model.name, "")
    return "Because you liked " + ", ".join(liked)


def recommendations_for_user(
    model: Recommender,
    user_id: Any,
    catalog: Catalog | None = None,
    k: int = 10,
    reasons: int = 3,
    everything: Interactions | None = None,
) -> pd.DataFrame:
    """Top-``k`` for ``user_id`` (items seen in training left out): columns ``rank``, ``item``,
    ``item_id``, ``title``, ``genres``, ``image_url``, ``score``, ``because`` ("Because you liked A, B":
    the history items that contributed most to the score, via ``model.explain``; empty when none did)
    and ``picked_later`` (True when ``everything``, the whole dataset, shows the user did pick the item:
    an item held out from training that the model found). ``frame.attrs["held_out"]`` counts the
    person's interactions in ``everything`` the model did not train on: 0 for a model trained on all
    the data (a run's serving model), whose lists never hold anything the person already has."""
    user = _user_number(model, user_id)
    items, scores = model.recommend(np.array([user]), k=int(k))
    keep = items[0] >= 0
    items, scores = items[0][keep], scores[0][keep]
    labels = _model_labels(model, catalog)
    out = labels.iloc[items][["item", "item_id", "title", "genres", "image_url"]].reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    out["score"] = scores.astype(np.float64)
    out["because"] = [_because(model, user, int(i), labels["title"], reasons) if reasons else "" for i in items]
    out["picked_later"] = False
    out.attrs["held_out"] = 0
    if everything is not None:
        number = int(everything.user_index([user_id])[0])
        picked = set(everything.item_ids[everything.items[everything.users == number]].astype(str))
        out["picked_later"] = out["item_id"].isin(picked)
        trained = set(model.item_ids_[model.user_items_[user].indices].astype(str))
        out.attrs["held_out"] = len(picked - trained)
    return out


@dataclass
class SideBySide:
    """Two models' top-k for one user. ``table`` has ``rank``, ``<a>`` and ``<b>`` (titles, "✓ " marks an
    item in both lists); ``shared`` lists the titles in both; ``overlap`` is ``len(shared)``."""

    table: pd.DataFrame
    shared: list[str]
    overlap: int
    k: int
    names: tuple[str, str]


def compare_recommendations(
    model_a: Recommender,
    model_b: Recommender,
    user_id: Any,
    catalog: Catalog | None = None,
    k: int = 10,
    names: tuple[str, str] | None = None,
) -> SideBySide:
    """Top-``k`` of two models for the same user, side by side, with the items they share."""
    names = names or (model_a.name, model_b.name)
    if names[0] == names[1]:
        names = (f"{names[0]} (A)", f"{names[1]} (B)")
    recs_a = recommendations_for_user(model_a, user_id, catalog, k=k, reasons=0)
    recs_b = recommendations_for_user(model_b, user_id, catalog, k=k, reasons=0)
    shared_ids = set(recs_a["item_id"]) & set(recs_b["item_id"])
    rows = max(len(recs_a), len(recs_b))

    def column(recs: pd.DataFrame) -> list[str]:
        marked = [("✓ " if i in shared_ids else "") + t for i, t in zip(recs["item_id"], recs["title"], strict=True)]
        return marked + [""] * (rows - len(marked))

    table = pd.DataFrame({"rank": np.arange(1, rows + 1), names[0]: column(recs_a), names[1]: column(recs_b)})
    shared = [t for i, t in zip(recs_a["item_id"], recs_a["title"], strict=True) if i in shared_ids]
    return SideBySide(table=table, shared=shared, overlap=len(shared), k=int(k), names=names)


@dataclass
class PersonaResult:
    """Fold-in recommendations for a made-up user. ``frame``: ``model``, ``rank``, ``item_id``, ``title``,
    ``genres``, ``score``; ``problems``: model name -> why it could not answer."""

    frame: pd.DataFrame
    problems: dict[str, str] = field(default_factory=dict)


def persona_recommendations(
    models: Mapping[str, Recommender], liked_item_ids: Sequence[Any], catalog: Catalog | None = None, k: int = 10
) -> PersonaResult:
    """Live recommendations from every model for someone who likes ``liked_item_ids`` (original ids),
    computed by fold-in (``model.recommend_for_history``), without retraining. A model that cannot fold
    in, or does not know the items, is listed in ``problems`` instead."""
    if not liked_item_ids:
        raise DataError("Pick at least one item you love.")
    parts: list[pd.DataFrame] = []
    problems: dict[str, str] = {}
    for name, model in models.items():
        try:
            numbers = _item_numbers(model, liked_item_ids)
            items, scores = model.recommend_for_history(numbers, k=int(k))
        except (ModelError, DataError, NotImplementedError) as exc:
            problems[name] = str(exc) or f"{name} cannot recommend for a new user."
            continue
        labels = _model_labels(model, catalog).iloc[items]
        parts.append(
            pd.DataFrame(
                {
                    "model": name,
                    "rank": np.arange(1, len(items) + 1),
                    "item_id": labels["item_id"].to_numpy(),
                    "title": labels["title"].to_numpy(),
                    "genres": labels["genres"].to_numpy(),
                    "score": np.asarray(scores, dtype=np.float64),
                }
            )
        )
    columns = ["model", "rank", "item_id", "title", "genres", "score"]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    return PersonaResult(frame=frame[columns], problems=problems)


def persona_table(result: PersonaResult) -> pd.DataFrame:
    """The persona frame as one column of titles per model, one row per rank (for a compact display)."""
    if result.frame.empty:
        return pd.DataFrame()
    wide = result.frame.pivot(index="rank", columns="model", values="title")
    order = list(dict.fromkeys(result.frame["model"]))
    wide = wide[order].fillna("").reset_index()
    wide.columns.name = None
    return wide


def all_recommendations(
    model: Recommender, catalog: Catalog | None = None, k: int = 10, run_lists: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Top-``k`` for every user: columns ``user``, ``rank``, ``item``, ``title``, ``score`` (original ids).
    ``run_lists`` are the run's stored lists (``Store.run_recommendations``: the same model's top 20 per
    user, made when it was trained): when they are deep enough they are used as they are, which takes
    milliseconds instead of ranking the whole catalogue for everyone again."""
    if run_lists is not None and len(run_lists) and int(run_lists["rank"].max()) >= int(k):
        frame = run_lists[run_lists["rank"] <= int(k)].sort_values(["user", "rank"], kind="stable")
    else:
        frame = model.recommend_frame(None, k=int(k))
    labels = _model_labels(model, catalog).set_index("item_id")["title"]
    titles = labels.reindex(frame["item"].astype(str).to_numpy()).to_numpy()
    return pd.DataFrame(
        {
            "user": frame["user"].to_numpy(),
            "rank": frame["rank"].to_numpy(),
            "item": frame["item"].to_numpy(),
            "title": titles,
            "score": frame["score"].to_numpy(dtype=np.float64),
        }
    )


def recommendations_csv(
    model: Recommender, catalog: Catalog | None = None, k: int = 10, run_lists: pd.DataFrame | None = None
) -> bytes:
    """:func:`all_recommendations` as UTF-8 CSV bytes, ready for a download button (formula-safe, see
    :mod:`recsys.csv_export`)."""
    return csv_bytes(all_recommendations(model, catalog, k=k, run_lists=run_lists))
