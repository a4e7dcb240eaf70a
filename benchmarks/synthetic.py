"""Synthetic implicit-feedback data with power-law item popularity and per-user activity.

``generate`` returns parallel arrays ``(users, items)`` of unique (user, item) pairs, sorted by user then
item, in which

* item ``j`` is drawn with probability proportional to ``rank_j ** -item_alpha`` (Zipf-like popularity;
  ranks are a random permutation of ``1..n_items``, so item numbers say nothing about popularity), and
* user ``u`` gets a number of interactions proportional to ``rank_u ** -user_alpha`` (every user at least
  one, none more than ``max_user_fraction`` of the catalogue).

Everything is vectorised (10M interactions take seconds). ``save``/``load`` write and read the same
arrays as ``.npz`` (plain arrays, no pickle) or ``.csv`` (columns ``user,item``), which is what both
libraries in the benchmarks read.

Command line::

    python -m benchmarks.synthetic --users 200000 --items 50000 --interactions 10000000 --out data.npz
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

DEFAULT_USER_ALPHA = 0.6
DEFAULT_ITEM_ALPHA = 0.9
UNIFORM_AFTER_ROUNDS = 8  # later top-up rounds draw uniformly: the rare leftovers of heavy users
MAX_ROUNDS = 64
HEAVY_USER_DIVISOR = 32  # users with more than n_items / 32 items are drawn in one catalogue pass


def shape_for(n_interactions: int) -> tuple[int, int]:
    """The (n_users, n_items) the benchmarks use for a given size: 50 interactions per user on average
    and 4 users per item (10M interactions -> 200k users x 50k items), at least 1,000 items (so that
    small sizes still fit every user under the activity cap)."""
    return max(1, n_interactions // 50), max(1_000, n_interactions // 200)


def user_activity(
    n_users: int, n_items: int, n_interactions: int, rng: np.random.Generator,
    user_alpha: float = DEFAULT_USER_ALPHA, max_user_fraction: float = 0.2,
) -> np.ndarray:
    """Interactions per user (int64, sums to ``n_interactions``): a power law in a random user order,
    at least 1 each (when there are enough interactions) and at most ``max_user_fraction * n_items``."""
    cap = max(1, int(max_user_fraction * n_items))
    if n_interactions > n_users * cap:
        raise ValueError(
            f"{n_interactions} interactions do not fit {n_users} users with at most {cap} items each: "
            "use more users or items, or a larger max_user_fraction."
        )
    weights = (rng.permutation(n_users) + 1.0) ** -user_alpha
    base = 1 if n_interactions >= n_users else 0
    counts = base + rng.multinomial(n_interactions - base * n_users, weights / weights.sum())
    while True:  # move the overflow of capped users to the others, in proportion to their weight
        overflow = int(np.clip(counts - cap, 0, None).sum())
        if overflow == 0:
            return counts.astype(np.int64)
        counts = np.minimum(counts, cap)
        open_weights = np.where(counts < cap, weights, 0.0)
        counts = counts + rng.multinomial(overflow, open_weights / open_weights.sum())


def generate(
    n_users: int,
    n_items: int,
    n_interactions: int,
    seed: int = 0,
    user_alpha: float = DEFAULT_USER_ALPHA,
    item_alpha: float = DEFAULT_ITEM_ALPHA,
    max_user_fraction: float = 0.2,
) -> tuple[np.ndarray, np.ndarray]:
    """``n_interactions`` unique (user, item) pairs as int32 arrays sorted by user, then item.

    Each user's items are a weighted sample without replacement from the Zipf-like popularity. Light
    users draw with replacement and keep their first distinct draws (drawing again, with a growing
    oversampling factor, while short); heavy users (more than ``n_items / HEAVY_USER_DIVISOR`` items)
    take the smallest exponential keys ``E_j / p_j`` (Efraimidis-Spirakis), one pass over the catalogue
    each. The result depends only on the arguments (``seed`` included).
    """
    if min(n_users, n_items) < 1 or n_interactions < 0:
        raise ValueError("n_users and n_items must be positive and n_interactions non-negative")
    rng = np.random.default_rng(seed)
    need = user_activity(n_users, n_items, n_interactions, rng, user_alpha, max_user_fraction)
    popularity = (rng.permutation(n_items) + 1.0) ** -item_alpha
    popularity /= popularity.sum()
    heavy = need > max(1, n_items // HEAVY_USER_DIVISOR)
    light_need = np.where(heavy, 0, need)
    chunks = [_draw_light(light_need, popularity, rng), _draw_heavy(np.where(heavy, need, 0), popularity, rng)]
    keys = np.sort(np.concatenate(chunks))
    return (keys // n_items).astype(np.int32), (keys % n_items).astype(np.int32)


def _draw_light(need: np.ndarray, popularity: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Keys ``user * n_items + item``: ``need[u]`` distinct items per user, the first distinct ones of
    draws with replacement (so in the order a weighted sample without replacement would give them)."""
    n_users, n_items = len(need), len(popularity)
    cdf = np.cumsum(popularity)
    kept: list[np.ndarray] = []
    have = np.zeros(n_users, np.int64)
    factor = 1.15
    for round_ in range(MAX_ROUNDS):
        deficit = need - have
        active = np.flatnonzero(deficit > 0)
        if len(active) == 0:
            return np.concatenate(kept) if kept else np.empty(0, np.int64)
        draws = np.ceil(deficit[active] * factor).astype(np.int64) + 1
        users = np.repeat(active, draws)  # grouped by user, ascending
        if round_ < UNIFORM_AFTER_ROUNDS:
            items = np.searchsorted(cdf, rng.random(len(users)) * cdf[-1], side="right")
            np.minimum(items, n_items - 1, out=items)
        else:
            items = rng.integers(0, n_items, len(users))
        keys = users * np.int64(n_items) + items
        _, first = np.unique(keys, return_index=True)
        is_first = np.zeros(len(keys), bool)
        is_first[first] = True
        fresh = keys[is_first]  # each pair once, in draw order (still grouped by user)
        if kept:
            held = np.concatenate(kept)
            held = np.sort(held[np.isin(held // n_items, active)])
            fresh = fresh[~_sorted_contains(held, fresh)]
        fresh_users = fresh // n_items
        rank_in_user = np.arange(len(fresh)) - np.searchsorted(fresh_users, fresh_users, side="left")
        take = fresh[rank_in_user < deficit[fresh_users]]
        kept.append(take)
        have += np.bincount(take // n_items, minlength=n_users)
        factor *= 2.0
    raise RuntimeError("could not draw enough distinct items; lower item_alpha or max_user_fraction")


def _draw_heavy(need: np.ndarray, popularity: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Keys ``user * n_items + item`` for users with ``need > 0``: the ``need[u]`` items with the
    smallest ``Exp(1) / p_j`` (a weighted sample without replacement), a block of users at a time."""
    n_items = len(popularity)
    users = np.flatnonzero(need > 0)
    block = max(1, 2**24 // n_items)
    out: list[np.ndarray] = []
    for start in range(0, len(users), block):
        batch = users[start : start + block]
        keys = rng.exponential(size=(len(batch), n_items)) / popularity
        for row, user in enumerate(batch):
            chosen = np.argpartition(keys[row], need[user] - 1)[: need[user]]
            out.append(user * np.int64(n_items) + chosen)
    return np.concatenate(out) if out else np.empty(0, np.int64)


def _sorted_contains(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Whether each of ``keys`` is in the sorted array ``sorted_keys``."""
    if len(sorted_keys) == 0:
        return np.zeros(len(keys), bool)
    pos = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return sorted_keys[pos] == keys


def to_csr(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int) -> sp.csr_matrix:
    """The users x items matrix of ones (float32, sorted indices) that both libraries train on."""
    m = sp.csr_matrix(
        (np.ones(len(users), np.float32), (users, items)), shape=(n_users, n_items), dtype=np.float32
    )
    m.sort_indices()
    return m


def to_interactions(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int):
    """A :class:`recsys.data.Interactions` with ids ``0..n-1`` (every user and item kept, even unseen)."""
    from recsys.data import Interactions

    return Interactions(
        users=users.astype(np.int32), items=items.astype(np.int32),
        user_ids=np.arange(n_users), item_ids=np.arange(n_items),
    )


ARTIST_WORDS = (
    "Velvet", "Echo", "Northern", "Paper", "Silver", "Hollow", "Neon", "Quiet", "Wild", "Golden", "Broken",
    "Electric", "Midnight", "Crystal", "Lonely", "Burning", "Static", "Violet", "Iron", "Ocean",
)
ARTIST_NOUNS = (
    "Lights", "Harbour", "Foxes", "Machines", "Sisters", "Orchestra", "Wolves", "Parade", "Club", "Pilots",
    "Garden", "Collective", "Radio", "Satellites", "Choir", "Kids", "Tigers", "Riot", "Engines", "Ghosts",
)


def listening_log(
    n_users: int = 2_000, n_items: int = 15_000, n_interactions: int = 100_000, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A music listening log of play counts and its artist catalogue, shaped like public Last.fm
    extracts (about 50 artists per listener, a long tail of artists). Returns ``(plays, artists)``:
    ``plays`` has columns ``userID, artistID, weight`` (play counts, 1 to tens of thousands, heavy
    tailed); ``artists`` has ``id, name`` only (names such as "Velvet Harbour 12": no tags, genres or
    descriptions). Deterministic for a ``seed``."""
    users, items = generate(n_users, n_items, n_interactions, seed=seed)
    rng = np.random.default_rng(seed + 1)
    plays = np.maximum(1, np.round(rng.lognormal(mean=5.0, sigma=1.6, size=len(users)))).astype(np.int64)
    log = pd.DataFrame({"userID": users.astype(np.int64) + 2, "artistID": items.astype(np.int64) + 1, "weight": plays})
    names = [
        f"{ARTIST_WORDS[i % len(ARTIST_WORDS)]} {ARTIST_NOUNS[(i // len(ARTIST_WORDS)) % len(ARTIST_NOUNS)]}"
        + (f" {i // (len(ARTIST_WORDS) * len(ARTIST_NOUNS))}" if i >= len(ARTIST_WORDS) * len(ARTIST_NOUNS) else "")
        for i in range(n_items)
    ]
    artists = pd.DataFrame({"id": np.arange(1, n_items + 1), "name": names})
    return log, artists


def save(path: str | Path, users: np.ndarray, items: np.ndarray, n_users: int, n_items: int) -> Path:
    """Write ``.npz`` (arrays ``users, items, n_users, n_items``) or ``.csv`` (header ``user,item``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        pd.DataFrame({"user": users, "item": items}).to_csv(path, index=False)
    else:
        np.savez(path, users=users, items=items, n_users=np.int64(n_users), n_items=np.int64(n_items))
    return path


def load(path: str | Path) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Read what :func:`save` wrote: ``(users, items, n_users, n_items)``. A CSV's sizes are
    ``max + 1`` of its columns."""
    path = Path(path)
    if path.suffix == ".csv":
        frame = pd.read_csv(path, dtype={"user": np.int32, "item": np.int32})
        users, items = frame["user"].to_numpy(), frame["item"].to_numpy()
        return users, items, int(users.max()) + 1, int(items.max()) + 1
    with np.load(path, allow_pickle=False) as npz:
        return npz["users"], npz["items"], int(npz["n_users"]), int(npz["n_items"])


def describe(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int) -> dict[str, float]:
    """Shape statistics: density, activity per user, the share of the 1% most popular items, and the
    fitted log-log slope of item popularity against rank over the middle ranks (about ``-item_alpha``
    where popular items are not saturated)."""
    item_counts = np.sort(np.bincount(items, minlength=n_items))[::-1]
    user_counts = np.bincount(users, minlength=n_users)
    top = max(1, n_items // 100)
    return {
        "interactions": int(len(users)),
        "users": int(n_users),
        "items": int(n_items),
        "density": len(users) / (n_users * n_items),
        "mean_per_user": float(user_counts.mean()),
        "max_per_user": int(user_counts.max()),
        "items_never_seen": int((item_counts == 0).sum()),
        "top1pct_item_share": float(item_counts[:top].sum() / max(1, len(users))),
        "item_rank_slope": popularity_slope(item_counts),
    }


def popularity_slope(counts_desc: np.ndarray, low: float = 0.01, high: float = 0.3) -> float:
    """Least-squares slope of log(count) against log(rank) for ranks in ``[low, high]`` of the items
    (``counts_desc`` sorted descending; zero counts ignored)."""
    n = len(counts_desc)
    ranks = np.arange(1, n + 1)
    pick = (ranks >= max(2, int(low * n))) & (ranks <= max(3, int(high * n))) & (counts_desc > 0)
    if pick.sum() < 3:
        return float("nan")
    return float(np.polyfit(np.log(ranks[pick]), np.log(counts_desc[pick]), 1)[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, help="default: interactions / 50")
    parser.add_argument("--items", type=int, help="default: interactions / 200")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--user-alpha", type=float, default=DEFAULT_USER_ALPHA)
    parser.add_argument("--item-alpha", type=float, default=DEFAULT_ITEM_ALPHA)
    parser.add_argument("--out", help="write .npz or .csv here")
    args = parser.parse_args(argv)
    default_users, default_items = shape_for(args.interactions)
    n_users, n_items = args.users or default_users, args.items or default_items
    started = time.perf_counter()
    users, items = generate(n_users, n_items, args.interactions, args.seed, args.user_alpha, args.item_alpha)
    stats = describe(users, items, n_users, n_items)
    stats["seconds"] = round(time.perf_counter() - started, 2)
    if args.out:
        stats["written"] = str(save(args.out, users, items, n_users, n_items))
    print(json.dumps(stats, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
