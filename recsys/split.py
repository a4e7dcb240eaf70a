"""Three-way splits for offline evaluation, all returning :class:`Split` in the input's numbering.

Every protocol cuts the data in three parts, the same way twice:

* the **test** part: what the run is scored on, once, when training has ended;
* the **validation** part: carved out of what is left by the same kind of split (same rule, seeded from
  the same seed), used for the per-epoch curves, early stopping and tuning;
* the **fit-train** part: the rest, the only rows a model learns from before it is scored.

``Split.train`` is fit-train plus validation (everything a model may see before the test). For the
``"users"`` protocol the test people are not in ``train`` at all: part of each one's history is the
*input* (``Split.test_input``) a model folds in when scoring them, and the validation people are held
out of fit-train the same way (``Split.validation_input``).

One shared step (:func:`_finish`) removes from the test set what no model could be asked to find, and
counts it:

* test rows of a user with no training interactions left (a *cold user*);
* test rows of an item that never appears in training (a *cold item*);
* test rows whose (user, item) pair also appears in training (a *repeat*, possible only when the input
  has duplicate pairs, e.g. a listening log): ranking excludes training items, so it could never be found.

Dropped test rows go nowhere (neither train nor test). Validation rows that could not be found either
go back into fit-train, so fit-train plus validation is exactly ``train`` (the ``"users"`` protocol
drops them instead, to keep the validation people out of fit-train). ``Split.report`` holds the counts
as numbers and, under ``"notes"``, as plain sentences for the dashboard. All splits are deterministic
for a given ``seed`` and vectorised (sorting plus per-user ranks; no Python loop over users or rows).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recsys.data import DataError, Interactions

PROTOCOLS = ("random", "temporal", "global_temporal", "loo", "users")
PROTOCOL_TITLES: dict[str, str] = {  # each split's short plain name, for people (never the key above)
    "random": "Random 20% of each person's interactions",
    "temporal": "Each person's most recent 20%",
    "global_temporal": "Everything after a cut-off date",
    "loo": "One interaction per person",
    "users": "Whole new people",
}
VALIDATION_FRACTION = 0.1  # share of the training part carved out for validation, by default

PROTOCOL_DESCRIPTIONS: dict[str, str] = {
    "random": "Hides a random 20% of each person's interactions to test on, and a random 10% of the rest "
    "to validate on while training; models learn from what is left. It tests taste, not time: a hidden "
    "item can be older than the ones learned from.",
    "temporal": "Hides each person's most recent interactions (their last 20%) to test on, and the 10% "
    "before those to validate on. Other people's later interactions stay in training, so a model can "
    "learn from events after someone's test items: for a strict \"what comes next\", use the global "
    "time split.",
    "global_temporal": "Trains on everything before one cut-off date and tests on what happened after it, "
    "the way a model is really used; the latest 10% of the time before the cut-off is used to validate on.",
    "loo": "Hides one interaction per person to test on (their latest, or a random one when there are no "
    "timestamps) and the one before it to validate on, and checks whether it comes back in the top K.",
    "users": "Holds out whole people (20% of them): models never train on them. Each is then given half "
    "of their history (like a newcomer's first clicks) and the model must find the rest without "
    "retraining. Another 10% of people are held out the same way to validate on. Only models that can "
    "take in a new person's history are offered.",
}


@dataclass(eq=False)
class Split:
    """Test, validation and fit-train parts sharing the input's user and item numbering.

    ``train`` is ``fit_train`` plus ``validation``: what a model may see before it is tested. Models
    learn from ``fit_train`` and are validated on ``validation`` while training; ``test`` is scored once
    at the end. For the ``"users"`` protocol, ``test_input`` and ``validation_input`` hold the held-out
    people's given history (folded in when they are scored; in no training part); otherwise both are
    None and people are scored from what they have in ``fit_train``.

    ``report`` is JSON-able: row and user counts of each part (``fit_train_rows``, ``validation_rows``,
    ``test_rows``, ``train_rows``...), what was dropped from the test set and why
    (``dropped_test_rows_cold_users``, ``dropped_test_rows_cold_items``, ``dropped_test_rows_repeats``,
    ``users_too_few_to_split``...), the protocol's options, and ``notes``: the same in plain sentences.
    ``held_out_users`` is set by the ``"users"`` protocol only (the test people's numbers).
    """

    train: Interactions
    test: Interactions
    protocol: str
    report: dict[str, Any] = field(default_factory=dict)
    held_out_users: np.ndarray | None = None
    validation: Interactions | None = None
    fit_train: Interactions | None = None
    test_input: Interactions | None = None
    validation_input: Interactions | None = None

    def __post_init__(self) -> None:
        if self.fit_train is None:  # a hand-made split without a validation part
            self.fit_train = self.train
        if self.validation is None:
            self.validation = self.train.subset(np.zeros(len(self.train), dtype=bool))

    @property
    def test_users(self) -> np.ndarray:
        """User numbers with at least one test interaction (sorted)."""
        return np.flatnonzero(np.bincount(self.test.users, minlength=self.test.n_users))

    @property
    def folds_in(self) -> bool:
        """True when test people are scored by fold-in of ``test_input`` (the ``"users"`` protocol)."""
        return self.test_input is not None

    @property
    def test_history(self) -> Interactions:
        """What is known of each test person when they are scored: their given input for the ``"users"``
        protocol, otherwise their training rows. Ranking leaves these items out."""
        return self.test_input if self.test_input is not None else self.train

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


def _validation_rng(seed: int) -> np.random.Generator:
    """The validation part's own random stream, seeded from the split's seed: carving it never changes
    which rows the test part hides."""
    return np.random.default_rng([int(seed), 1])


# -- which rows each protocol hides (the same rule serves the test and the validation part) ------------


def _random_hidden(inter: Interactions, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(rows hidden, rows per user): ``fraction`` of each user's rows at random (see :func:`_holdout_counts`)."""
    rank, counts = _ranks_within_user(inter.users, _random_order(inter.users, rng), inter.n_users)
    return rank < _holdout_counts(counts, fraction)[inter.users], counts


def _temporal_hidden(inter: Interactions, fraction: float, last_n: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(rows hidden, rows per user): each user's latest ``last_n`` rows, or latest ``fraction`` of them."""
    rank, counts = _ranks_within_user(inter.users, _time_order(inter.users, inter.timestamps), inter.n_users)
    if last_n is not None:
        n_hidden = np.where(counts >= 2, np.minimum(int(last_n), counts - 1), 0)
    else:
        n_hidden = _holdout_counts(counts, fraction)
    return rank >= (counts - n_hidden)[inter.users], counts


def _last_one_hidden(inter: Interactions, by_time: bool, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(rows hidden, rows per user): one row per user with at least 2, the latest or a random one."""
    order = _time_order(inter.users, inter.timestamps) if by_time else _random_order(inter.users, rng)
    rank, counts = _ranks_within_user(inter.users, order, inter.n_users)
    return (rank == counts[inter.users] - 1) & (counts[inter.users] >= 2), counts


def _people_hidden(
    inter: Interactions, users_fraction: float, given: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(target rows, input rows, held-out user numbers): ``users_fraction`` of the users with at least 2
    rows (rounded half up, at least 1) drawn at random; of each one's rows, ``given`` (rounded half up, at
    least 1, never all) drawn at random are the input and the rest the targets."""
    counts = np.bincount(inter.users, minlength=inter.n_users)
    eligible = np.flatnonzero(counts >= 2)
    n_hold = int(np.floor(users_fraction * len(eligible) + 0.5))
    n_hold = min(len(eligible), max(1, n_hold)) if len(eligible) else 0
    held = np.sort(rng.permutation(eligible)[:n_hold])
    is_held = np.zeros(inter.n_users, dtype=bool)
    is_held[held] = True
    rank, _ = _ranks_within_user(inter.users, _random_order(inter.users, rng), inter.n_users)
    n_input = np.clip(np.floor(given * counts + 0.5).astype(np.int64), 1, np.maximum(counts - 1, 1))
    is_target = is_held[inter.users] & (rank >= n_input[inter.users])
    return is_target, is_held[inter.users] & ~is_target, held


# -- the shared steps --------------------------------------------------------------------------------


def _finish(
    inter: Interactions,
    is_test: np.ndarray,
    protocol: str,
    report: dict[str, Any],
    held_out_users: np.ndarray | None = None,
    is_input: np.ndarray | None = None,
) -> Split:
    """Cut ``inter`` into train (rows neither hidden nor given as input) and test (hidden rows a model
    could find), counting the hidden rows dropped for cold users, cold items and repeats (in that order
    of blame). With ``is_input``, those rows are the held-out people's given history (``test_input``):
    a user is known when they have training or input rows; an item only when it is in training."""
    n_items = inter.n_items
    given = np.zeros(len(inter), dtype=bool) if is_input is None else is_input
    train = inter.subset(~is_test & ~given)
    test_rows = np.flatnonzero(is_test)
    t_users, t_items = inter.users[test_rows], inter.items[test_rows]

    user_in_train = np.bincount(train.users, minlength=inter.n_users) > 0
    user_known = user_in_train | (np.bincount(inter.users[given], minlength=inter.n_users) > 0)
    item_in_train = np.bincount(train.items, minlength=n_items) > 0
    cold_user = ~user_known[t_users]
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
    test_input = None if is_input is None else inter.subset(given)
    return Split(train=train, test=test, protocol=protocol, report=report, held_out_users=held_out_users,
                 test_input=test_input)


def _carve(split: Split, is_validation: np.ndarray) -> Split:
    """Set ``split``'s validation and fit-train parts from ``is_validation`` (a mask over ``split.train``).
    Validation rows no model could find (their user or item has no fit-train rows left, or their pair is
    also in fit-train) go back into fit-train, so fit-train plus validation is exactly ``train``."""
    train = split.train
    is_validation = is_validation.copy()
    rows = np.flatnonzero(is_validation)
    fit = ~is_validation
    user_in_fit = np.bincount(train.users[fit], minlength=train.n_users) > 0
    item_in_fit = np.bincount(train.items[fit], minlength=train.n_items) > 0
    back = ~user_in_fit[train.users[rows]] | ~item_in_fit[train.items[rows]]
    back |= _repeats(train, is_validation, rows)
    is_validation[rows[back]] = False
    split.fit_train, split.validation = train.subset(~is_validation), train.subset(is_validation)
    split.report["validation_rows_returned"] = int(back.sum())
    if back.any():
        split.report["notes"].append(
            f"{_plural(int(back.sum()), 'validation interaction')} of users or items with nothing else left "
            "to learn from stayed in training."
        )
    return _sized(split)


def _carve_people(split: Split, is_target: np.ndarray, is_input: np.ndarray, held: np.ndarray) -> Split:
    """Hold validation people (masks over ``split.train``) out of fit-train: their input rows become
    ``validation_input`` and their target rows ``validation``, less those with an item fit-train lacks
    or a pair in their own input (dropped, counted)."""
    train = split.train
    fit = ~(is_target | is_input)
    item_in_fit = np.bincount(train.items[fit], minlength=train.n_items) > 0
    rows = np.flatnonzero(is_target)
    dropped = ~item_in_fit[train.items[rows]] | _repeats(train, is_target, rows)
    keep = np.zeros(len(train), dtype=bool)
    keep[rows[~dropped]] = True
    split.fit_train = train.subset(fit)
    split.validation = train.subset(keep)
    split.validation_input = train.subset(is_input)
    split.report.update(
        validation_held_out_users=int(len(held)),
        validation_input_rows=int(is_input.sum()),
        dropped_validation_rows=int(dropped.sum()),
    )
    return _sized(split)


def _sized(split: Split) -> Split:
    """Add the three parts' sizes to the report, and one sentence saying them first in the notes."""
    report = split.report
    report.update(
        fit_train_rows=len(split.fit_train),
        validation_rows=len(split.validation),
        validation_users=_distinct(split.validation.users, split.validation.n_users),
    )
    report["notes"].insert(
        0,
        f"Learning from {report['fit_train_rows']:,} interactions; validating on "
        f"{report['validation_rows']:,} interactions of {report['validation_users']:,} users while training; "
        f"testing on {report['test_rows']:,} interactions of {report['test_users']:,} users once training ends.",
    )
    return split


# -- protocols ---------------------------------------------------------------------------------------


def random_split(
    inter: Interactions, test_fraction: float = 0.2, seed: int = 42, validation_fraction: float = VALIDATION_FRACTION
) -> Split:
    """Per-user random holdout: each user with at least 2 interactions has ``test_fraction`` of them
    (rounded half up, at least 1, never all) hidden at random for the test; users with one interaction
    keep it in training (counted as ``users_too_few_to_split``). The validation part is the same rule
    with ``validation_fraction`` on what is left."""
    fraction = _check_fraction("test_fraction", test_fraction)
    held = _check_fraction("validation_fraction", validation_fraction)
    is_test, counts = _random_hidden(inter, fraction, np.random.default_rng(seed))
    report: dict[str, Any] = {"test_fraction": fraction, "validation_fraction": held, "seed": int(seed), "notes": []}
    _too_few_note(report, counts)
    split = _finish(inter, is_test, "random", report)
    return _carve(split, _random_hidden(split.train, held, _validation_rng(seed))[0])


def temporal_split(
    inter: Interactions, test_fraction: float = 0.2, last_n: int | None = None,
    validation_fraction: float = VALIDATION_FRACTION,
) -> Split:
    """Per-user by time: each user's most recent ``last_n`` interactions (or latest ``test_fraction``,
    rounded half up, at least 1, never all) are hidden for the test; the validation part is the latest
    ``last_n`` (or ``validation_fraction``) of what is left. Within a user, every test event is at or
    after every training event (equal timestamps are ordered by row); other users' later events stay in
    training. Users with one interaction keep it."""
    _need_timestamps(inter, "temporal")
    held = _check_fraction("validation_fraction", validation_fraction)
    if last_n is not None:
        if int(last_n) < 1:
            raise DataError(f"last_n must be at least 1, got {last_n}.")
        report: dict[str, Any] = {"last_n": int(last_n), "notes": []}
        fraction = 0.0
    else:
        fraction = _check_fraction("test_fraction", test_fraction)
        report = {"test_fraction": fraction, "validation_fraction": held, "notes": []}
    is_test, counts = _temporal_hidden(inter, fraction, last_n)
    _too_few_note(report, counts)
    split = _finish(inter, is_test, "temporal", report)
    return _carve(split, _temporal_hidden(split.train, held, last_n)[0])


def global_temporal_split(
    inter: Interactions, cutoff: int | float | str | None = None, quantile: float = 0.8,
    validation_fraction: float = VALIDATION_FRACTION,
) -> Split:
    """One cut-off time for everyone: interactions at or before ``cutoff`` train, later ones test.

    ``cutoff`` is seconds since the epoch or a date text (``"2018-01-01"``); when omitted it is the
    ``quantile`` of all timestamps (lower value), so about ``1 - quantile`` of rows are tested. Users
    who only appear after the cut-off are cold users and dropped from the test set (counted). The
    validation part is cut the same way inside training: the training rows after the ``1 -
    validation_fraction`` quantile of the training timestamps."""
    stamps = _need_timestamps(inter, "global temporal")
    held = _check_fraction("validation_fraction", validation_fraction)
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
    report["validation_fraction"] = held
    report["notes"].append(f"Cut-off: {report['cutoff_date']}; later interactions are tested.")
    split = _finish(inter, stamps > cut, "global_temporal", report)
    before = split.train.timestamps
    validation_cut = int(np.quantile(before, 1.0 - held, method="lower")) if len(before) else cut
    report["validation_cutoff"] = validation_cut
    report["validation_cutoff_date"] = pd.Timestamp(validation_cut, unit="s").isoformat()
    return _carve(split, before > validation_cut)


def leave_one_out(inter: Interactions, last: bool = True, seed: int = 42) -> Split:
    """One hidden interaction per user with at least 2: the latest one when ``last`` and the data has
    timestamps (equal timestamps ordered by row), otherwise one chosen at random with ``seed``. The
    validation part hides one more per user the same way (the latest of what is left)."""
    by_time = bool(last) and inter.timestamps is not None
    is_test, counts = _last_one_hidden(inter, by_time, np.random.default_rng(seed))
    report: dict[str, Any] = {"by_time": by_time, "seed": int(seed), "notes": []}
    if not by_time and last:
        report["notes"].append("No timestamps, so each user's hidden interaction was picked at random.")
    _too_few_note(report, counts)
    split = _finish(inter, is_test, "loo", report)
    return _carve(split, _last_one_hidden(split.train, by_time, _validation_rng(seed))[0])


def user_split(
    inter: Interactions, test_users_fraction: float = 0.2, input_fraction: float = 0.5, seed: int = 42,
    validation_fraction: float = VALIDATION_FRACTION,
) -> Split:
    """Strong generalisation (Liang et al. 2018): whole people are held out of training.

    ``test_users_fraction`` of the users with at least 2 interactions (rounded half up, at least 1) are
    drawn at random. Every interaction of the other users goes to ``train``. For each held-out user,
    ``input_fraction`` of their interactions (drawn at random, rounded half up, at least 1, never all)
    are the *input* (``Split.test_input``, in no training part): a model folds it in to score them, as
    it would a newcomer's first clicks, and ranking leaves it out. The rest are the *test* rows. The
    held-out user numbers are in ``Split.held_out_users``; ``report["input_rows"]`` counts the input
    rows. The validation part holds out ``validation_fraction`` of the training users the same way
    (``Split.validation_input`` and ``Split.validation``); ``fit_train`` has none of their rows.
    """
    users_fraction = _check_fraction("test_users_fraction", test_users_fraction)
    given = _check_fraction("input_fraction", input_fraction)
    held_share = _check_fraction("validation_fraction", validation_fraction)
    is_test, is_input, held = _people_hidden(inter, users_fraction, given, np.random.default_rng(seed))
    counts = np.bincount(inter.users, minlength=inter.n_users)
    report: dict[str, Any] = {
        "test_users_fraction": users_fraction,
        "input_fraction": given,
        "validation_fraction": held_share,
        "seed": int(seed),
        "held_out_users": int(len(held)),
        "input_rows": int(is_input.sum()),
        "notes": [],
    }
    report["notes"].append(
        f"{_plural(len(held), 'user')} held out of training; {report['input_rows']:,} of their interactions "
        "are given to the model as input when they are scored, and the rest are tested."
    )
    _too_few_note(report, counts)
    split = _finish(inter, is_test, "users", report, held_out_users=held, is_input=is_input)
    target, given_rows, held_v = _people_hidden(split.train, held_share, given, _validation_rng(seed))
    return _carve_people(split, target, given_rows, held_v)


def make_split(inter: Interactions, protocol: str, seed: int = 42, **options: Any) -> Split:
    """Split by protocol name (``"random" | "temporal" | "global_temporal" | "loo" | "users"``);
    ``options`` go to the protocol's function (e.g. ``test_fraction=0.1``, ``last_n=5``,
    ``validation_fraction=0.2``). ``seed`` is ignored by the protocols that involve no chance
    (temporal, global_temporal)."""
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


def nothing_to_test(split: Split) -> str:
    """Why a split left nothing to test on, and what to do, in plain words (for a run that cannot be
    scored). People with one interaction have nothing to learn from once it is hidden; items seen only
    by the test part cannot be recommended."""
    report = split.report
    people = int(split.train.n_users)
    singles = int((np.bincount(split.train.users, minlength=people) + np.bincount(split.test.users, minlength=people)
                   <= 1).sum()) if people else 0
    cold = int(report.get("cold_users") or 0)
    detail = (f" {cold:,} people had a single interaction, so hiding it left nothing to learn from."
              if cold else f" {singles:,} of {people:,} people have a single interaction." if singles else "")
    return (
        "There is nothing to test the model on: nothing this split set aside could be scored." + detail
        + " A test needs people with several interactions (one row per person and item, the same person on many "
        "rows). Check on the Data page that this file is a log of who did what, not a list of items or people; "
        "if it is, try another way of testing, or add more history."
    )
