"""One definition of popular and long-tail items (recsys.popularity_bands), and the data report, the
profile, the leaderboard's segments and exposure all using it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from benchmarks.listening import listening_log
from recsys import popularity_bands as bands
from recsys.data import interactions_from_frame
from recsys.evaluation import Evaluation, segments
from recsys.exposure import data_exposure, exposure_from_slots
from recsys.profile import profile_frames
from recsys.split import make_split


def test_band_sizes_are_exact_integer_arithmetic():
    assert bands.band_size(30, 10) == 3  # 0.1 * 30 is 3.0000000000000004 in floating point: not 4
    assert bands.band_size(31, 10) == 4  # rounded up
    assert bands.band_size(5, 10) == 1 and bands.band_size(5, 1) == 1  # at least one
    assert bands.band_size(0, 10) == 0
    assert bands.band_size(9724, 10) == 973 and bands.band_size(9724, 1) == 98


def test_ranking_ties_and_untouched_items():
    counts = np.array([3, 7, 0, 7, 1, 3])
    assert bands.ranked_items(counts).tolist() == [1, 3, 0, 5, 4]  # ties: lower number first; item 2 unranked
    assert bands.top_items(counts, 10).tolist() == [1]  # 10% of the 5 touched items, rounded up
    assert bands.top_items(counts, 40).tolist() == [1, 3]
    assert bands.head_mask(counts, 40).tolist() == [False, True, False, True, False, False]
    assert bands.interaction_share(counts, 40) == pytest.approx(14 / 21)
    assert bands.interaction_share(np.zeros(4), 10) == 0.0
    assert "top 10% of items" in bands.definition() and "other 90%" in bands.definition()


def test_report_profile_and_segments_use_one_definition():
    inter = interactions_from_frame(listening_log(listeners=80, artists=60, seed=3)[0])
    counts = inter.item_counts()
    head = bands.head_mask(counts)
    report = inter.report
    # the data report
    assert report.top_percent == bands.HEAD_PERCENT
    assert report.top_items == int(head.sum()) == bands.band_size(int((counts > 0).sum()), bands.HEAD_PERCENT)
    assert report.top_items_share == pytest.approx(counts[head].sum() / counts.sum())
    assert f"top {bands.HEAD_PERCENT}% of items ({report.top_items:,})" in report.to_text()
    # the profile
    profile = profile_frames(inter)
    assert profile["head_share"] == pytest.approx(report.top_items_share)
    assert profile["head_percent"] == bands.HEAD_PERCENT
    # exposure: the data's own interactions as slots give the report's share; lists of the head items only
    assert data_exposure(inter)["popular_share"] == pytest.approx(report.top_items_share)
    assert exposure_from_slots(head.astype(float), counts)["popular_share"] == 1.0
    assert exposure_from_slots((~head).astype(float), counts)["popular_share"] == 0.0
    # the segments: lists made only of the popular items (on training counts) fill the popular segment alone
    split = make_split(inter, "random", seed=1)
    train_head = np.flatnonzero(bands.head_mask(split.train.item_counts()))
    users = np.unique(split.test.users)
    k = len(train_head)
    evaluation = Evaluation(
        model="hand", protocol="random", k=k, summary={}, ci={}, users=users,
        per_user={"ndcg": np.zeros(len(users)), "recall": np.zeros(len(users))},
        recs=np.tile(train_head, (len(users), 1)),
    )
    table = segments(evaluation, split).set_index("segment")
    assert table.loc[bands.head_label(), "rec_share"] == 1.0
    assert table.loc[bands.tail_label(), "rec_share"] == 0.0
    # one more item past the head moves exactly one slot per list into the long tail
    past = bands.ranked_items(split.train.item_counts())[k]
    evaluation = replace(evaluation, recs=np.tile(np.append(train_head, past), (len(users), 1)), k=k + 1)
    table = segments(evaluation, split).set_index("segment")
    assert table.loc[bands.tail_label(), "rec_share"] == pytest.approx(1 / (k + 1))
