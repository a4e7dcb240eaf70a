"""Train/test splits for offline evaluation, all returning :class:`Split` in the input's numbering.

Every protocol first decides, row by row, which interactions to hide (the *test* candidates); one shared
step (:func:`_finish`) then removes from the test set what no model could be asked to find, and counts it:

* test rows of a user with no training interactions left (a *cold user*);
* test rows of an item that never appears in training (a *cold item*);
* test rows whose (user, item) pair also appears in training (a *repeat*, possible only when the input
  has duplicate pairs, e.g. a listening log): ranking excludes training items, so it could never be found.

Dropped rows go nowhere (neither train nor test). ``Split.report`` holds the counts as numbers and, under
``"notes"``, as plain sentences for the dashboard. All splits are deterministic for a given ``seed`` and
vectorised (sorting plus per-user ranks; no Python loop over users or rows).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recsys.data import DataError, Interactions

PROTOCOLS = ("random", "temporal", "global_temporal", "loo", "users")

PROTOCOL_DESCRIPTIONS: dict[str, str] = {
    "random": "Hides a random share of each user's interactions (20% by default) and asks the model to "
    "find them again.",
    "temporal": "Hides each user's most recent interactions (the last 20% by default): can the model "
    "predict what each person did next?",
    "global_temporal": "Trains on everything before one cut-off date and tests on what happened after it, "
    "the way a model is really used.",
    "loo": "Hides one interaction per user (the latest one, or a random one when there are no timestamps) "
    "and checks whether it comes back in the top K.",
    "users": "Holds out whole users: the model sees only part of each held-out person's history (half by "
    "default) and must find the rest, like a newcomer.",
}


@dataclass(eq=False)
class Split:
    """A train/test pair sharing the input's user and item numbering.

    ``report`` is JSON-able: row and user counts, what was dropped from the test set and why
    (``dropped_test_rows_cold_users``, ``dropped_test_rows_cold_items``, ``dropped_test_rows_repeats``,
    ``users_too_few_to_split``...), the protocol's options, and ``notes``: the same in plain sentences.
    ``held_out_users`` is set by the ``"users"`` protocol only (the user numbers held out).
    """

    train: Interactions
    test: Interactions
    protocol: str
    report: dict[str, Any] = field(default_factory=dict)
    held_out_users: np.ndarray | None = None

    @property
    def test_users(self) -> np.ndarray:
        """User numbers with at least one test interaction (sorted)."""
        return np.flatnonzero(np.bincount(self.test.users, minlength=self.test.n_users))

    def describe(self) -> str:
        """One paragraph in plain words: the protocol and what was dropped."""
        head = PROTOCOL_DESCRIPTIONS.get(self.protocol, self.protocol)
        return " ".join([head, *self.report.get("notes", [])])

    def fingerprint(self) -> str:
        """A short hash of the test set: equal for two splits that hide exactly the same rows."""
        digest = hashlib.sha1()
        digest.update(np.asarray([self.test.n_users, self.test.n_items], np.int64).tobytes())
        digest.update(np.ascontiguousarray(self.test.users, np.int64).tobytes())
        digest.update(np.ascontiguousarray(self.test.items, np.int64).tobytes())
        return digest.hexdigest()[:12]


# -- helpers -----------------------------------------------------------------------------------------


def _ranks_within_user(users: np.ndarray, order: np.ndarray, n_users: int) -> tuple[np.ndarray, np.ndarray]:
    """For rows sorted by ``order`` (grouped by user), each row's 0-based position within its user, in the
    original row order; plus the number of rows of each user."""
    counts = np.bincount(users, minlength=n_users)
    starts = np.cumsum(counts) - counts
    sorted_users = users[order]
    rank_sorted = np.arange(len(users), dtype=np.int64) - starts[sorted_users]
    rank = np.empty(len(users), dtype=np.int64)
    rank[order] = rank_sorted
    return rank, counts


def _random_order(users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row order grouped by user, random within a user: one sort of ``user + uniform[0, 1)`` (the
    default introsort is deterministic for the same keys, and the fastest numpy sort here)."""
    return np.argsort(users.astype(np.float64) + rng.random(len(users)))


def _time_order(users: np.ndarray, timestamps: np.ndarray) -> np.ndarray:
    """Row order grouped by user, oldest first within a user (ties keep row order)."""
    if len(users) == 0:
        return np.zeros(0, dtype=np.int64)
    offset = timestamps.astype(np.int64) - timestamps.min()
    if offset.max() < 2**32:  # one stable sort of (user, time) packed in an int64: twice as fast
        return np.argsort((users.astype(np.int64) << 32) | offset, kind="stable")
    by_time = np.argsort(timestamps, kind="stable")
    return by_time[np.argsort(users[by_time], kind="stable")]


def _holdout_counts(counts: np.ndarray, fraction: float) -> np.ndarray:
    """Test rows per user: ``fraction`` of the user's rows rounded half up, at least 1 and at most all
    but one; 0 for users with fewer than 2 rows."""
    wanted = np.floor(fraction * counts + 0.5).astype(np.int64)
    n_test = np.clip(wanted, 1, np.maximum(counts - 1, 1))
    return np.where(counts >= 2, n_test, 0)


def _check_fraction(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 < value < 1.0:
        raise DataError(f"{name} must be between 0 and 1 (exclusive), got {value}.")
    return value


def _need_timestamps(inter: Interactions, protocol: str) -> np.ndarray:
    if inter.timestamps is None:
        raise DataError(
            f"The {protocol} split needs timestamps and this data has none: pick the random split, or "
            "name the time column when loading the file."
        )
    return inter.timestamps


def _too_few_note(report: dict[str, Any], counts: np.ndarray) -> None:
    few = int(np.sum((counts > 0) & (counts < 2)))
    report["users_too_few_to_split"] = few
    if few:
        report["notes"].append(
            f"{few:,} users with a single interaction keep it in training (nothing left to test them on)."
        )


def _distinct(numbers: np.ndarray, size: int) -> int:
    """How many distinct values among dense numbers ``0..size-1`` (a bincount; no hashing or sorting)."""
    return int(np.count_nonzero(np.bincount(numbers, minlength=size)))


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _repeats(inter: Interactions, is_test: np.ndarray, test_rows: np.ndarray) -> np.ndarray:
    """For each test row, whether its (user, item) pair also has a training row. One sort of all
    (pair, is_test) keys finds the pairs shared by both sides; usually there are none (a load combines
    duplicate pairs), and only then are test rows looked up among those few pairs."""
    keys = inter.users.astype(np.int64) * inter.n_items + inter.items
    packed = np.sort((keys << 1) | is_test)  # within a pair, training rows (bit 0) sort first
    pair = packed >> 1
    first_of_pair = np.ones(len(packed), dtype=bool)
    first_of_pair[1:] = pair[1:] != pair[:-1]
    starts = np.flatnonzero(first_of_pair)
    pair_has_train = (packed[starts] & 1) == 0
    pair_has_test = np.logical_or.reduceat(packed & 1, starts).astype(bool) if len(starts) else starts
    shared = pair[starts][pair_has_train & pair_has_test]
    if len(shared) == 0:
        return np.zeros(len(test_rows), dtype=bool)
    test_keys = keys[test_rows]
    found = np.minimum(np.searchsorted(shared, test_keys), len(shared) - 1)
    return shared[found] == test_keys


def _finish(
    inter: Interactions,
    is_test: np.ndarray,
    protocol: str,
    report: dict[str, Any],
    held_out_users: np.ndarray | None = None,
) -> Split:
    """Cut ``inter`` into train (rows not hidden) and test (hidden rows a model could find), counting the
    hidden rows dropped for cold users, cold items and repeats (in that order of blame)."""
    n_items = inter.n_items
    train = inter.subset(~is_test)
    test_rows = np.flatnonzero(is_test)
    t_users, t_items = inter.users[test_rows], inter.items[test_rows]

    user_in_train = np.bincount(train.users, minlength=inter.n_users) > 0
    item_in_train = np.bincount(train.items, minlength=n_items) > 0
    cold_user = ~user_in_train[t_users]
    cold_item = ~item_in_train[t_items] & ~cold_user
    repeat = _repeats(inter, is_test, test_rows) & ~cold_user & ~cold_item
    keep = ~(cold_user | cold_item | repeat)
    test = inter.subset(test_rows[keep])

    notes: list[str] = report.setdefault("notes", [])
    report.update(
        protocol=protocol,
        rows=len(inter),
        train_rows=len(train),
        test_rows=len(test),
        train_users=int(user_in_train.sum()),
        test_users=_distinct(test.users, inter.n_users),
        hidden_rows=int(len(test_rows)),
        dropped_test_rows_cold_users=int(cold_user.sum()),
        cold_users=_distinct(t_users[cold_user], inter.n_users),
        dropped_test_rows_cold_items=int(cold_item.sum()),
        cold_items=_distinct(t_items[cold_item], n_items),
        dropped_test_rows_repeats=int(repeat.sum()),
    )
    if cold_user.any():
        notes.append(
            f"{_plural(report['cold_users'], 'user')} had no interactions left for training, so their "
            f"{_plural(report['dropped_test_rows_cold_users'], 'test interaction')} were dropped."
        )
    if cold_item.any():
        notes.append(
            f"{_plural(report['dropped_test_rows_cold_items'], 'test interaction')} with "
            f"{_plural(report['cold_items'], 'item')} never seen in training were dropped (no model can "
            "recommend an item it has never seen)."
        )
    if repeat.any():
        notes.append(
            f"{_plural(report['dropped_test_rows_repeats'], 'test interaction')} repeated a pair already in "
            "training and were dropped (training items are never recommended again)."
        )
    if len(test) == 0:
        notes.append("The test set is empty: there is nothing to evaluate on with this protocol.")
    notes.insert(
        0,
        f"Training on {len(train):,} interactions; testing on {len(test):,} interactions of "
        f"{report['test_users']:,} users.",
    )
    return Split(train=train, test=test, protocol=protocol, report=report, held_out_users=held_out_users)


# -- protocols ---------------------------------------------------------------------------------------


def random_split(inter: Interactions, test_fraction: float = 0.2, seed: int = 42) -> Split:
    """Per-user random holdout: each user with at least 2 interactions has ``test_fraction`` of them
    (rounded half up, at least 1, never all) hidden at random; users with one interaction keep it in
    training (counted as ``users_too_few_to_split``)."""
    fraction = _check_fraction("test_fraction", test_fraction)
    rng = np.random.default_rng(seed)
    rank, counts = _ranks_within_user(inter.users, _random_order(inter.users, rng), inter.n_users)
    is_test = rank < _holdout_counts(counts, fraction)[inter.users]
    report: dict[str, Any] = {"test_fraction": fraction, "seed": int(seed), "notes": []}
    _too_few_note(report, counts)
    return _finish(inter, is_test, "random", report)


def temporal_split(inter: Interactions, test_fraction: float = 0.2, last_n: int | None = None) -> Split:
    """Per-user by time: each user's most recent ``last_n`` interactions (or latest ``test_fraction``,
    rounded half up, at least 1, never all) are hidden. Within a user, every test event is at or after
    every training event (equal timestamps are ordered by row). Users with one interaction keep it."""
    stamps = _need_timestamps(inter, "temporal")
    rank, counts = _ranks_within_user(inter.users, _time_order(inter.users, stamps), inter.n_users)
    if last_n is not None:
        if int(last_n) < 1:
            raise DataError(f"last_n must be at least 1, got {last_n}.")
        n_test = np.where(counts >= 2, np.minimum(int(last_n), counts - 1), 0)
        report: dict[str, Any] = {"last_n": int(last_n), "notes": []}
    else:
        n_test = _holdout_counts(counts, _check_fraction("test_fraction", test_fraction))
        report = {"test_fraction": float(test_fraction), "notes": []}
    is_test = rank >= (counts - n_test)[inter.users]
    _too_few_note(report, counts)
    return _finish(inter, is_test, "temporal", report)


def global_temporal_split(
    inter: Interactions, cutoff: int | float | str | None = None, quantile: float = 0.8
) -> Split:
    """One cut-off time for everyone: interactions at or before ``cutoff`` train, later ones test.

    ``cutoff`` is seconds since the epoch or a date text (``"2018-01-01"``); when omitted it is the
    ``quantile`` of all timestamps (lower value), so about ``1 - quantile`` of rows are tested. Users
    who only appear after the cut-off are cold users and dropped from the test set (counted)."""
    stamps = _need_timestamps(inter, "global temporal")
    if cutoff is None:
        q = _check_fraction("quantile", quantile)
        cut = int(np.quantile(stamps, q, method="lower")) if len(stamps) else 0
        report: dict[str, Any] = {"quantile": q, "notes": []}
    else:
        if isinstance(cutoff, str):
            cut = int(pd.Timestamp(cutoff).timestamp())
        else:
            cut = int(cutoff)
        report = {"notes": []}
    report["cutoff"] = cut
    report["cutoff_date"] = pd.Timestamp(cut, unit="s").isoformat()
    is_test = stamps > cut
    report["notes"].append(f"Cut-off: {report['cutoff_date']}; later interactions are tested.")
    return _finish(inter, is_test, "global_temporal", report)


def leave_one_out(inter: Interactions, last: bool = True, seed: int = 42) -> Split:
    """One hidden interaction per user with at least 2: the latest one when ``last`` and the data has
    timestamps (equal timestamps ordered by row), otherwise one chosen at random with ``seed``."""
    by_time = bool(last) and inter.timestamps is not None
    if by_time:
        order = _time_order(inter.users, inter.timestamps)
    else:
        order = _random_order(inter.users, np.random.default_rng(seed))
    rank, counts = _ranks_within_user(inter.users, order, inter.n_users)
    is_test = (rank == counts[inter.users] - 1) & (counts[inter.users] >= 2)
    report: dict[str, Any] = {"by_time": by_time, "seed": int(seed), "notes": []}
    if not by_time and last:
        report["notes"].append("No timestamps, so each user's hidden interaction was picked at random.")
    _too_few_note(report, counts)
    return _finish(inter, is_test, "loo", report)


def user_split(
    inter: Interactions, test_users_fraction: float = 0.2, input_fraction: float = 0.5, seed: int = 42
) -> Split:
    """Strong generalisation: whole users are held out.

    ``test_users_fraction`` of the users with at least 2 interactions (rounded half up, at least 1) are
    drawn at random. Every interaction of the other users goes to training. For each held-out user,
    ``input_fraction`` of their interactions (drawn at random, rounded half up, at least 1, never all)
    are the *input*: they are put in ``train`` too, so a model sees them (as it would see a newcomer's
    first clicks) and ranking excludes them; the rest are the *test* rows. The held-out user numbers are
    in ``Split.held_out_users``; ``report["input_rows"]`` counts the input rows.
    """
    users_fraction = _check_fraction("test_users_fraction", test_users_fraction)
    given = _check_fraction("input_fraction", input_fraction)
    rng = np.random.default_rng(seed)
    counts = np.bincount(inter.users, minlength=inter.n_users)
    eligible = np.flatnonzero(counts >= 2)
    n_hold = int(np.floor(users_fraction * len(eligible) + 0.5))
    n_hold = min(len(eligible), max(1, n_hold)) if len(eligible) else 0
    held = np.sort(rng.permutation(eligible)[:n_hold])
    is_held = np.zeros(inter.n_users, dtype=bool)
    is_held[held] = True

    rank, _ = _ranks_within_user(inter.users, _random_order(inter.users, rng), inter.n_users)
    n_input = np.clip(np.floor(given * counts + 0.5).astype(np.int64), 1, np.maximum(counts - 1, 1))
    is_test = is_held[inter.users] & (rank >= n_input[inter.users])
    report: dict[str, Any] = {
        "test_users_fraction": users_fraction,
        "input_fraction": given,
        "seed": int(seed),
        "held_out_users": int(n_hold),
        "input_rows": int(np.sum(is_held[inter.users] & ~is_test)),
        "notes": [],
    }
    report["notes"].append(
        f"{_plural(n_hold, 'user')} held out; {report['input_rows']:,} of their interactions are given to "
        "the model as input and the rest are tested."
    )
    _too_few_note(report, counts)
    return _finish(inter, is_test, "users", report, held_out_users=held)


def make_split(inter: Interactions, protocol: str, seed: int = 42, **options: Any) -> Split:
    """Split by protocol name (``"random" | "temporal" | "global_temporal" | "loo" | "users"``);
    ``options`` go to the protocol's function (e.g. ``test_fraction=0.1``, ``last_n=5``). ``seed`` is
    ignored by the protocols that involve no chance (temporal, global_temporal)."""
    if protocol == "random":
        return random_split(inter, seed=seed, **options)
    if protocol == "temporal":
        return temporal_split(inter, **options)
    if protocol == "global_temporal":
        return global_temporal_split(inter, **options)
    if protocol == "loo":
        return leave_one_out(inter, seed=seed, **options)
    if protocol == "users":
        return user_split(inter, seed=seed, **options)
    raise DataError(f"Unknown split {protocol!r}. Choose one of: {', '.join(PROTOCOLS)}.")
