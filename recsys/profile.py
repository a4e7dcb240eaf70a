"""Profile data of a dataset for charts: how active users are, how popular items are, how ratings and
activity spread out. Plain DataFrames; the dashboard only draws them.

* :func:`count_histogram`: counts grouped into log-spaced bins (1, 2, 3-4, 5-8, ...), for long tails.
* :func:`long_tail`: items ranked by popularity with the cumulative share of interactions.
* :func:`value_distribution`: how many interactions have each rating (or weight range).
* :func:`activity_over_time`: interactions and active users per day, week, month or year.
* :func:`profile_frames`: all of the above for one :class:`~recsys.data.Interactions`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from recsys import popularity_bands
from recsys.data import Interactions
from recsys.popularity_bands import HEAD_PERCENT


def count_histogram(counts: np.ndarray, max_bins: int = 24) -> pd.DataFrame:
    """How many entities have how many interactions, in log-spaced integer bins.

    Returns columns ``low``, ``high`` (inclusive bounds of the bin), ``label`` (``"5–8"``), ``entities``
    (how many users or items fall in the bin) and ``share`` (their fraction of all entities). Entities
    with zero interactions, and empty bins below the smallest count, are left out. Bins start at powers of two (1, 2–3, 4–7, 8–15, ...) unless that would
    give more than ``max_bins`` bins, in which case they grow faster.
    """
    counts = np.asarray(counts)
    counts = counts[counts > 0]
    columns = ["low", "high", "label", "entities", "share"]
    if counts.size == 0:
        return pd.DataFrame(columns=columns)
    top = int(counts.max())
    ratio = 2.0
    n_bins = int(np.ceil(np.log(top) / np.log(ratio))) + 1 if top > 1 else 1
    if n_bins > max_bins:
        ratio = float(np.exp(np.log(top) / (max_bins - 1)))
    edges = [1]
    while edges[-1] <= top:  # edges[i] is the first count of bin i
        edges.append(max(edges[-1] + 1, int(np.floor(edges[-1] * ratio)) if edges[-1] > 1 else 2))
    lows = np.array(edges[:-1])
    highs = np.array(edges[1:]) - 1
    which = np.searchsorted(lows, counts, side="right") - 1
    entities = np.bincount(which, minlength=len(lows))
    first = int(np.argmax(entities > 0))  # bins below the smallest count say nothing: drop them
    lows, highs, entities = lows[first:], highs[first:], entities[first:]
    labels = [f"{lo:,}" if lo == hi else f"{lo:,}–{hi:,}" for lo, hi in zip(lows, highs, strict=True)]
    return pd.DataFrame({
        "low": lows, "high": highs, "label": labels, "entities": entities,
        "share": entities / counts.size,
    })


def long_tail(item_counts: np.ndarray, max_points: int = 400) -> pd.DataFrame:
    """Items ranked from most to least popular: ``rank`` (1 = most popular), ``interactions`` and
    ``cumulative_share`` (fraction of all interactions held by items up to that rank). At most
    ``max_points`` rows, log-spaced over the ranks so both the head and the tail keep their shape."""
    ordered = np.sort(np.asarray(item_counts)[np.asarray(item_counts) > 0])[::-1]
    if ordered.size == 0:
        return pd.DataFrame(columns=["rank", "interactions", "cumulative_share"])
    cumulative = np.cumsum(ordered) / ordered.sum()
    ranks = np.unique(np.geomspace(1, ordered.size, num=min(max_points, ordered.size)).round().astype(int))
    return pd.DataFrame({
        "rank": ranks, "interactions": ordered[ranks - 1], "cumulative_share": cumulative[ranks - 1],
    })


def head_share(item_counts: np.ndarray, percent: int = HEAD_PERCENT) -> float:
    """Fraction of all interactions that go to the popular items, the top ``percent`` percent of items
    (the shared definition: :mod:`recsys.popularity_bands`)."""
    return popularity_bands.interaction_share(item_counts, percent)


def value_distribution(values: np.ndarray | None, max_distinct: int = 20, bins: int = 20) -> pd.DataFrame | None:
    """How many interactions carry each value: ``label``, ``low``, ``high``, ``interactions``, ``share``.

    With few distinct values (star ratings) each value is its own row; otherwise (play counts, weights)
    values are grouped into ``bins`` equal-width ranges, or log-spaced ones when all values are positive
    and span more than two orders of magnitude; whole numbers get whole-number ranges (``low`` and
    ``high`` inclusive). Labels are readable ranges ("1,120–2,129"), never scientific notation. None
    when there are no values.
    """
    if values is None or len(values) == 0:
        return None
    values = np.asarray(values)  # float32 stays float32: no copy of millions of values
    distinct, counts = np.unique(values, return_counts=True)
    distinct = distinct.astype(np.float64)
    if len(distinct) <= max_distinct:
        labels = [readable(v) for v in distinct]
        return pd.DataFrame({"label": labels, "low": distinct, "high": distinct, "interactions": counts,
                             "share": counts / counts.sum()})
    low, high = float(values.min()), float(values.max())
    if low > 0 and high / low > 100:
        edges = np.geomspace(low, high, bins + 1)
    else:
        edges = np.linspace(low, high, bins + 1)
    if np.all(values == np.round(values)):  # whole numbers (plays, clicks): whole-number bins "1,120–2,129"
        edges = np.unique(np.concatenate([np.floor(edges[:-1]), [high + 1]]))
        counts, edges = np.histogram(values, bins=edges)
        lows, highs = edges[:-1], edges[1:] - 1
        labels = [readable(a) if a == b else f"{readable(a)}–{readable(b)}" for a, b in zip(lows, highs, strict=True)]
        return pd.DataFrame({"label": labels, "low": lows, "high": highs, "interactions": counts,
                             "share": counts / max(1, counts.sum())})
    counts, edges = np.histogram(values, bins=edges)
    labels = [f"{readable(a)}–{readable(b)}" for a, b in zip(edges[:-1], edges[1:], strict=True)]
    return pd.DataFrame({"label": labels, "low": edges[:-1], "high": edges[1:], "interactions": counts,
                         "share": counts / max(1, counts.sum())})


def readable(value: float) -> str:
    """A number as people write it, never in scientific notation: ``1120 -> "1,120"``, ``3.25 -> "3.25"``,
    ``0.0042 -> "0.0042"``, ``2.5e6 -> "2,500,000"``."""
    value = float(value)
    if value == round(value) or abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{value:.3g}" if abs(value) >= 1e-3 else f"{value:.6f}".rstrip("0").rstrip(".")


_PERIODS = (("day", "D", 86_400), ("week", "W", 7 * 86_400), ("month", "MS", 30 * 86_400),
            ("year", "YS", 365 * 86_400))
_BLOCK = 1 << 22  # rows handled at a time: memory stays small whatever the number of interactions


def _period_codes(stamps: np.ndarray, freq: str) -> np.ndarray:
    """Each timestamp's period as an integer in its numpy unit: days (day; for week the day of the
    Monday starting it), months, or years since 1970."""
    if freq in ("D", "W"):
        days = np.floor_divide(stamps, 86_400)
        return days - (days + 3) % 7 if freq == "W" else days  # 1970-01-01 was a Thursday
    unit = "M" if freq == "MS" else "Y"
    return stamps.astype("datetime64[s]").astype(f"datetime64[{unit}]").astype(np.int64)


def activity_over_time(users: np.ndarray, timestamps: np.ndarray | None, max_points: int = 300) -> tuple[pd.DataFrame, str] | None:
    """Interactions and distinct active users per period: columns ``period`` (start, a timestamp),
    ``interactions``, ``active_users``. The period (day, week, month or year) is the finest that gives
    at most ``max_points`` rows; it is returned alongside. None without timestamps. Weeks start on
    Monday; periods are in UTC."""
    if timestamps is None or len(timestamps) == 0:
        return None
    stamps = np.asarray(timestamps, dtype=np.int64)
    users = np.asarray(users)
    first, last = int(stamps.min()), int(stamps.max())
    name, freq = "year", "YS"
    for candidate, code, seconds in _PERIODS:
        if (last - first) / seconds <= max_points:
            name, freq = candidate, code
            break
    step = 7 if freq == "W" else 1
    low, high = (int(c) for c in _period_codes(np.array([first, last], dtype=np.int64), freq))
    n_periods = (high - low) // step + 1
    n_users = int(users.max()) + 1 if len(users) else 0
    interactions = np.zeros(n_periods, np.int64)
    # who was active when: a periods x users bitmap when small enough, else the distinct pairs
    seen = np.zeros((n_periods, n_users), bool) if n_periods * n_users <= 200_000_000 else None
    pairs: list[np.ndarray] = []
    for start in range(0, len(stamps), _BLOCK):
        period = (_period_codes(stamps[start: start + _BLOCK], freq) - low) // step
        interactions += np.bincount(period, minlength=n_periods)
        who = users[start: start + _BLOCK]
        if seen is not None:
            seen[period, who] = True
        else:
            pairs.append(np.unique(period * n_users + who))
    if seen is not None:
        active = seen.sum(axis=1)
    else:
        active = np.bincount(np.unique(np.concatenate(pairs)) // n_users, minlength=n_periods)
    unit = "D" if freq in ("D", "W") else ("M" if freq == "MS" else "Y")
    starts = (low + step * np.arange(n_periods)).astype(f"datetime64[{unit}]").astype("datetime64[ns]")
    out = pd.DataFrame({"period": starts, "interactions": interactions, "active_users": active.astype(np.int64)})
    return out, name


def profile_frames(inter: Interactions) -> dict[str, Any]:
    """Everything the Data page draws about ``inter``:

    ``users`` / ``items``: :func:`count_histogram` of interactions per user / per item;
    ``long_tail``: :func:`long_tail` of item popularity; ``head_share``: share of interactions going to
    the popular items (top ``head_percent``% by interactions, :mod:`recsys.popularity_bands`); ``values``: :func:`value_distribution` (None without values); ``value_kind``:
    ``"rating"`` or ``"weight"``; ``time``: :func:`activity_over_time` frame (None without timestamps)
    and ``time_period`` its period name; ``medians``: median interactions per user and per item.
    """
    user_counts = inter.user_counts()
    item_counts = inter.item_counts()
    timeline = activity_over_time(inter.users, inter.timestamps)
    return {
        "users": count_histogram(user_counts),
        "items": count_histogram(item_counts),
        "long_tail": long_tail(item_counts),
        "head_share": head_share(item_counts),
        "head_percent": HEAD_PERCENT,
        "values": value_distribution(inter.values),
        "value_kind": "rating" if inter.explicit else "weight",
        "time": None if timeline is None else timeline[0],
        "time_period": None if timeline is None else timeline[1],
        "medians": {
            "per_user": float(np.median(user_counts[user_counts > 0])) if user_counts.any() else 0.0,
            "per_item": float(np.median(item_counts[item_counts > 0])) if item_counts.any() else 0.0,
        },
    }
