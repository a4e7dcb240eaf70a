"""Segments that can be trusted: no group under 30 people (merged into its neighbour), each with a 95%
interval, the same groups for every model of a split, every model in every group."""

from __future__ import annotations

import numpy as np

from benchmarks.listening import listening_log
from recsys import leaderboard
from recsys.data import interactions_from_frame
from recsys.evaluation import _activity_groups, evaluate, segments
from recsys.models import make_model
from recsys.split import make_split


def test_a_tiny_heavy_group_is_merged_not_shown_as_an_equal_bar():
    # the data: nearly everyone has 40 training items, two people 41
    assert _activity_groups(np.array([40] * 1891 + [41] * 2)) == [("everyone (40-41 training items)", (40, 41))]
    groups = _activity_groups(np.array([5] * 600 + [41] * 2 + list(range(6, 40)) * 20))
    assert [label for label, _ in groups] == ["light (5-7 training items)", "heavy (8-41 training items)"]
    assert _activity_groups(np.array([3] * 50 + [4] * 50)) == [
        ("light (3 training items)", (3, 3)), ("heavy (4 training items)", (4, 4))]
    quarters = _activity_groups(np.repeat(np.arange(8), 40), groups=4)  # 320 people: four groups of 80
    assert [hi - lo + 1 for _, (lo, hi) in quarters] == [2, 2, 2, 2]


def test_segments_have_intervals_and_every_model_is_in_every_group():
    plays, _, _ = listening_log(listeners=400, artists=500, seed=2)
    inter = interactions_from_frame(plays, {"user": "userID", "item": "artistID", "rating": "weight"})
    split = make_split(inter, "random", seed=1)
    evaluations = {}
    for name in ("popularity", "itemknn"):
        model = make_model(name).fit(split.train)
        evaluations[name] = evaluate(model, split, k=10)
    table = segments(evaluations["itemknn"], split)
    users = table[table["kind"] == "user activity"]
    assert (users["users"] >= 30).all() and users["users"].sum() == len(evaluations["itemknn"].users)
    assert ((users["ndcg_low"] <= users["ndcg"]) & (users["ndcg"] <= users["ndcg_high"])).all()
    parts = leaderboard.segment_breakdown(inter, "random", 1, evaluations)
    for _, group in parts.groupby(["kind", "segment"]):
        assert sorted(group["label"]) == ["itemknn", "popularity"]
    light = parts[parts["segment"].str.startswith("light")]
    assert light["users"].nunique() == 1  # the same people in the group for both models
