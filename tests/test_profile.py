"""Profile chart data (recsys.profile) on small inputs with answers worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.data import Interactions
from recsys.profile import (
    activity_over_time,
    count_histogram,
    head_share,
    long_tail,
    profile_frames,
    value_distribution,
)

DAY = 86_400


def test_count_histogram_uses_power_of_two_bins_and_drops_empty_leading_ones():
    # counts 4, 5, 7 fall in [4, 7]; 9 in [8, 15]; 16 in [16, 31]; zeros are ignored
    table = count_histogram(np.array([0, 4, 5, 7, 9, 16]))
    assert table["label"].tolist() == ["4–7", "8–15", "16–31"]
    assert table["entities"].tolist() == [3, 1, 1]
    assert table["share"].tolist() == pytest.approx([0.6, 0.2, 0.2])


def test_count_histogram_single_values_and_thousands():
    table = count_histogram(np.array([1, 1, 2, 3, 1500]))
    assert table["label"].tolist()[:2] == ["1", "2–3"]
    assert table["label"].tolist()[-1] == "1,024–2,047"
    assert table["entities"].sum() == 5


def test_count_histogram_caps_the_number_of_bins():
    table = count_histogram(np.arange(1, 1_000_001), max_bins=10)
    assert len(table) <= 10
    assert table["entities"].sum() == 1_000_000
    assert (table["low"].to_numpy()[1:] == table["high"].to_numpy()[:-1] + 1).all()  # no gaps


def test_long_tail_and_head_share():
    counts = np.array([1, 10, 0, 5, 4])  # ranked: 10, 5, 4, 1 (the zero is not an item anyone touched)
    tail = long_tail(counts)
    assert tail["rank"].tolist() == [1, 2, 3, 4]
    assert tail["interactions"].tolist() == [10, 5, 4, 1]
    assert tail["cumulative_share"].tolist() == pytest.approx([0.5, 0.75, 0.95, 1.0])
    assert head_share(np.array([10, 5, 4, 1, 0]), percent=20) == pytest.approx(0.5)  # top 1 of the 4 touched


def test_value_distribution_star_ratings_and_wide_weights():
    stars = value_distribution(np.array([4, 4, 5, 3.5], dtype=np.float32))
    assert stars["label"].tolist() == ["3.5", "4", "5"]
    assert stars["interactions"].tolist() == [1, 2, 1]
    plays = value_distribution(np.geomspace(1, 10_000, 500), bins=4)
    assert len(plays) == 4 and plays["interactions"].sum() == 500
    assert plays["low"].tolist() == pytest.approx([1, 10, 100, 1000])  # log-spaced: spans four decades
    assert value_distribution(None) is None


def test_activity_over_time_picks_a_period_and_fills_gaps():
    users = np.array([0, 1, 0, 2])
    stamps = np.array([0, 3600, 2 * DAY, 2 * DAY + 60])  # day 0: two people, day 1: nothing, day 2: two
    frame, period = activity_over_time(users, stamps)
    assert period == "day"
    assert frame["interactions"].tolist() == [2, 0, 2]
    assert frame["active_users"].tolist() == [2, 0, 2]
    assert frame["period"].iloc[0] == pd.Timestamp("1970-01-01")
    years = activity_over_time(np.zeros(2, int), np.array([0, 30 * 365 * DAY]), max_points=100)
    assert years[1] == "year"
    assert activity_over_time(users, None) is None


def test_profile_frames_of_interactions():
    frame = pd.DataFrame({"u": ["a", "a", "b", "c"], "i": ["x", "y", "x", "x"], "r": [5.0, 3.0, 4.0, 5.0],
                          "t": [0, DAY, 2 * DAY, 3 * DAY]})
    inter = Interactions.from_frame(frame, "u", "i", "r", "t", explicit=True)
    profile = profile_frames(inter)
    assert profile["users"]["entities"].sum() == 3
    assert profile["items"]["label"].tolist() == ["1", "2–3"]  # y once, x three times
    assert profile["values"]["interactions"].tolist() == [1, 1, 2]
    assert profile["value_kind"] == "rating"
    assert profile["time_period"] == "day" and profile["time"]["interactions"].sum() == 4
    assert profile["medians"] == {"per_user": 1.0, "per_item": 2.0}
    assert profile["head_share"] == pytest.approx(0.75)


def test_play_counts_get_readable_whole_number_ranges():
    plays = np.concatenate([np.arange(1, 60), [950, 1120, 2130, 21086, 352698]]).astype(np.float32)
    table = value_distribution(plays, bins=6)
    assert len(table) > 1 and table["label"].str.contains("–").any()
    assert not table["label"].str.contains("e+", regex=False).any()  # never "1.12e+03-2.13e+03"
    assert table["label"].iloc[-1].endswith("352,698")  # thousands separators, the largest value included
    assert (table["low"] == np.round(table["low"])).all() and (table["high"] == np.round(table["high"])).all()
    assert (table["low"].iloc[1:].to_numpy() == table["high"].iloc[:-1].to_numpy() + 1).all()  # no gaps
    assert table["interactions"].sum() == len(plays)


@pytest.mark.parametrize("days, period", [(200, "day"), (1_500, "week"), (8_000, "month"), (40_000, "year")])
def test_activity_over_time_matches_a_pandas_count(days, period):
    """Known answers from pandas' own calendar on random listening logs, for each period size."""
    rng = np.random.default_rng(days)
    stamps = rng.integers(1_000_000_000, 1_000_000_000 + days * DAY, 5_000)
    users = rng.integers(0, 40, 5_000)
    frame, got = activity_over_time(users, stamps)
    assert got == period
    when = pd.Series(pd.to_datetime(stamps, unit="s"))
    starts = {"day": when.dt.floor("D"), "week": when.dt.floor("D") - pd.to_timedelta(when.dt.day_of_week, unit="D"),
              "month": when.dt.to_period("M").dt.start_time, "year": when.dt.to_period("Y").dt.start_time}[period]
    expected = pd.DataFrame({"period": starts, "user": users}).groupby("period")
    table = frame.set_index("period")
    assert table.loc[expected.size().index, "interactions"].tolist() == expected.size().tolist()
    assert table.loc[expected.size().index, "active_users"].tolist() == expected["user"].nunique().tolist()
    assert frame["interactions"].sum() == 5_000 and (frame["period"].diff().dropna() > pd.Timedelta(0)).all()
    assert frame["period"].iloc[0] == starts.min() and frame["period"].iloc[-1] == starts.max()
