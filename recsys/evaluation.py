"""Offline evaluation of a fitted model on a :class:`~recsys.split.Split`, kept per user.

:func:`fit_on_split` trains a model on a split's fit-train part, validating on its validation part (never
the test part). :func:`evaluate` then ranks the full catalogue for every test user (minus every item they
have before the test: their training rows, or for the ``"users"`` split the history they are folded in
with), scores the top K against the user's relevant test items, and averages over **all** test users (a
user with no hit counts as 0). On star ratings a held-out item is relevant when rated at or above
:func:`relevance_threshold` (4 of 5, scaled to the data's range); on counts and events every held-out
interaction is. Diversity is measured on one item representation shared by every model
(:func:`item_representation`). Per-user arrays are kept for confidence intervals, paired comparisons
(:func:`compare`) and breakdowns (:func:`segments`). :func:`run_protocol` splits, trains and evaluates
several models in one go (used by ``python -m recsys evaluate``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys import metrics as m
from recsys import popularity_bands
from recsys.data import Catalog, DataError, Interactions
from recsys.popularity_bands import HEAD_PERCENT
from recsys.split import Split, make_split

RANKING_METRICS = ("precision", "recall", "ndcg", "map", "mrr", "hit_rate", "auc")
PER_USER_EXTRAS = ("novelty", "diversity", "mean_popularity")
SCALAR_METRICS = ("coverage", "gini", "rmse", "mae")
ALL_METRICS = RANKING_METRICS + PER_USER_EXTRAS + SCALAR_METRICS

METRIC_LABELS: dict[str, str] = {
    "precision": "Precision@{k}",
    "recall": "Recall@{k}",
    "ndcg": "NDCG@{k}",
    "map": "MAP@{k}",
    "mrr": "MRR@{k}",
    "hit_rate": "HitRate@{k}",
    "auc": "AUC",
    "novelty": "Novelty (bits)",
    "diversity": "Diversity",
    "mean_popularity": "Mean popularity",
    "coverage": "Coverage",
    "gini": "Gini of exposure",
    "rmse": "RMSE",
    "mae": "MAE",
}

_RANKING_FUNCS = {
    "precision": m.precision,
    "recall": m.recall,
    "ndcg": m.ndcg,
    "map": m.average_precision,
    "mrr": m.reciprocal_rank,
    "hit_rate": m.hit_rate,
}

AUC_CELL_LIMIT = 100_000_000  # AUC sorts every score: above this many test users x items, sample users
RELEVANT_STARS = 4.0  # on a 1-5 scale: the default relevance threshold, scaled to the data's rating range
EMBEDDING_DIMENSIONS = 32  # of the data's item embedding used for diversity when there are no tags


@dataclass(eq=False)
class Evaluation:
    """The result of :func:`evaluate`.

    ``users``: test user numbers (sorted), aligned with every array in ``per_user`` (metric name ->
    float array; NaN where a metric is undefined for that user, e.g. AUC or diversity). ``summary``:
    metric name -> mean over all test users (NaNs ignored), plus the scalar metrics ``coverage``,
    ``gini`` and, for explicit data with a model that predicts ratings, ``rmse``/``mae``. ``ci``: metric
    name -> (low, high) confidence interval of the mean. ``recs``: the top-K lists (rows aligned with
    ``users``; item numbers, -1 padding), kept for :func:`segments`. ``relevance_threshold``: the rating
    at or above which a test item counted (None: every test item counted); ``relevance``: that in one
    sentence. ``notes``: plain sentences about what was or was not computed.
    """

    model: str
    k: int
    protocol: str
    users: np.ndarray
    per_user: dict[str, np.ndarray]
    summary: dict[str, float]
    ci: dict[str, tuple[float, float]]
    recs: np.ndarray | None = None
    relevance_threshold: float | None = None
    diversity_source: str | None = None
    split_fingerprint: str | None = None
    split_report: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    relevance: str = ""

    @property
    def n_users(self) -> int:
        return len(self.users)

    def label(self, metric: str) -> str:
        """Display name of a metric, e.g. ``"NDCG@10"``."""
        return METRIC_LABELS.get(metric, metric).format(k=self.k)

    def to_dict(self, include_recs: bool = True) -> dict[str, Any]:
        """A JSON-able dict (arrays as lists, NaN as None); :meth:`from_dict` reverses it."""
        return {
            "model": self.model,
            "k": int(self.k),
            "protocol": self.protocol,
            "users": [int(u) for u in self.users],
            "per_user": {name: _list_or_none(arr) for name, arr in self.per_user.items()},
            "summary": {name: _num_or_none(v) for name, v in self.summary.items()},
            "ci": {name: [_num_or_none(lo), _num_or_none(hi)] for name, (lo, hi) in self.ci.items()},
            "recs": self.recs.astype(int).tolist() if (include_recs and self.recs is not None) else None,
            "relevance_threshold": self.relevance_threshold,
            "diversity_source": self.diversity_source,
            "split_fingerprint": self.split_fingerprint,
            "split_report": self.split_report,
            "notes": list(self.notes),
            "relevance": self.relevance,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evaluation:
        recs = data.get("recs")
        k = int(data["k"])
        return cls(
            model=data["model"],
            k=k,
            protocol=data["protocol"],
            users=np.asarray(data["users"], dtype=np.int64),
            per_user={name: _array(vals) for name, vals in data["per_user"].items()},
            summary={name: (math.nan if v is None else float(v)) for name, v in data["summary"].items()},
            ci={name: (_float(lo), _float(hi)) for name, (lo, hi) in data["ci"].items()},
            recs=None if recs is None else np.asarray(recs, dtype=np.int64).reshape(-1, k),
            relevance_threshold=data.get("relevance_threshold"),
            diversity_source=data.get("diversity_source"),
            split_fingerprint=data.get("split_fingerprint"),
            split_report=data.get("split_report") or {},
            notes=list(data.get("notes") or []),
            relevance=data.get("relevance") or "",
        )


def _num_or_none(value: float) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


def _float(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _list_or_none(arr: np.ndarray) -> list[float | None]:
    return [None if math.isnan(v) else v for v in np.asarray(arr, np.float64).tolist()]


def _array(values: list[float | None]) -> np.ndarray:
    return np.asarray([math.nan if v is None else v for v in values], dtype=np.float64)


# -- item features for diversity, and relevance --------------------------------------------------------


def tag_features(catalog: Catalog, item_ids: np.ndarray) -> sp.csr_matrix | None:
    """One-hot ``(n_items, n_tags)`` of the catalogue's tags/genres in ``item_ids`` order (an
    Interactions' numbering); ``None`` when no item has a tag."""
    tags = catalog.align(item_ids)["tags"]
    lengths = np.fromiter((len(t) for t in tags), dtype=np.int64, count=len(tags))
    if lengths.sum() == 0:
        return None
    flat = pd.Series([str(t) for row in tags for t in row])
    codes, _ = pd.factorize(flat)
    rows = np.repeat(np.arange(len(tags)), lengths)
    matrix = sp.csr_matrix(
        (np.ones(len(rows), np.float32), (rows, codes)), shape=(len(tags), int(codes.max()) + 1)
    )
    matrix.data[:] = 1.0  # a tag listed twice still counts once
    return matrix


def data_embedding(train: Interactions, dimensions: int = EMBEDDING_DIMENSIONS, seed: int = 0) -> np.ndarray:
    """Item vectors ``(n_items, d)`` from the data alone: the truncated SVD (randomised, seeded) of the
    binary item x user matrix of ``train``, rows scaled by the singular values. Items without
    interactions get a zero row. ``d`` is ``dimensions``, or less on tiny data."""
    from sklearn.utils.extmath import randomized_svd

    matrix = train.to_csr(use_values=False).T.tocsr().astype(np.float64)
    matrix.data[:] = 1.0
    d = min(int(dimensions), min(matrix.shape) - 1)
    if d < 1:  # one user or one item: nothing to factorise; every item is its own direction
        return np.eye(train.n_items, dtype=np.float32)
    left, values, _ = randomized_svd(matrix, n_components=d, random_state=seed)
    return (left * values).astype(np.float32)


def item_representation(train: Interactions, catalog: Catalog | None = None) -> tuple[Any, str]:
    """The item features diversity is measured on, the same for every model on this data: the
    catalogue's genres/tags when at least half of the items with interactions have some, otherwise
    :func:`data_embedding` of ``train``. Returns (features, a short description of them)."""
    if catalog is not None:
        feats = tag_features(catalog, train.item_ids)
        if feats is not None:
            active = train.item_counts() > 0
            tagged = feats.getnnz(axis=1) > 0
            if tagged[active].sum() * 2 >= max(1, active.sum()):
                return feats, "catalogue tags"
    return data_embedding(train), f"an SVD of who interacted with what ({EMBEDDING_DIMENSIONS} dimensions)"


def relevance_threshold(*parts: Interactions) -> float | None:
    """The rating at or above which a held-out rating counts as relevant, for star ratings: 4 on a 1-5
    scale, placed at the same point of the data's own range (``lo + 0.75 (hi - lo)`` over every rating
    in ``parts``) and raised to the nearest rating that occurs (0.5-5 stars: 4; 1-10: 8). None for
    counts and events (``explicit`` False): there every held-out interaction is relevant."""
    values = [p.values for p in parts if p.explicit and p.values is not None and len(p)]
    if not values:
        return None
    ratings = np.unique(np.concatenate(values).astype(np.float64))
    low, high = ratings[0], ratings[-1]
    point = low + (RELEVANT_STARS - 1.0) / 4.0 * (high - low)
    return float(ratings[min(len(ratings) - 1, np.searchsorted(ratings, point - 1e-9))])


def relevant_part(inter: Interactions, threshold: float | None) -> Interactions:
    """The rows of ``inter`` that count as relevant: rated at or above ``threshold`` (all when None)."""
    if threshold is None or inter.values is None:
        return inter
    return inter.subset(inter.values >= threshold)


def _relevance_sentence(threshold: float | None, *parts: Interactions) -> str:
    if threshold is None:
        return "Every held-out interaction counts as a hit."
    rated = [p.values for p in parts if p.values is not None and len(p)]
    if not rated:
        return f"A hit is a held-out rating of {threshold:g} or more."
    values = np.concatenate(rated)
    return (f"A hit is a held-out rating of {threshold:g} or more (ratings here run from {values.min():g} to "
            f"{values.max():g}); lower ratings count as misses.")


def fit_on_split(model, split: Split, on_epoch=None, catalog: Catalog | None = None,
                 relevance: float | str | None = "auto", fit=None):
    """Fit ``model`` for evaluation on ``split``; the test part is never passed. An iterative model
    learns from ``split.fit_train`` and is validated (curves, early stopping) on the relevant rows of
    ``split.validation``, with the validation people's given history for the ``"users"`` split. A model
    that trains in one step has nothing for validation to choose, so it learns from all of
    ``split.train`` (fit-train plus validation) rather than lose a tenth of its data. ``relevance`` is as
    in :func:`evaluate`. ``fit`` is the function that fits, called as ``model.fit`` is but with the model
    first (default: the model's own; an engine's, see :func:`recsys.engines.fitter`). Returns the model."""
    fit = fit or type(model).fit
    if not model.iterative:
        return fit(model, split.train, on_epoch, catalog=catalog)
    threshold = relevance_threshold_of(split) if relevance == "auto" else relevance
    return fit(model, split.fit_train, on_epoch, validation=relevant_part(split.validation, threshold),
               validation_input=split.validation_input, catalog=catalog)


# -- evaluation --------------------------------------------------------------------------------------


def evaluate(
    model,
    split: Split,
    k: int = 10,
    catalog: Catalog | None = None,
    item_features=None,
    metrics: list[str] | tuple[str, ...] | None = None,
    relevance_threshold: float | str | None = "auto",
    ci_method: str = "auto",
    seed: int = 0,
) -> Evaluation:
    """Evaluate ``model`` (fitted with :func:`fit_on_split`, or on ``split.train``) on ``split.test``.

    Every test user gets a top-``k`` list over the full catalogue minus every item in their
    ``split.test_history`` (training rows; for the ``"users"`` split, the given input, which the model
    folds in: models without fold-in are refused). Relevance: with ``relevance_threshold="auto"`` star
    ratings count when at or above :func:`relevance_threshold` and counts/events always; a number sets the
    threshold, None makes every test item relevant. Users left with no relevant item are dropped, and a
    note says how many. ``metrics`` picks names from :data:`ALL_METRICS` (default: all that can be
    computed). Diversity uses ``item_features`` when given, else :func:`item_representation`. RMSE/MAE
    are computed for explicit data when the model has ``predict(users, items)`` (not on the ``"users"``
    split). ``ci`` holds confidence intervals of each per-user mean (:func:`recsys.metrics.mean_ci`).
    """
    wanted = list(ALL_METRICS if metrics is None else metrics)
    unknown = sorted(set(wanted) - set(ALL_METRICS))
    if unknown:
        raise ValueError(f"Unknown metrics {unknown}; choose from {list(ALL_METRICS)}")
    notes: list[str] = []
    train, test = split.train, split.test
    if split.folds_in and not getattr(model, "supports_fold_in", True):
        from recsys.models import ModelError  # here, not at the top: reading stored results needs no torch

        raise ModelError(
            f"{getattr(model, 'name', 'This model')} cannot take in a new person's history without "
            "retraining, so it cannot be tested on held-out people: pick another split."
        )
    if relevance_threshold == "auto":
        relevance_threshold = relevance_threshold_of(split)
    if relevance_threshold is None:
        truth_all = test.to_csr(use_values=False)
    else:
        truth_all = m.relevance_from_ratings(test, relevance_threshold)
    users = np.flatnonzero(truth_all.getnnz(axis=1) > 0).astype(np.int64)
    if relevance_threshold is not None:
        dropped = len(np.unique(test.users)) - len(users)
        if dropped:
            notes.append(
                f"{dropped:,} test users had no test item rated {relevance_threshold:g} or more and were "
                "left out."
            )
    if len(users) == 0:
        from recsys.split import nothing_to_test

        raise DataError(nothing_to_test(split))
    truth = truth_all[users]
    seen = split.test_history.to_csr(use_values=False)
    if split.folds_in:
        given = split.test_input.to_csr(use_values=True)[users]
        recs, _ = model.recommend_for_histories(given, k=k)

        def scores(rows: np.ndarray) -> np.ndarray:
            return model.score_histories(given[rows])
    else:
        recs, _ = model.recommend(users, k=k, exclude=seen)

        def scores(rows: np.ndarray) -> np.ndarray:
            return model.score(users[rows])
    recs = m._as_recs(recs, k)

    per_user: dict[str, np.ndarray] = {}
    for name, func in _RANKING_FUNCS.items():
        if name in wanted:
            per_user[name] = func(recs, truth, k)
    if "auc" in wanted:
        per_user["auc"] = _auc_in_batches(scores, users, truth, seen, seed, notes)

    summary: dict[str, float] = {}
    item_counts = train.item_counts()
    if "novelty" in wanted:
        per_user["novelty"] = m.novelty(recs, m.item_popularity_prob(train))
    if "mean_popularity" in wanted:
        per_user["mean_popularity"] = m.mean_popularity(recs, item_counts)
    diversity_source = None
    if "diversity" in wanted:
        if item_features is not None:
            feats, diversity_source = item_features, "given item features"
        else:
            feats, diversity_source = item_representation(train, catalog)
        per_user["diversity"] = m.intra_list_diversity(recs, feats)
    if "coverage" in wanted:
        summary["coverage"] = m.coverage(recs, train.n_items)
    if "gini" in wanted:
        summary["gini"] = m.gini(m.exposure_counts(recs, train.n_items))
    if {"rmse", "mae"} & set(wanted):
        if split.folds_in:
            if test.explicit and hasattr(model, "predict"):
                notes.append("RMSE/MAE are not computed on held-out people (they are ranked by fold-in).")
        else:
            summary.update(_rating_errors(model, test, wanted, notes))

    ci: dict[str, tuple[float, float]] = {}
    for name, values in per_user.items():
        finite = values[~np.isnan(values)]
        summary[name] = float(finite.mean()) if len(finite) else math.nan
        ci[name] = m.mean_ci(values, method=ci_method, seed=seed)
    ordered = {name: summary[name] for name in ALL_METRICS if name in summary}
    return Evaluation(
        model=getattr(model, "name", type(model).__name__),
        k=int(k),
        protocol=split.protocol,
        users=users,
        per_user={name: per_user[name] for name in ALL_METRICS if name in per_user},
        summary=ordered,
        ci=ci,
        recs=recs,
        relevance_threshold=relevance_threshold,
        diversity_source=diversity_source,
        split_fingerprint=split.fingerprint(),
        split_report=dict(split.report),
        notes=notes,
        relevance=_relevance_sentence(relevance_threshold, train, test),
    )


def relevance_threshold_of(split: Split) -> float | None:
    """:func:`relevance_threshold` of a split's training and test ratings."""
    parts = [split.train, split.test] + ([split.test_input] if split.test_input is not None else [])
    return relevance_threshold(*parts)


def _auc_in_batches(
    scores, users: np.ndarray, truth: sp.csr_matrix, seen: sp.csr_matrix, seed: int, notes: list[str]
) -> np.ndarray:
    """Per-user AUC from full score rows (``scores(positions)`` gives the rows of ``users[positions]``),
    ``seen`` items excluded, about 16M cells per batch. Above :data:`AUC_CELL_LIMIT` cells, a random
    sample of users (seeded) is scored and the others get NaN."""
    n_items = seen.shape[1]
    positions = np.arange(len(users))
    most = max(1, AUC_CELL_LIMIT // max(1, n_items))
    if len(users) > most:
        positions = np.sort(np.random.default_rng(seed).choice(len(users), most, replace=False))
        notes.append(f"AUC is estimated on a random sample of {most:,} of the {len(users):,} test users.")
    batch = max(1, int(2**24 // max(1, n_items)))
    out = np.full(len(users), np.nan)
    for start in range(0, len(positions), batch):
        pick = positions[start : start + batch]
        out[pick] = m.auc(scores(pick), truth[pick], seen[users[pick]])
    return out


def _rating_errors(model, test: Interactions, wanted: list[str], notes: list[str]) -> dict[str, float]:
    if not test.explicit or test.values is None:
        return {}
    if not hasattr(model, "predict"):
        notes.append("RMSE/MAE need a model that predicts ratings; this one only ranks.")
        return {}
    try:
        predicted = np.asarray(model.predict(test.users, test.items), np.float64)
    except ValueError as exc:  # ModelError is a ValueError: the model cannot predict for this data
        notes.append(f"RMSE/MAE not computed: {exc}")
        return {}
    out = {}
    if "rmse" in wanted:
        out["rmse"] = m.rmse(predicted, test.values)
    if "mae" in wanted:
        out["mae"] = m.mae(predicted, test.values)
    return out


# -- breakdowns and comparison -----------------------------------------------------------------------


SEGMENT_COLUMNS = ["kind", "segment", "users", "ndcg", "ndcg_low", "ndcg_high", "recall", "rec_share"]
MIN_SEGMENT_USERS = 30  # a group of fewer people is merged into its neighbour: its mean says too little


def segments(
    evaluation: Evaluation, split: Split, user_groups: int = 2, head_percent: int = HEAD_PERCENT,
    min_users: int = MIN_SEGMENT_USERS,
) -> pd.DataFrame:
    """Mean NDCG and Recall per segment, one row each, columns ``kind, segment, users, ndcg, ndcg_low,
    ndcg_high, recall, rec_share`` (``ndcg_low``..``ndcg_high``: the 95% interval of the mean).

    * ``kind="user activity"``: the split's test people cut by their number of training interactions
      into ``user_groups`` groups of about equal size (2: light and heavy), none under
      ``min_users`` people (see :func:`_activity_groups`); the groups depend on the split
      only, so every model of a split has the same ones. Metrics are the per-user values of
      ``evaluation`` averaged within the group.
    * ``kind="item popularity"``: *popular* = the top ``head_percent``% of items by training
      interactions (the shared definition, :mod:`recsys.popularity_bands`, on training counts); *long
      tail* = every other item. For each, the
      truth is restricted to that segment's test items and NDCG/Recall recomputed on the same top-K
      lists, over users with at least one test item in the segment. ``rec_share`` is the share of
      recommendation slots filled with that segment's items (needs ``evaluation.recs``). When either
      has fewer than ``min_users`` people, one row "all items" stands for both.
    """
    rows: list[dict[str, Any]] = []
    users = evaluation.users
    history = split.test_history.user_counts()
    train_counts = history[users]
    everyone = history[np.unique(split.test.users)]  # the split's test people: the same groups for every model
    for label, (lo, hi) in _activity_groups(everyone, user_groups, min_users):
        pick = (train_counts >= lo) & (train_counts <= hi)
        low, high = _mean_ci(evaluation.per_user.get("ndcg"), pick)
        rows.append({
            "kind": "user activity", "segment": label, "users": int(pick.sum()),
            "ndcg": _mean(evaluation.per_user.get("ndcg"), pick), "ndcg_low": low, "ndcg_high": high,
            "recall": _mean(evaluation.per_user.get("recall"), pick),
            "rec_share": math.nan,
        })

    if evaluation.recs is not None:
        is_head = popularity_bands.head_mask(split.train.item_counts(), head_percent)
        if evaluation.relevance_threshold is None:
            truth = split.test.to_csr(use_values=False)[users]
        else:
            truth = m.relevance_from_ratings(split.test, evaluation.relevance_threshold)[users]
        recs = evaluation.recs
        valid = recs >= 0
        for label, in_segment in (
            (popularity_bands.head_label(head_percent), is_head),
            (popularity_bands.tail_label(head_percent), ~is_head),
        ):
            restricted = sp.csr_matrix(truth @ sp.diags(in_segment.astype(np.float32)))
            restricted.eliminate_zeros()
            has = restricted.getnnz(axis=1) > 0
            slots = valid & in_segment[np.where(valid, recs, 0)]
            per_user = m.ndcg(recs[has], restricted[has]) if has.any() else np.zeros(0)
            low, high = _mean_ci(per_user, np.ones(len(per_user), dtype=bool))
            rows.append({
                "kind": "item popularity", "segment": label, "users": int(has.sum()),
                "ndcg": float(per_user.mean()) if has.any() else math.nan, "ndcg_low": low, "ndcg_high": high,
                "recall": float(m.recall(recs[has], restricted[has]).mean()) if has.any() else math.nan,
                "rec_share": float(slots.sum() / max(1, valid.sum())),
            })
    items = [r for r in rows if r["kind"] == "item popularity"]
    if items and min(r["users"] for r in items) < min_users:  # too few to say: one group, all items
        everyone = np.ones(len(users), dtype=bool)
        low, high = _mean_ci(evaluation.per_user.get("ndcg"), everyone)
        rows = [r for r in rows if r["kind"] != "item popularity"] + [{
            "kind": "item popularity", "segment": "all items", "users": int(len(users)),
            "ndcg": _mean(evaluation.per_user.get("ndcg"), everyone), "ndcg_low": low, "ndcg_high": high,
            "recall": _mean(evaluation.per_user.get("recall"), everyone), "rec_share": 1.0,
        }]
    return pd.DataFrame(rows, columns=SEGMENT_COLUMNS)


def _activity_groups(counts: np.ndarray, groups: int = 2, minimum: int = MIN_SEGMENT_USERS) -> list[tuple[str, tuple[int, int]]]:
    """People cut by their number of training interactions (``counts``, one per person) into ``groups``
    groups of about equal size, none smaller than ``minimum`` people (a smaller one is merged into its
    smaller neighbour; fewer than twice ``minimum`` people make one group). Returns ``(label, (lo, hi))``
    per group, ``lo``..``hi`` the inclusive range of interactions: two groups are "light" and "heavy"."""
    counts = np.asarray(counts, dtype=np.int64)
    if len(counts) == 0:
        return []
    values, sizes = np.unique(counts, return_counts=True)
    cum = np.cumsum(sizes)
    cuts: list[int] = []  # index into values of each group's last value
    for g in range(1, max(1, int(groups))):
        target = len(counts) * g / groups
        gaps = np.abs(cum[:-1] - target)
        cut = int(len(gaps) - 1 - np.argmin(gaps[::-1])) if len(values) > 1 else None  # ties: the later cut
        if cut is not None and cut not in cuts:
            cuts.append(cut)
    bounds = [-1, *sorted(cuts), len(values) - 1]
    while len(bounds) > 2:  # merge the smallest group that is too small into its smaller neighbour
        members = [int(cum[bounds[i + 1]] - (cum[bounds[i]] if bounds[i] >= 0 else 0)) for i in range(len(bounds) - 1)]
        small = int(np.argmin(members))
        if members[small] >= minimum:
            break
        if small == 0:
            drop = 1
        elif small == len(members) - 1:
            drop = len(bounds) - 2
        else:
            drop = small if members[small - 1] <= members[small + 1] else small + 1
        del bounds[drop]
    ranges = [(int(values[bounds[i] + 1]), int(values[bounds[i + 1]])) for i in range(len(bounds) - 1)]
    names = ["light", "heavy"] if len(ranges) == 2 else (["everyone"] if len(ranges) == 1 else [])
    labels = []
    for i, (lo, hi) in enumerate(ranges):
        span = f"{lo:,} training items" if lo == hi else f"{lo:,}-{hi:,} training items"
        labels.append(f"{names[i]} ({span})" if names else span)
    return list(zip(labels, ranges, strict=True))


def _mean_ci(values: np.ndarray | None, pick: np.ndarray) -> tuple[float, float]:
    """The 95% interval of the mean of ``values[pick]`` (bootstrap up to 2,000 people, normal above)."""
    if values is None or not pick.any():
        return math.nan, math.nan
    return m.mean_ci(values[pick], method="auto", n_resamples=500)


def _mean(values: np.ndarray | None, pick: np.ndarray) -> float:
    if values is None:
        return math.nan
    chosen = values[pick]
    chosen = chosen[~np.isnan(chosen)]
    return float(chosen.mean()) if len(chosen) else math.nan


def compare(
    eval_a: Evaluation,
    eval_b: Evaluation,
    metric: str = "ndcg",
    n_resamples: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
    alpha: float = 0.05,
    interval: bool = True,
) -> dict[str, Any]:
    """Is A better than B on ``metric``? Paired over the users both evaluated
    (:func:`recsys.metrics.paired_bootstrap`): ``mean_diff`` (A - B), ``ci_low``/``ci_high`` (NaN with
    ``interval=False``: the test alone, in half the time), ``p_value``,
    plus ``mean_a``, ``mean_b``, ``users`` (common), ``significant`` (p < ``alpha``), ``better`` ("a", "b"
    or None when not significant) and ``same_split`` (False when the two were evaluated on different test
    sets, where pairing users is not meaningful)."""
    if metric not in eval_a.per_user or metric not in eval_b.per_user:
        raise ValueError(f"Both evaluations need per-user {metric!r} values to compare.")
    common, ia, ib = np.intersect1d(eval_a.users, eval_b.users, return_indices=True)
    a = eval_a.per_user[metric][ia]
    b = eval_b.per_user[metric][ib]
    result: dict[str, Any] = dict(
        m.paired_bootstrap(a, b, n_resamples=n_resamples, seed=seed, confidence=confidence, interval=interval)
    )
    significant = bool(result["p_value"] < alpha)
    same = (
        eval_a.split_fingerprint is None
        or eval_b.split_fingerprint is None
        or eval_a.split_fingerprint == eval_b.split_fingerprint
    )
    result.update(
        metric=metric,
        model_a=eval_a.model,
        model_b=eval_b.model,
        users=int(len(common)),
        mean_a=float(np.nanmean(a)) if len(a) else math.nan,
        mean_b=float(np.nanmean(b)) if len(b) else math.nan,
        significant=significant,
        better=(("a" if result["mean_diff"] > 0 else "b") if significant else None),
        same_split=bool(same),
    )
    return result


# -- split, train, evaluate --------------------------------------------------------------------------


def run_protocol(
    inter: Interactions,
    model_names: list[str],
    protocol: str = "random",
    k: int = 10,
    seed: int = 42,
    catalog: Catalog | None = None,
    params: dict[str, dict[str, Any]] | None = None,
    on_epoch=None,
    split_options: dict[str, Any] | None = None,
) -> list[tuple[str, Evaluation, float]]:
    """Split ``inter`` once with ``protocol``, then train and evaluate each model on that same split.

    Each model learns from the split's fit-train part and is validated on its validation part
    (:func:`fit_on_split`). ``params`` maps a model name to its hyperparameters; models with a ``seed``
    setting get ``seed`` unless ``params`` says otherwise. ``on_epoch`` receives each epoch record with
    ``"model"`` added. Returns ``(name, evaluation, fit_seconds)`` per model, in the order given."""
    from recsys.models import make_model

    split = make_split(inter, protocol, seed=seed, **(split_options or {}))
    results: list[tuple[str, Evaluation, float]] = []
    for name in model_names:
        settings = dict((params or {}).get(name, {}))
        model = make_model(name, **settings)
        if "seed" in model.param_names() and "seed" not in settings:
            model.seed = seed
        callback = None
        if on_epoch is not None:
            def callback(record: dict[str, Any], _name: str = name):
                return on_epoch({**record, "model": _name})
        started = time.perf_counter()
        fit_on_split(model, split, callback, catalog=catalog)
        fit_seconds = time.perf_counter() - started
        results.append((name, evaluate(model, split, k=k, catalog=catalog), fit_seconds))
    return results
