"""Known-answer tests for every metric (hand computations in the comments) and cross-checks against
scikit-learn on random data."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import ndcg_score, roc_auc_score

from recsys import metrics as m

L2, L3, L5 = math.log2(2), math.log2(3), math.log2(5)


def truth_matrix(rows: list[list[int]], n_items: int) -> sp.csr_matrix:
    r = [i for i, row in enumerate(rows) for _ in row]
    c = [j for row in rows for j in row]
    return sp.csr_matrix((np.ones(len(c)), (r, c)), shape=(len(rows), n_items))


# Four users, K = 4, 8 items.
# row 0: recs 3,1,5,0  truth {0,1,7}: hits at ranks 2 and 4            (|T| = 3)
# row 1: recs 2,-1,-1,-1 truth {2}: hit at rank 1, three padding slots  (|T| = 1)
# row 2: recs 4,5,6,7  truth {0}: no hit                                (|T| = 1)
# row 3: recs 0,1,-1,-1 truth {0,1,2,3,4}: hits at ranks 1, 2           (|T| = 5 > number of slots filled)
RECS = np.array([[3, 1, 5, 0], [2, -1, -1, -1], [4, 5, 6, 7], [0, 1, -1, -1]])
TRUTH = truth_matrix([[0, 1, 7], [2], [0], [0, 1, 2, 3, 4]], 8)


def test_hit_matrix_marks_relevant_slots_and_never_padding():
    expected = [[0, 1, 0, 1], [1, 0, 0, 0], [0, 0, 0, 0], [1, 1, 0, 0]]
    np.testing.assert_array_equal(m.hit_matrix(RECS, TRUTH), np.array(expected, bool))


def test_hit_matrix_ignores_explicit_zeros_in_truth():
    truth = sp.csr_matrix((np.array([1.0, 0.0]), (np.array([0, 0]), np.array([1, 3]))), shape=(1, 5))
    assert m.hit_matrix(np.array([[3, 1]]), truth).tolist() == [[False, True]]


def test_precision_divides_by_k_with_padding_as_misses():
    # 2/4, 1/4, 0/4, 2/4
    np.testing.assert_allclose(m.precision(RECS, TRUTH), [0.5, 0.25, 0.0, 0.5])


def test_recall_divides_by_number_of_test_items():
    # 2/3, 1/1, 0/1, 2/5 (not 2/min(5, 4))
    np.testing.assert_allclose(m.recall(RECS, TRUTH), [2 / 3, 1.0, 0.0, 0.4])


def test_ndcg_ideal_uses_min_of_test_size_and_k():
    # row 0: DCG = 1/log2(3) + 1/log2(5); IDCG over min(3, 4) = 3 items = 1/log2(2) + 1/log2(3) + 1/log2(4)
    row0 = (1 / L3 + 1 / L5) / (1 / L2 + 1 / L3 + 0.5)
    # row 1: DCG = 1 = IDCG (one test item)             -> 1
    # row 3: DCG = 1 + 1/log2(3); IDCG over min(5, 4) = 4 items = 1 + 1/log2(3) + 1/2 + 1/log2(5)
    row3 = (1 + 1 / L3) / (1 + 1 / L3 + 0.5 + 1 / L5)
    np.testing.assert_allclose(m.ndcg(RECS, TRUTH), [row0, 1.0, 0.0, row3])
    assert row0 == pytest.approx(0.498190, abs=1e-6)


def test_ndcg_with_k_cut_shorter_than_the_lists():
    # k=2, row 0: recs 3,1 -> DCG = 1/log2(3); IDCG over min(3, 2) = 2 items = 1 + 1/log2(3)
    expected = (1 / L3) / (1 + 1 / L3)
    assert m.ndcg(RECS[:1], TRUTH[:1], k=2)[0] == pytest.approx(expected)
    # row 3 at k=2: both slots hit and IDCG over min(5, 2) = 2 -> a perfect 1
    assert m.ndcg(RECS[3:], TRUTH[3:], k=2)[0] == pytest.approx(1.0)


def test_k_longer_than_the_lists_pads_with_misses():
    # row 1 at k=6: 1 hit / 6 slots
    assert m.precision(RECS[1:2], TRUTH[1:2], k=6)[0] == pytest.approx(1 / 6)


def test_average_precision_normalises_by_min_of_test_size_and_k():
    # row 0: (P@2 + P@4) / min(3, 4) = (1/2 + 2/4) / 3 = 1/3
    # row 1: P@1 / 1 = 1;  row 2: 0
    # row 3: (P@1 + P@2) / min(5, 4) = (1 + 1) / 4 = 0.5
    np.testing.assert_allclose(m.average_precision(RECS, TRUTH), [1 / 3, 1.0, 0.0, 0.5])


def test_reciprocal_rank_is_one_over_first_hit():
    # first hits at ranks 2, 1, none, 1
    np.testing.assert_allclose(m.reciprocal_rank(RECS, TRUTH), [0.5, 1.0, 0.0, 1.0])


def test_hit_rate_is_any_hit():
    np.testing.assert_allclose(m.hit_rate(RECS, TRUTH), [1.0, 1.0, 0.0, 1.0])


def test_users_without_test_items_score_zero_not_nan():
    truth = truth_matrix([[1], []], 4)
    recs = np.array([[1, 2], [0, 3]])
    for fn in (m.precision, m.recall, m.ndcg, m.average_precision, m.reciprocal_rank, m.hit_rate):
        out = fn(recs, truth)
        assert out[1] == 0.0 and not np.isnan(out).any()


def test_truth_rows_must_match_recs():
    with pytest.raises(ValueError):
        m.ndcg(RECS, TRUTH[:2])


def test_ndcg_matches_sklearn_on_random_data():
    rng = np.random.default_rng(7)
    n_users, n_items, k = 60, 40, 10
    scores = rng.random((n_users, n_items))  # continuous: no ties, so both rank identically
    relevant = rng.random((n_users, n_items)) < rng.uniform(0.02, 0.5, size=(n_users, 1))
    relevant[np.arange(n_users), rng.integers(0, n_items, n_users)] = True  # at least one each
    recs = np.argsort(-scores, axis=1)[:, :k]
    ours = m.ndcg(recs, sp.csr_matrix(relevant.astype(float)), k)
    theirs = [ndcg_score(relevant[u : u + 1].astype(float), scores[u : u + 1], k=k) for u in range(n_users)]
    np.testing.assert_allclose(ours, theirs, rtol=1e-10)
    # many users have more than k relevant items, so the min(|T|, K) ideal is really exercised
    assert (relevant.sum(axis=1) > k).sum() > 5


# -- AUC ---------------------------------------------------------------------------------------------


def test_auc_counts_correctly_ordered_pairs_and_skips_excluded_items():
    # scores 0.9 0.1 0.5 0.3 0.7; relevant {1, 2}; item 0 excluded (training).
    # candidates: 1 (0.1, +), 2 (0.5, +), 3 (0.3, -), 4 (0.7, -)
    # pairs: (1,3) no, (1,4) no, (2,3) yes, (2,4) no -> 1/4
    scores = np.array([[0.9, 0.1, 0.5, 0.3, 0.7]])
    out = m.auc(scores, truth_matrix([[1, 2]], 5), exclude=truth_matrix([[0]], 5))
    assert out[0] == pytest.approx(0.25)
    # without the exclusion item 0 (0.9) is one more negative above both: (1/4 * 4 + 0) / 6 = 1/6
    assert m.auc(scores, truth_matrix([[1, 2]], 5))[0] == pytest.approx(1 / 6)


def test_auc_ties_count_half_and_undefined_is_nan():
    # scores 0.5 0.5 0.2, relevant {0}: pair (0,1) tied -> 0.5, pair (0,2) correct -> 1; AUC = 0.75
    out = m.auc(np.array([[0.5, 0.5, 0.2], [0.1, 0.2, 0.3]]), truth_matrix([[0], []], 3))
    assert out[0] == pytest.approx(0.75)
    assert np.isnan(out[1])  # no relevant item


def test_auc_matches_sklearn_on_random_data():
    rng = np.random.default_rng(3)
    n_users, n_items = 25, 50
    scores = rng.normal(size=(n_users, n_items)).round(1)  # rounding makes ties happen
    relevant = rng.random((n_users, n_items)) < 0.2
    excluded = (rng.random((n_users, n_items)) < 0.2) & ~relevant
    relevant[:, 0], excluded[:, 0] = True, False
    relevant[:, 1], excluded[:, 1] = False, False
    ours = m.auc(scores, sp.csr_matrix(relevant.astype(float)), sp.csr_matrix(excluded.astype(float)))
    for u in range(n_users):
        keep = ~excluded[u]
        assert ours[u] == pytest.approx(roc_auc_score(relevant[u, keep], scores[u, keep]))


# -- relevance and rating errors ---------------------------------------------------------------------


def test_relevance_from_ratings_keeps_ratings_at_or_above_threshold():
    from recsys.data import Interactions

    inter = Interactions(
        users=np.array([0, 0, 1], np.int32), items=np.array([0, 1, 2], np.int32),
        user_ids=np.array(["a", "b"]), item_ids=np.array(["x", "y", "z"]),
        values=np.array([5.0, 3.0, 4.0], np.float32), explicit=True,
    )
    truth = m.relevance_from_ratings(inter, 4.0)  # 5 and 4 pass, 3 does not
    assert truth.toarray().tolist() == [[1, 0, 0], [0, 0, 1]]
    same = m.relevance_from_ratings(inter.to_csr(), 4.0)
    assert same.toarray().tolist() == [[1, 0, 0], [0, 0, 1]]


def test_rmse_and_mae():
    # errors 0, 0, 2: RMSE = sqrt(4/3), MAE = 2/3
    assert m.rmse([1, 2, 3], [1, 2, 5]) == pytest.approx(math.sqrt(4 / 3))
    assert m.mae([1, 2, 3], [1, 2, 5]) == pytest.approx(2 / 3)
    assert math.isnan(m.rmse([], []))


# -- beyond accuracy ---------------------------------------------------------------------------------


def test_coverage_counts_distinct_recommended_items():
    # items 0, 1, 2 of 5 recommended (padding ignored) -> 3/5
    assert m.coverage(np.array([[0, 1], [1, 2], [-1, -1]]), 5) == pytest.approx(0.6)


def test_novelty_is_mean_self_information():
    # p = 0.5, 0.25, 1.0, 0 -> -log2 p = 1, 2, 0, and p=0 takes the smallest positive p (0.25) -> 2
    prob = np.array([0.5, 0.25, 1.0, 0.0])
    out = m.novelty(np.array([[0, 1], [2, 3], [-1, -1]]), prob)
    np.testing.assert_allclose(out[:2], [1.5, 1.0])
    assert np.isnan(out[2])


def test_item_popularity_prob_is_share_of_training_users():
    from recsys.data import Interactions

    # 4 users with interactions (user "e" has none); item x seen by 2 of them, y by 4, z by 0
    train = Interactions(
        users=np.array([0, 1, 0, 1, 2, 3], np.int32), items=np.array([0, 0, 1, 1, 1, 1], np.int32),
        user_ids=np.array(list("abcde")), item_ids=np.array(["x", "y", "z"]),
    )
    np.testing.assert_allclose(m.item_popularity_prob(train), [0.5, 1.0, 0.0])


def test_intra_list_diversity_hand_computed_dense_and_sparse():
    # f0 = (1,0), f1 = (0,1), f2 = (1,1): cos01 = 0, cos02 = cos12 = 1/sqrt(2)
    # mean cos = (0 + 2/sqrt(2)) / 3 = 0.4714; diversity = 1 - 0.4714 = 0.5286
    feats = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    recs = np.array([[0, 1, 2], [0, 1, -1], [2, -1, -1], [0, 3, -1]])
    expected = [1 - (2 / math.sqrt(2)) / 3, 1.0, np.nan, 1.0]  # item 3 has no features: cosine 0
    np.testing.assert_allclose(m.intra_list_diversity(recs, feats), expected)
    np.testing.assert_allclose(m.intra_list_diversity(recs, sp.csr_matrix(feats)), expected)


def test_intra_list_diversity_matches_pairwise_brute_force():
    rng = np.random.default_rng(1)
    feats = rng.normal(size=(30, 6))
    recs = np.stack([rng.choice(30, 8, replace=False) for _ in range(10)])
    unit = feats / np.linalg.norm(feats, axis=1, keepdims=True)
    expected = []
    for row in recs:
        sims = unit[row] @ unit[row].T
        expected.append(1 - (sims.sum() - 8) / (8 * 7))
    np.testing.assert_allclose(m.intra_list_diversity(recs, feats), expected)


def test_mean_popularity_per_user():
    # counts 10, 20, 30: (10 + 30)/2 = 20; row 2 has one valid item (20)
    np.testing.assert_allclose(m.mean_popularity(np.array([[0, 2], [1, -1]]), np.array([10, 20, 30])), [20, 20])


def test_gini_of_exposure():
    # [0,0,0,10]: 2 * (4*10) / (4*10) - 5/4 = 0.75; equal exposure -> 0
    assert m.gini(np.array([0, 0, 0, 10])) == pytest.approx(0.75)
    assert m.gini(np.array([5, 5, 5, 5])) == pytest.approx(0.0)
    assert m.gini(np.zeros(3)) == 0.0
    # exposure_counts feeds it: item 1 recommended twice, items 0 and 2 once, item 3 never
    assert m.exposure_counts(np.array([[0, 1], [1, 2]]), 4).tolist() == [1, 2, 1, 0]


# -- statistics --------------------------------------------------------------------------------------


def test_paired_bootstrap_identical_arrays():
    a = np.random.default_rng(0).random(300)
    out = m.paired_bootstrap(a, a.copy())
    assert out["mean_diff"] == 0.0 and out["ci_low"] == 0.0 and out["ci_high"] == 0.0
    assert out["p_value"] == pytest.approx(1.0)


def test_paired_bootstrap_clear_difference():
    rng = np.random.default_rng(0)
    b = rng.random(300)
    a = b + 0.05 + rng.normal(0, 0.05, 300)  # a beats b by 0.05 on average
    out = m.paired_bootstrap(a, b, n_resamples=2000)
    assert out["p_value"] < 0.01
    assert 0 < out["ci_low"] < out["mean_diff"] < out["ci_high"]
    assert out["mean_diff"] == pytest.approx(np.mean(a - b))
    flipped = m.paired_bootstrap(b, a, n_resamples=2000)
    assert flipped["ci_high"] < 0 and flipped["p_value"] < 0.01


def test_paired_bootstrap_no_difference_is_not_significant():
    rng = np.random.default_rng(5)
    a, b = rng.random(200), rng.random(200)  # same distribution
    assert m.paired_bootstrap(a, b)["p_value"] > 0.05


def test_paired_bootstrap_is_deterministic_and_drops_nan_pairs():
    rng = np.random.default_rng(2)
    a, b = rng.random(50), rng.random(50)
    a[3] = np.nan
    first, second = m.paired_bootstrap(a, b, seed=4), m.paired_bootstrap(a, b, seed=4)
    assert first == second and first["n"] == 49


def test_mean_ci_bootstrap_and_normal_agree_on_a_large_sample():
    x = np.random.default_rng(0).normal(1.0, 2.0, 4000)
    boot = m.mean_ci(x, method="bootstrap")
    normal = m.mean_ci(x, method="normal")
    assert boot[0] < x.mean() < boot[1]
    # half width 1.96 * 2 / sqrt(4000) = 0.062
    assert normal[1] - normal[0] == pytest.approx(2 * 1.959964 * x.std(ddof=1) / math.sqrt(4000))
    np.testing.assert_allclose(boot, normal, atol=0.01)
    assert m.mean_ci(np.array([0.3])) == (0.3, 0.3)


def test_paired_bootstrap_without_the_interval_keeps_the_test():
    rng = np.random.default_rng(0)
    a = rng.random(500)
    clear = m.paired_bootstrap(a + 0.1, a, n_resamples=500, interval=False)
    assert np.isnan(clear["ci_low"]) and np.isnan(clear["ci_high"])
    assert clear["mean_diff"] == pytest.approx(0.1) and clear["p_value"] == pytest.approx(1 / 501)
    assert m.paired_bootstrap(a, a, n_resamples=200, interval=False)["p_value"] == 1.0
