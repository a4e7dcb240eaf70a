"""recsys.leaderboard on small synthetic data with known answers: two taste groups of users over two
halves of the catalogue, so item neighbours (a real ItemKNN) beat Popularity, which beats Random."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys import leaderboard
from recsys.data import DataError, Interactions
from recsys.models import make_model
from recsys.models.baselines import Popularity, RandomModel


# -- leaderboard ----------------------------------------------------------------------------------
def _taste_groups(n_users: int = 300, n_items: int = 60, per_user: int = 8, seed: int = 1) -> Interactions:
    """Two taste groups of users over two halves of the catalogue, skewed popularity within each half."""
    rng = np.random.default_rng(seed)
    half = n_items // 2
    weights = 1.0 / np.arange(1, half + 1)
    weights /= weights.sum()
    rows = []
    for user in range(n_users):
        offset = 0 if user % 2 == 0 else half
        for item in rng.choice(half, size=per_user, replace=False, p=weights):
            rows.append((f"u{user:03d}", f"m{offset + item:02d}"))
    return Interactions.from_frame(pd.DataFrame(rows, columns=["user", "item"]), "user", "item")


@pytest.fixture(scope="module")
def board_setup():
    from recsys.evaluation import evaluate
    from recsys.split import make_split

    inter = _taste_groups()
    split = make_split(inter, "random", seed=7)
    models = {1: Popularity(device="cpu"), 2: make_model("itemknn", device="cpu"), 3: RandomModel(device="cpu")}
    evaluations = {rid: evaluate(m.fit(split.train), split, k=10) for rid, m in models.items()}
    runs = pd.DataFrame(
        {
            "id": [1, 2, 3, 4, 5],
            "model": ["popularity", "itemknn", "random", "itemknn", "popularity"],
            "status": ["done", "done", "done", "failed", "done"],
            "protocol": ["random", "random", "random", "random", "temporal"],
            "seed": [7, 7, 7, 7, 7],
            "is_baseline": [True, False, False, False, True],
            "duration_seconds": [0.5, 1.25, 0.4, None, 0.3],
            "device": ["cpu"] * 5,
        }
    )
    return inter, split, runs, evaluations


def test_finished_runs_and_split_choices(board_setup):
    _, _, runs, _ = board_setup
    done = leaderboard.finished_runs(runs)
    assert done["id"].tolist() == [5, 3, 2, 1]  # newest first, the failed run left out
    assert done.loc[0, "label"] == "Popularity · run #5 (Each person's most recent 20%, seed 7)"  # plain words
    choices = leaderboard.split_choices(runs)
    assert choices[["protocol", "runs"]].values.tolist() == [["random", 3], ["temporal", 1]]
    same = leaderboard.leaderboard_runs(runs, "random", 7)
    assert same["id"].tolist() == [3, 2, 1] and same.loc[2, "label"] == "Popularity · run #1"
    assert leaderboard.baseline_run_id(same) == 1
    assert leaderboard.baseline_run_id(same[same["model"] != "popularity"]) is None
    assert leaderboard.finished_runs(pd.DataFrame()).empty
    waiting = runs.assign(status=["done", "running", "queued", "failed", "cancelled"])
    assert leaderboard.pending_runs(waiting)["id"].tolist() == [2, 3]
    assert leaderboard.pending_runs(runs).empty


def test_leaderboard_against_popularity(board_setup):
    _, _, runs, evaluations = board_setup
    same = leaderboard.leaderboard_runs(runs, "random", 7)
    board = leaderboard.leaderboard(same, evaluations, selected=3, n_resamples=500)
    ndcg = board[board["metric"] == "ndcg"].set_index("run_id")
    assert ndcg.loc[1, "vs_baseline_badge"] == "—" and ndcg.loc[1, "vs_baseline"] == 0
    assert ndcg.loc[2, "vs_baseline_badge"] == "▲ better"  # taste groups: neighbours beat popularity
    assert ndcg.loc[3, "vs_baseline_badge"] == "▼ worse"
    assert ndcg.loc[2, "vs_baseline_p"] < 0.01
    assert ndcg.loc[3, "vs_selected_badge"] == "—" and ndcg.loc[2, "vs_selected_badge"] == "▲ better"
    assert ndcg.loc[2, "baseline"] == pytest.approx(evaluations[1].summary["ndcg"])
    assert ndcg.loc[2, "value"] == pytest.approx(evaluations[2].summary["ndcg"])
    assert ndcg.loc[2, "ci_low"] <= ndcg.loc[2, "value"] <= ndcg.loc[2, "ci_high"]
    assert ndcg.loc[2, "seconds"] == 1.25 and ndcg.loc[2, "title"] == "Ranking quality: right items near the top"
    coverage = board[board["metric"] == "coverage"].set_index("run_id")
    assert np.isnan(coverage.loc[2, "ci_low"]) and coverage.loc[2, "vs_baseline_badge"] == ""
    novelty = board[board["metric"] == "novelty"].set_index("run_id")
    assert novelty.loc[3, "vs_baseline_badge"] == "▲ higher"  # random picks are less popular: not "better"


def test_leaderboard_table_chart_rows_and_csv(board_setup):
    _, _, runs, evaluations = board_setup
    board = leaderboard.leaderboard(leaderboard.leaderboard_runs(runs, "random", 7), evaluations, n_resamples=200)
    table = leaderboard.leaderboard_table(board)
    assert table["run_id"].tolist() == [2, 1, 3]  # best NDCG first
    assert {"Model", "NDCG@10", "Hit rate@10", "Coverage", "vs Popularity", "Training time (s)", "Device"} <= set(table.columns)
    assert table.loc[0, "vs Popularity"] == "▲ better" and table.loc[0, "Device"] == "CPU"
    bars = leaderboard.metric_comparison(board, "ndcg")
    assert bars["run_id"].tolist() == [2, 1, 3]
    assert (bars["err_minus"] >= 0).all() and (bars["err_plus"] > 0).all()
    assert (leaderboard.metric_comparison(board, "coverage")["err_plus"] == 0).all()
    points = leaderboard.tradeoff(board, "ndcg", "novelty")
    assert len(points) == 3 and points.set_index("run_id").loc[2, "y"] == pytest.approx(evaluations[2].summary["ndcg"])
    text = leaderboard.leaderboard_csv(board).decode("utf-8").splitlines()
    assert len(text) == 4
    header = text[0].split(",")
    assert header[:3] == ["run", "model", "label"] and {"ndcg", "ndcg low", "ndcg p-value", "seconds"} <= set(header)
    assert leaderboard.metric_help("ndcg").startswith("NDCG@10: ")


def test_rating_errors_rank_lowest_first(board_setup):
    from dataclasses import replace

    _, _, runs, evaluations = board_setup
    rated = {rid: replace(e, summary={**e.summary, "rmse": rmse}) for (rid, e), rmse in zip(evaluations.items(), [1.1, 0.8, 1.5], strict=True)}
    board = leaderboard.leaderboard(leaderboard.leaderboard_runs(runs, "random", 7), rated, n_resamples=100)
    rows = leaderboard.metric_comparison(board, "rmse")
    assert rows["run_id"].tolist() == [2, 1, 3] and rows["title"].iloc[0].startswith("Typical rating error")
    assert rows.set_index("run_id").loc[2, "vs_baseline"] == pytest.approx(-0.3)
    assert "RMSE" in leaderboard.leaderboard_table(board).columns


def test_segment_breakdown(board_setup):
    inter, split, runs, evaluations = board_setup
    parts = leaderboard.segment_breakdown(inter, "random", 7, {"Pop": evaluations[1], "Neighbours": evaluations[2]})
    assert set(parts["label"]) == {"Pop", "Neighbours"}
    assert set(parts["kind"]) == {"user activity", "item popularity"}
    heads = parts[(parts["kind"] == "item popularity") & (parts["label"] == "Pop")]
    # popularity puts every popular item (top 10% of the 60 = 6) a person has not seen in their list of 10
    from recsys.popularity_bands import head_mask

    head = head_mask(split.train.item_counts())
    users = evaluations[1].users
    unseen = head.sum() - np.asarray((split.train.to_csr()[users][:, head] > 0).sum(axis=1)).ravel()
    assert head.sum() == 6
    assert heads["rec_share"].iloc[0] == pytest.approx(unseen.sum() / (10 * len(users)))
    assert heads["rec_share"].sum() == pytest.approx(1.0)
    # stored without its top-k lists (as the run store keeps it): the model ranks the test users again
    from dataclasses import replace

    bare = {"Pop": replace(evaluations[1], recs=None)}
    assert set(leaderboard.segment_breakdown(inter, "random", 7, bare)["kind"]) == {"user activity"}
    again = leaderboard.segment_breakdown(inter, "random", 7, bare, models={"Pop": lambda: Popularity(device="cpu").fit(split.train)})
    pd.testing.assert_frame_equal(again, parts[parts["label"] == "Pop"].reset_index(drop=True))
    with pytest.raises(DataError, match="different version"):
        leaderboard.segment_breakdown(inter, "random", 8, {"Pop": evaluations[1]})


# -- the best run ------------------------------------------------------------------------------------
def _runs(rows: list[tuple]) -> pd.DataFrame:
    """``Store.list_runs``-like rows: (id, model, status, ndcg, hit_rate, rmse)."""
    frame = pd.DataFrame(rows, columns=["id", "model", "status", "ndcg", "hit_rate", "rmse"])
    return frame.assign(protocol="random", seed=42, is_baseline=frame["model"] == "popularity")


def test_best_run_is_the_highest_ndcg_not_the_newest_or_first():
    runs = _runs([
        (1, "popularity", "done", 0.20, 0.50, np.nan),
        (2, "ease", "done", 0.31, 0.60, np.nan),
        (3, "itemknn", "done", 0.25, 0.55, np.nan),
        (4, "bpr", "failed", np.nan, np.nan, np.nan),
        (5, "content", "done", 0.10, 0.30, np.nan),
    ])
    assert leaderboard.best_run(runs) == 2
    assert leaderboard.rank_runs(leaderboard.finished_runs(runs))["id"].tolist() == [2, 3, 1, 5]
    assert leaderboard.best_run(runs, "hit_rate") == 2
    assert leaderboard.best_run(runs[runs["id"] != 2]) == 3


def test_a_tie_goes_to_the_better_hit_rate_then_to_a_personalised_model():
    tie = _runs([(1, "popularity", "done", 0.3, 0.7, np.nan), (2, "ials", "done", 0.3, 0.8, np.nan),
                 (3, "bpr", "done", 0.3, 0.6, np.nan)])
    assert leaderboard.best_run(tie) == 2
    same = _runs([(1, "ials", "done", 0.3, 0.7, np.nan), (2, "popularity", "done", 0.3, 0.7, np.nan)])
    assert leaderboard.best_run(same) == 1  # Popularity never wins a dead heat


def test_a_rating_predictor_competes_on_ranking_not_on_rmse():
    runs = _runs([(1, "popularity", "done", 0.20, 0.5, np.nan), (2, "mf", "done", 0.05, 0.2, 0.80),
                  (3, "ease", "done", 0.30, 0.6, np.nan)])
    assert leaderboard.best_run(runs) == 3  # mf has the only (and so the best) RMSE, but ranks worst
    assert leaderboard.best_run(runs, "rmse") == 2  # asked for RMSE explicitly: lowest wins


def test_best_run_without_scores_falls_back_to_the_newest_finished_run():
    bare = _runs([(1, "ease", "done", np.nan, np.nan, np.nan), (2, "bpr", "done", np.nan, np.nan, np.nan),
                  (3, "ials", "queued", np.nan, np.nan, np.nan)])
    assert leaderboard.best_run(bare) == 2
    assert leaderboard.best_run(bare.drop(columns=["ndcg"])) == 2
    assert leaderboard.best_run(pd.DataFrame()) is None


def test_leaderboard_table_order_matches_best_run(board_setup):
    _, _, runs, evaluations = board_setup
    tied = {rid: e for rid, e in evaluations.items()}
    from dataclasses import replace

    tied[1] = replace(tied[1], summary={**tied[1].summary, "ndcg": tied[2].summary["ndcg"]})  # a dead heat
    same = leaderboard.leaderboard_runs(runs, "random", 7)
    board = leaderboard.leaderboard(same, tied, n_resamples=50, tested=["ndcg"])
    table = leaderboard.leaderboard_table(board)
    listed = same.assign(ndcg=[tied[int(r)].summary["ndcg"] for r in same["id"]],
                         hit_rate=[tied[int(r)].summary["hit_rate"] for r in same["id"]])
    assert table["run_id"].iloc[0] == leaderboard.best_run(listed)
    assert table["run_id"].iloc[0] == (2 if tied[2].summary["hit_rate"] >= tied[1].summary["hit_rate"] else 1)
    hit = board[board["metric"] == "hit_rate"].set_index("run_id")
    assert hit["vs_baseline_badge"].loc[2] == "" and np.isnan(hit["vs_baseline_p"].loc[2])  # not tested
    assert hit["vs_baseline"].loc[2] == pytest.approx(tied[2].summary["hit_rate"] - tied[1].summary["hit_rate"])
