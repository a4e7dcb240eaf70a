"""Evaluation metrics, one user per row, kept per user (for confidence intervals and breakdowns).

Ranking metrics take

* ``recs``: an ``(n, K)`` int array of item numbers, best first, ``-1`` for padding (fewer than K
  candidates); rows are assumed to hold distinct items (as ``Recommender.recommend`` returns);
* ``truth``: a scipy sparse ``(n, n_items)`` matrix aligned row by row with ``recs``; a non-zero cell
  means "relevant" (binary relevance; see :func:`relevance_from_ratings` for a rating threshold);
* ``k``: optional cut-off; defaults to ``recs.shape[1]``. Fewer columns than ``k`` count as padding.

and return a float64 array of length ``n``. Notation below: ``rel_j`` is 1 when the item at rank ``j``
(1-based) is relevant, ``T`` the user's set of relevant items. A user with ``|T| = 0`` scores 0 on every
ranking metric (callers are expected to pass only users with test items).

Beyond-accuracy metrics (coverage, novelty, diversity, popularity bias) and the paired comparison of two
result sets (:func:`paired_bootstrap`, :func:`mean_ci`) are here too. Everything is vectorised.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import scipy.sparse as sp

# -- shared plumbing ---------------------------------------------------------------------------------


def _as_recs(recs: np.ndarray, k: int | None) -> np.ndarray:
    """``recs`` as a 2-D int64 array with exactly ``k`` columns (cut or padded with -1)."""
    recs = np.asarray(recs)
    if recs.ndim == 1:
        recs = recs[None, :]
    recs = recs.astype(np.int64, copy=False)
    if k is None:
        return recs
    k = int(k)
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if recs.shape[1] >= k:
        return recs[:, :k]
    pad = np.full((recs.shape[0], k - recs.shape[1]), -1, dtype=np.int64)
    return np.hstack([recs, pad])


def _as_truth(truth, n_rows: int) -> sp.csr_matrix:
    """A canonical binary CSR (sorted indices, no duplicates, no explicit zeros)."""
    matrix = sp.csr_matrix(truth)
    if matrix.shape[0] != n_rows:
        raise ValueError(f"truth has {matrix.shape[0]} rows but recs has {n_rows}")
    binary = sp.csr_matrix(matrix != 0, dtype=np.int8)
    binary.sum_duplicates()
    binary.sort_indices()
    return binary


def hit_matrix(recs: np.ndarray, truth, k: int | None = None) -> np.ndarray:
    """Boolean ``(n, K)``: ``hits[u, j]`` is True when ``recs[u, j]`` is a relevant item of row ``u``.
    Padding (-1) and out-of-range items are never hits. One ``searchsorted`` over (row, item) keys."""
    recs = _as_recs(recs, k)
    n = recs.shape[0]
    binary = _as_truth(truth, n)
    n_items = binary.shape[1]
    if binary.nnz == 0 or recs.size == 0:
        return np.zeros(recs.shape, dtype=bool)
    truth_rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(binary.indptr))
    truth_keys = truth_rows * n_items + binary.indices.astype(np.int64)  # sorted: rows, then indices
    valid = (recs >= 0) & (recs < n_items)
    keys = np.arange(n, dtype=np.int64)[:, None] * n_items + np.where(valid, recs, 0)
    pos = np.minimum(np.searchsorted(truth_keys, keys), len(truth_keys) - 1)
    return valid & (truth_keys[pos] == keys)


def relevant_counts(truth) -> np.ndarray:
    """``|T|`` per row: the number of relevant items."""
    binary = _as_truth(truth, sp.csr_matrix(truth).shape[0])
    return np.diff(binary.indptr).astype(np.float64)


def _discounts(k: int) -> np.ndarray:
    """``1 / log2(rank + 1)`` for ranks 1..k."""
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.zeros(np.broadcast(num, den).shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


# -- ranking metrics ---------------------------------------------------------------------------------


def precision(recs: np.ndarray, truth, k: int | None = None) -> np.ndarray:
    """Precision@K = (number of relevant items in the top K) / K. Padding counts as a miss."""
    hits = hit_matrix(recs, truth, k)
    return hits.sum(axis=1) / float(hits.shape[1])


def recall(recs: np.ndarray, truth, k: int | None = None) -> np.ndarray:
    """Recall@K = (number of relevant items in the top K) / |T| (not min(|T|, K): a user with more test
    items than K cannot reach 1)."""
    hits = hit_matrix(recs, truth, k)
    return _safe_divide(hits.sum(axis=1).astype(np.float64), relevant_counts(truth))


def ndcg(recs: np.ndarray, truth, k: int | None = None) -> np.ndarray:
    """NDCG@K with binary gains: DCG = sum_{j<=K} rel_j / log2(j + 1); the ideal DCG places
    min(|T|, K) relevant items first: IDCG = sum_{j <= min(|T|, K)} 1 / log2(j + 1); NDCG = DCG / IDCG."""
    hits = hit_matrix(recs, truth, k)
    kk = hits.shape[1]
    disc = _discounts(kk)
    dcg = hits @ disc
    ideal_cum = np.concatenate([[0.0], np.cumsum(disc)])
    n_ideal = np.minimum(relevant_counts(truth), kk).astype(np.int64)
    return _safe_divide(dcg, ideal_cum[n_ideal])


def average_precision(recs: np.ndarray, truth, k: int | None = None) -> np.ndarray:
    """AP@K (its mean over users is MAP@K) = sum_{j<=K} rel_j * Precision@j / min(|T|, K), where
    Precision@j = (relevant items in the top j) / j."""
    hits = hit_matrix(recs, truth, k)
    kk = hits.shape[1]
    prec_at = np.cumsum(hits, axis=1) / np.arange(1, kk + 1, dtype=np.float64)
    return _safe_divide((prec_at * hits).sum(axis=1), np.minimum(relevant_counts(truth), kk))


def reciprocal_rank(recs: np.ndarray, truth, k: int | None = None) -> np.ndarray:
    """RR@K (its mean is MRR@K) = 1 / (rank of the first relevant item in the top K), 0 when none."""
    hits = hit_matrix(recs, truth, k)
    first = np.argmax(hits, axis=1)
    return np.where(hits.any(axis=1), 1.0 / (first + 1.0), 0.0)


def hit_rate(recs: np.ndarray, truth, k: int | None = None) -> np.ndarray:
    """HitRate@K = 1 when at least one relevant item is in the top K, else 0."""
    return hit_matrix(recs, truth, k).any(axis=1).astype(np.float64)


def _sortable_bits(values: np.ndarray) -> np.ndarray:
    """float32 -> uint64 whose unsigned order is the float order (sign bit flipped, negatives
    inverted); -0.0 must already be +0.0."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    flipped = np.where(bits >> np.uint32(31), ~bits, bits | np.uint32(0x80000000))
    return flipped.astype(np.uint64)


def auc(scores: np.ndarray, truth, exclude=None) -> np.ndarray:
    """Per-user ROC AUC over the full catalogue, from full score rows.

    ``scores`` is ``(n, n_items)``, higher is better; ``exclude`` an optional sparse ``(n, n_items)``
    matrix of items to leave out (the user's training items). With P the relevant items and N the
    other items not excluded, AUC = (number of pairs (p in P, q in N) with score(p) > score(q), plus half
    the tied pairs) / (|P| * |N|): the probability that a random relevant item outranks a random
    non-relevant one. An excluded item is neither relevant nor non-relevant. NaN when |P| or |N| is 0.
    Scores are compared as float32; NaN and -inf count as the lowest score.

    Computed as Mann-Whitney U from average ranks: each row is sorted once, and every relevant item's
    rank is found by binary search (ties get the mean of their ranks).
    """
    scores = np.asarray(scores)
    if scores.ndim == 1:
        scores = scores[None, :]
    n, n_items = scores.shape
    info = np.finfo(np.float32)
    s = np.nan_to_num(scores.astype(np.float32), nan=info.min, neginf=info.min, posinf=info.max) + 0.0
    positive = _as_truth(truth, n)
    n_excluded = np.zeros(n)
    if exclude is not None:
        excluded = _as_truth(exclude, n)
        positive = _as_truth(positive - positive.multiply(excluded), n)
        ex_rows = np.repeat(np.arange(n), np.diff(excluded.indptr))
        s[ex_rows, excluded.indices] = -np.inf  # below every candidate: candidates' ranks shift by |E|
        n_excluded = np.diff(excluded.indptr).astype(np.float64)
    row_key = np.arange(n, dtype=np.uint64)[:, None] << np.uint64(32)
    sorted_keys = (row_key | _sortable_bits(np.sort(s, axis=1))).ravel()  # ascending: rows, then scores
    pos_rows = np.repeat(np.arange(n), np.diff(positive.indptr))
    pos_keys = (pos_rows.astype(np.uint64) << np.uint64(32)) | _sortable_bits(s[pos_rows, positive.indices])
    row_start = pos_rows.astype(np.int64) * n_items
    below = np.searchsorted(sorted_keys, pos_keys, side="left") - row_start
    up_to = np.searchsorted(sorted_keys, pos_keys, side="right") - row_start
    ranks = below + (up_to - below + 1) / 2.0  # 1-based average rank within the row (1 = lowest)
    rank_sum = np.bincount(pos_rows, weights=ranks, minlength=n)
    n_pos = np.diff(positive.indptr).astype(np.float64)
    n_neg = n_items - n_excluded - n_pos
    u_stat = rank_sum - n_pos * n_excluded - n_pos * (n_pos + 1) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        out = u_stat / (n_pos * n_neg)
    out[(n_pos == 0) | (n_neg <= 0)] = np.nan
    return out


# -- relevance and rating prediction -----------------------------------------------------------------


def relevance_from_ratings(test, threshold: float) -> sp.csr_matrix:
    """Binary truth (users x items CSR, int8) where the rating is ``>= threshold``. ``test`` is an
    ``Interactions`` (its ``values``; without values everything is relevant) or a sparse rating matrix."""
    if sp.issparse(test):
        ratings = sp.csr_matrix(test, dtype=np.float64)
        keep = ratings.data >= threshold
        out = sp.csr_matrix(
            (keep.astype(np.int8), ratings.indices, ratings.indptr), shape=ratings.shape
        )
    else:
        values = np.ones(len(test)) if test.values is None else np.asarray(test.values, np.float64)
        keep = values >= threshold
        out = sp.csr_matrix(
            (np.ones(int(keep.sum()), np.int8), (test.users[keep], test.items[keep])),
            shape=(test.n_users, test.n_items),
        )
    out.eliminate_zeros()
    out.sum_duplicates()
    out.data[:] = 1
    out.sort_indices()
    return out


def rmse(pred: np.ndarray, true: np.ndarray) -> float:
    """Root mean squared error sqrt(mean((pred - true)^2)); NaN for no pairs."""
    diff = np.asarray(pred, np.float64) - np.asarray(true, np.float64)
    return float(np.sqrt(np.mean(diff**2))) if diff.size else float("nan")


def mae(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean absolute error mean(|pred - true|); NaN for no pairs."""
    diff = np.asarray(pred, np.float64) - np.asarray(true, np.float64)
    return float(np.mean(np.abs(diff))) if diff.size else float("nan")


# -- beyond accuracy ---------------------------------------------------------------------------------


def _valid(recs: np.ndarray, n_items: int | None = None) -> np.ndarray:
    valid = recs >= 0
    if n_items is not None:
        valid &= recs < n_items
    return valid


def _per_user_mean(recs: np.ndarray, per_item: np.ndarray) -> np.ndarray:
    """Mean of ``per_item[i]`` over each row's valid items; NaN for an empty row."""
    recs = _as_recs(recs, None)
    valid = _valid(recs, len(per_item))
    values = np.where(valid, per_item[np.where(valid, recs, 0)], 0.0)
    n = valid.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, values.sum(axis=1) / n, np.nan)


def exposure_counts(recs: np.ndarray, n_items: int) -> np.ndarray:
    """How many users had each item recommended (length ``n_items``)."""
    recs = _as_recs(recs, None)
    return np.bincount(recs[_valid(recs, n_items)], minlength=n_items)


def coverage(recs: np.ndarray, n_items: int) -> float:
    """Catalogue coverage = (distinct items recommended to at least one user) / ``n_items``."""
    return float(np.count_nonzero(exposure_counts(recs, n_items)) / max(1, n_items))


def item_popularity_prob(train) -> np.ndarray:
    """p(i) = (distinct training users who interacted with item i) / (users with any training
    interaction). ``train`` is an ``Interactions``."""
    matrix = train.to_csr(use_values=False)
    users_per_item = matrix.getnnz(axis=0).astype(np.float64)
    n_active = max(1, int(np.count_nonzero(matrix.getnnz(axis=1))))
    return users_per_item / n_active


def novelty(recs: np.ndarray, item_popularity_prob: np.ndarray) -> np.ndarray:
    """Per user, the mean self-information -log2 p(i) of the recommended items (bits; higher is more
    novel), with p from :func:`item_popularity_prob`. Items with p = 0 get the smallest positive p in the
    array (as rare as the rarest seen item). NaN for a user with no recommendations."""
    prob = np.asarray(item_popularity_prob, np.float64)
    positive = prob[prob > 0]
    floor = positive.min() if positive.size else 1.0
    info = -np.log2(np.clip(np.where(prob > 0, prob, floor), None, 1.0))
    return _per_user_mean(recs, info)


def intra_list_diversity(recs: np.ndarray, item_features) -> np.ndarray:
    """Per user, the mean over pairs of distinct list positions of (1 - cosine similarity) of the
    items' feature rows (genres/tags one-hot, or embeddings; dense or sparse ``(n_items, d)``). An item
    with an all-zero feature row has cosine 0 with everything. NaN for lists of fewer than 2 items.

    Computed without forming pairs: with unit rows f_i, sum_{i != j} cos = ||sum_i f_i||^2 - sum_i ||f_i||^2.
    """
    recs = _as_recs(recs, None)
    n, kk = recs.shape
    if sp.issparse(item_features):
        feats = sp.csr_matrix(item_features, dtype=np.float64)
        norms = np.sqrt(np.asarray(feats.multiply(feats).sum(axis=1)).ravel())
        inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        unit = sp.diags(inv) @ feats
    else:
        feats = np.asarray(item_features, dtype=np.float64)
        norms = np.linalg.norm(feats, axis=1)
        inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        unit = feats * inv[:, None]
    n_items = unit.shape[0]
    valid = _valid(recs, n_items)
    rows = np.repeat(np.arange(n), kk)[valid.ravel()]
    picks = sp.csr_matrix(
        (np.ones(len(rows)), (rows, recs[valid])), shape=(n, n_items)
    )  # duplicates would be summed: every list position counts once
    summed = picks @ unit
    if sp.issparse(summed):
        sq_norm_of_sum = np.asarray(summed.multiply(summed).sum(axis=1)).ravel()
    else:
        sq_norm_of_sum = np.einsum("ij,ij->i", summed, summed)
    has_features = (norms > 0).astype(np.float64)
    self_terms = picks @ has_features  # sum_i ||f_i||^2 (1 or 0 each)
    length = valid.sum(axis=1).astype(np.float64)
    pairs = length * (length - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_cos = (sq_norm_of_sum - self_terms) / pairs
    return np.where(length >= 2, 1.0 - mean_cos, np.nan)


def mean_popularity(recs: np.ndarray, item_counts: np.ndarray) -> np.ndarray:
    """Per user, the mean training interaction count of the recommended items (popularity bias).
    NaN for a user with no recommendations."""
    return _per_user_mean(recs, np.asarray(item_counts, np.float64))


def gini(exposure: np.ndarray) -> float:
    """Gini coefficient of exposure across items: 0 when every item is recommended equally often, near
    1 when a few items get all the exposure. With x sorted ascending (i = 1..n):
    G = 2 * sum_i i x_i / (n * sum_i x_i) - (n + 1) / n. 0 for no exposure at all."""
    x = np.sort(np.asarray(exposure, np.float64).ravel())
    n, total = len(x), x.sum()
    if n == 0 or total <= 0:
        return 0.0
    return float(2.0 * np.sum(np.arange(1, n + 1) * x) / (n * total) - (n + 1.0) / n)


# -- statistics --------------------------------------------------------------------------------------


def _chunks(n_resamples: int, n: int, budget: int = 4_000_000) -> list[int]:
    """Resample counts per chunk so that one chunk holds about ``budget`` draws."""
    per = max(1, budget // max(1, n))
    return [min(per, n_resamples - s) for s in range(0, n_resamples, per)]


def _bootstrap_means(values: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    n = len(values)
    out = []
    for size in _chunks(n_resamples, n):
        idx = rng.integers(0, n, size=(size, n))
        out.append(values[idx].mean(axis=1))
    return np.concatenate(out) if out else np.zeros(0)


def mean_ci(
    values: np.ndarray,
    confidence: float = 0.95,
    method: str = "bootstrap",
    n_resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Confidence interval of the mean of ``values`` (NaNs ignored).

    ``method="bootstrap"``: percentile interval of the means of ``n_resamples`` resamples with
    replacement. ``"normal"``: mean +- z * sd / sqrt(n) (sd with n - 1). ``"auto"``: bootstrap up to
    2,000 values, normal above (where the central limit theorem holds well and bootstrapping is slow).
    (NaN, NaN) for no values; (m, m) for one value."""
    x = np.asarray(values, np.float64)
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return float("nan"), float("nan")
    if len(x) == 1:
        return float(x[0]), float(x[0])
    if method == "auto":
        method = "bootstrap" if len(x) <= 2_000 else "normal"
    alpha = 1.0 - confidence
    if method == "normal":
        half = NormalDist().inv_cdf(1 - alpha / 2) * x.std(ddof=1) / np.sqrt(len(x))  # no scipy.stats import
        return float(x.mean() - half), float(x.mean() + half)
    if method != "bootstrap":
        raise ValueError(f"method must be 'bootstrap', 'normal' or 'auto', got {method!r}")
    means = _bootstrap_means(x, n_resamples, np.random.default_rng(seed))
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def paired_bootstrap(
    a: np.ndarray,
    b: np.ndarray,
    n_resamples: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
    interval: bool = True,
) -> dict[str, float]:
    """Compare two per-user result arrays aligned on the same users (pairs with a NaN are dropped).

    Returns ``mean_diff`` = mean(a - b); ``ci_low``/``ci_high``: the percentile bootstrap interval of the
    mean difference (users resampled with replacement, ``n_resamples`` times; NaN with ``interval=False``,
    which halves the work when only the test is wanted); ``p_value``: two-sided
    paired sign-flip randomisation test of "no difference": each user's difference gets a random sign,
    p = (1 + #{resamples with |mean| >= |observed mean|}) / (n_resamples + 1). It is never 0 (smallest
    1 / (n_resamples + 1)) and is 1 when a and b are identical. ``n`` is the number of pairs used."""
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired arrays must have the same length, got {len(a)} and {len(b)}")
    keep = ~(np.isnan(a) | np.isnan(b))
    diff = a[keep] - b[keep]
    n = len(diff)
    if n == 0:
        return {"mean_diff": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"),
                "p_value": float("nan"), "n": 0}
    rng = np.random.default_rng(seed)
    observed = diff.mean()
    low = high = float("nan")
    if interval:
        means = _bootstrap_means(diff, n_resamples, rng)
        alpha = 1.0 - confidence
        low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    extreme = 0
    tolerance = 1e-12 * max(1.0, abs(observed))
    for size in _chunks(n_resamples, n):
        signs = rng.integers(0, 2, size=(size, n), dtype=np.int8) * 2 - 1
        flipped = (signs @ diff) / n
        extreme += int(np.sum(np.abs(flipped) >= abs(observed) - tolerance))
    p_value = (1 + extreme) / (n_resamples + 1)
    return {"mean_diff": float(observed), "ci_low": float(low), "ci_high": float(high),
            "p_value": float(p_value), "n": int(n)}
