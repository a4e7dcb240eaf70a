"""Splits: disjoint train/test, fractions, determinism, time order, and honest counts of what was dropped."""

import time

import numpy as np
import pandas as pd
import pytest

from recsys.data import DataError, Interactions
from recsys.split import PROTOCOL_DESCRIPTIONS, PROTOCOLS, Split, make_split


def synthetic(n_users: int = 300, n_items: int = 80, seed: int = 0, per_user=(2, 40)) -> Interactions:
    """Unique (user, item) pairs with timestamps; every user has between per_user[0] and per_user[1]."""
    rng = np.random.default_rng(seed)
    users, items = [], []
    for u in range(n_users):
        n = rng.integers(per_user[0], per_user[1] + 1)
        users.append(np.full(n, u))
        items.append(rng.choice(n_items, n, replace=False))
    users, items = np.concatenate(users), np.concatenate(items)
    return Interactions(
        users=users.astype(np.int32), items=items.astype(np.int32),
        user_ids=np.arange(n_users).astype(str), item_ids=np.arange(n_items).astype(str),
        values=rng.integers(1, 6, len(users)).astype(np.float32),
        timestamps=rng.integers(1_500_000_000, 1_600_000_000, len(users)).astype(np.int64),
        explicit=True,
    )


def pair_keys(inter: Interactions) -> set[tuple[int, int]]:
    return set(zip(inter.users.tolist(), inter.items.tolist(), strict=True))


def rows_of(inter: Interactions) -> set[tuple[int, int, int]]:
    return set(zip(inter.users.tolist(), inter.items.tolist(), inter.timestamps.tolist(), strict=True))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_protocol_keeps_numbering_and_never_shares_a_pair(protocol):
    inter = synthetic()
    split = make_split(inter, protocol, seed=1)
    assert isinstance(split, Split) and split.protocol == protocol
    given = split.test_input if split.test_input is not None else split.train.subset(np.zeros(0, np.int64))
    for part in (split.train, split.test, split.fit_train, split.validation, given):
        assert part.user_ids is inter.user_ids and part.item_ids is inter.item_ids
    assert not pair_keys(split.train) & pair_keys(split.test)
    # every test, input and train row is a row of the input, and they do not overlap
    assert rows_of(split.train) | rows_of(split.test) | rows_of(given) <= rows_of(inter)
    assert len(split.train) + len(split.test) + len(given) + split.report["dropped_test_rows_cold_users"] \
        + split.report["dropped_test_rows_cold_items"] + split.report["dropped_test_rows_repeats"] == len(inter)
    # nothing left in test that a model could not be asked for
    train_items = set(split.train.items.tolist())
    known_users = set(split.train.users.tolist()) | set(given.users.tolist())
    assert set(split.test.items.tolist()) <= train_items
    assert set(split.test.users.tolist()) <= known_users
    assert split.report["test_rows"] == len(split.test) and split.report["train_rows"] == len(split.train)
    # the validation part is carved out of training and never touches the test part
    assert len(split.validation) > 0 and not rows_of(split.validation) & rows_of(split.test)
    assert not rows_of(split.fit_train) & rows_of(split.validation)
    assert rows_of(split.fit_train) | rows_of(split.validation) <= rows_of(split.train)
    assert split.report["fit_train_rows"] == len(split.fit_train)
    assert split.report["validation_rows"] == len(split.validation)
    assert split.report["notes"][0].startswith(f"Learning from {len(split.fit_train):,} interactions")
    assert protocol in PROTOCOL_DESCRIPTIONS


@pytest.mark.parametrize(("protocol", "options"), [("random", {}), ("loo", {"last": False}), ("users", {})])
def test_seeded_protocols_are_deterministic(protocol, options):
    inter = synthetic(per_user=(2, 40))
    a, b = make_split(inter, protocol, seed=3, **options), make_split(inter, protocol, seed=3, **options)
    np.testing.assert_array_equal(a.test.users, b.test.users)
    np.testing.assert_array_equal(a.test.items, b.test.items)
    assert a.fingerprint() == b.fingerprint()
    c = make_split(inter, protocol, seed=4, **options)
    assert a.fingerprint() != c.fingerprint()


def test_random_split_fraction_per_user():
    inter = synthetic(n_items=2000)  # big catalogue -> many cold items; count hidden rows instead
    split = make_split(inter, "random", seed=0, test_fraction=0.25)
    counts = inter.user_counts()
    # per user, hidden = round-half-up(0.25 * count) clipped to [1, count - 1]; train keeps the rest
    expected = np.clip(np.floor(0.25 * counts + 0.5), 1, counts - 1).astype(int)
    np.testing.assert_array_equal(split.train.user_counts(), counts - expected)
    assert split.report["hidden_rows"] == expected.sum()
    assert split.report["hidden_rows"] / len(inter) == pytest.approx(0.25, abs=0.02)
    assert split.report["dropped_test_rows_cold_items"] > 0  # 2000 items: many only seen once
    assert len(split.test) == expected.sum() - split.report["dropped_test_rows_cold_items"]


def test_users_with_one_interaction_stay_in_train_and_are_counted():
    # a has items x, y (one is hidden); b and c have one interaction each, on x and y, so whichever of
    # a's items is hidden is still in training through b or c
    inter = Interactions(
        users=np.array([0, 0, 1, 2], np.int32), items=np.array([0, 1, 0, 1], np.int32),
        user_ids=np.array(["a", "b", "c"]), item_ids=np.array(["x", "y"]),
    )
    split = make_split(inter, "random", seed=0, test_fraction=0.5)
    assert split.report["users_too_few_to_split"] == 2
    assert split.test.users.tolist() == [0]
    assert sorted(split.train.users.tolist()) == [0, 1, 2]
    assert any("single interaction" in note for note in split.report["notes"])


def test_temporal_split_every_test_event_is_after_the_users_train_events():
    inter = synthetic(seed=2)
    split = make_split(inter, "temporal", test_fraction=0.3)
    train = pd.DataFrame({"u": split.train.users, "t": split.train.timestamps}).groupby("u")["t"].max()
    test = pd.DataFrame({"u": split.test.users, "t": split.test.timestamps}).groupby("u")["t"].min()
    joined = pd.concat([train.rename("train_max"), test.rename("test_min")], axis=1).dropna()
    assert len(joined) > 100
    assert (joined["test_min"] >= joined["train_max"]).all()


def test_temporal_last_n_hides_exactly_the_latest_n():
    # user 0: items 0,1,2,3 at times 10,40,20,30 -> latest two: items 1 (40) and 3 (30)
    # user 1: items 1,3,4,5 at times 1,2,3,4     -> items 4, 5
    # user 2: items 4,5,0,2 at times 1,2,3,4     -> items 0, 2
    # every hidden item stays in someone's training, so nothing is dropped
    inter = Interactions(
        users=np.repeat(np.arange(3), 4).astype(np.int32),
        items=np.array([0, 1, 2, 3, 1, 3, 4, 5, 4, 5, 0, 2], np.int32),
        user_ids=np.array(["a", "b", "c"]), item_ids=np.arange(6),
        timestamps=np.array([10, 40, 20, 30, 1, 2, 3, 4, 1, 2, 3, 4], np.int64),
    )
    split = make_split(inter, "temporal", last_n=2)
    assert sorted(pair_keys(split.test)) == [(0, 1), (0, 3), (1, 4), (1, 5), (2, 0), (2, 2)]


def test_cold_items_are_dropped_from_test_and_counted():
    # item "new" (3) is only ever seen by user a, last in time -> it lands in test and must be dropped
    inter = Interactions(
        users=np.array([0, 0, 0, 1, 1, 1], np.int32), items=np.array([0, 1, 3, 0, 1, 2], np.int32),
        user_ids=np.array(["a", "b"]), item_ids=np.array(["p", "q", "r", "new"]),
        timestamps=np.array([1, 2, 3, 1, 2, 3], np.int64),
    )
    split = make_split(inter, "temporal", last_n=1)
    # hidden: (a, new) and (b, r); both items appear nowhere in training -> both dropped
    assert split.report["hidden_rows"] == 2
    assert split.report["dropped_test_rows_cold_items"] == 2
    assert split.report["cold_items"] == 2
    assert len(split.test) == 0 and split.report["test_users"] == 0
    assert any("never seen in training" in note for note in split.report["notes"])


def test_repeated_pairs_never_straddle_train_and_test():
    # a listening log: user a played item 0 three times; the latest play cannot be a test item
    inter = Interactions(
        users=np.array([0, 0, 0, 0, 1, 1], np.int32), items=np.array([0, 1, 0, 0, 0, 1], np.int32),
        user_ids=np.array(["a", "b"]), item_ids=np.array(["x", "y"]),
        timestamps=np.array([1, 2, 3, 4, 1, 2], np.int64),
    )
    split = make_split(inter, "temporal", last_n=1)
    assert split.report["dropped_test_rows_repeats"] == 1
    assert pair_keys(split.test) == {(1, 1)}


def test_global_temporal_split_cuts_at_one_time():
    inter = synthetic(seed=4)
    split = make_split(inter, "global_temporal", quantile=0.7)
    cut = split.report["cutoff"]
    assert split.train.timestamps.max() <= cut < split.test.timestamps.min()
    assert split.report["hidden_rows"] / len(inter) == pytest.approx(0.3, abs=0.01)
    by_date = make_split(inter, "global_temporal", cutoff="2018-01-01")
    assert by_date.report["cutoff"] == int(pd.Timestamp("2018-01-01").timestamp())


def test_global_temporal_drops_users_who_only_appear_after_the_cutoff():
    inter = Interactions(
        users=np.array([0, 0, 1, 1, 2], np.int32), items=np.array([0, 1, 0, 1, 1], np.int32),
        user_ids=np.array(["old", "new", "mid"]), item_ids=np.array(["x", "y"]),
        timestamps=np.array([1, 10, 11, 12, 2], np.int64),
    )
    split = make_split(inter, "global_temporal", cutoff=5)
    # train: (old, x), (mid, y); test candidates: (old, y), (new, x), (new, y)
    # "new" has no training -> 2 rows and 1 user dropped; (old, y) stays (y is in training through mid)
    assert split.report["dropped_test_rows_cold_users"] == 2 and split.report["cold_users"] == 1
    assert pair_keys(split.test) == {(0, 1)}


def test_leave_one_out_hides_the_latest_interaction_per_user():
    inter = synthetic(n_items=30, seed=5, per_user=(2, 25))
    split = make_split(inter, "loo")
    frame = inter.to_frame(original_ids=False)
    latest = frame.sort_values("timestamp", kind="stable").groupby("user").tail(1)
    expected = set(zip(latest["user"], latest["item"], strict=True))
    assert pair_keys(split.test) <= expected
    assert split.report["hidden_rows"] == inter.n_users
    assert np.bincount(split.test.users).max() == 1


def test_leave_one_out_without_timestamps_is_random_but_seeded():
    base = synthetic(n_items=30, seed=6, per_user=(2, 25))
    inter = Interactions(users=base.users, items=base.items, user_ids=base.user_ids, item_ids=base.item_ids)
    split = make_split(inter, "loo", seed=1)
    assert split.report["by_time"] is False
    assert np.bincount(split.test.users).max() == 1
    assert make_split(inter, "loo", seed=1).fingerprint() == split.fingerprint()


def test_user_split_holds_out_whole_users_with_part_of_their_history_as_input():
    inter = synthetic(n_users=200, n_items=40, seed=7, per_user=(4, 30))
    split = make_split(inter, "users", seed=0, test_users_fraction=0.25, input_fraction=0.5)
    held = split.held_out_users
    assert len(held) == 50 and split.report["held_out_users"] == 50
    assert set(split.test.users.tolist()) <= set(held.tolist())
    counts = inter.user_counts()
    train_counts = split.train.user_counts()
    others = np.setdiff1d(np.arange(inter.n_users), held)
    np.testing.assert_array_equal(train_counts[others], counts[others])  # other users: all in train
    assert (train_counts[held] == 0).all()  # held-out people: nothing in training at all
    expected_input = np.clip(np.floor(0.5 * counts[held] + 0.5), 1, counts[held] - 1)
    np.testing.assert_array_equal(split.test_input.user_counts()[held], expected_input)  # their given history
    assert split.report["input_rows"] == expected_input.sum() == len(split.test_input)
    assert split.folds_in and split.test_history is split.test_input
    # validation people: 10% of the 150 others (15), held out of fit-train the same way
    validation_people = np.flatnonzero(split.validation_input.user_counts())
    assert len(validation_people) == 15 and not set(validation_people) & set(held.tolist())
    assert (split.fit_train.user_counts()[validation_people] == 0).all()
    assert set(split.validation.users.tolist()) <= set(validation_people.tolist())
    expected_given = np.clip(np.floor(0.5 * counts[validation_people] + 0.5), 1, counts[validation_people] - 1)
    np.testing.assert_array_equal(split.validation_input.user_counts()[validation_people], expected_given)


def test_temporal_protocols_need_timestamps_and_unknown_protocol_is_refused():
    base = synthetic(n_users=10)
    no_time = Interactions(users=base.users, items=base.items, user_ids=base.user_ids, item_ids=base.item_ids)
    for protocol in ("temporal", "global_temporal"):
        with pytest.raises(DataError, match="timestamps"):
            make_split(no_time, protocol)
    with pytest.raises(DataError, match="Unknown split"):
        make_split(base, "sideways")
    with pytest.raises(DataError):
        make_split(base, "random", test_fraction=1.5)


def test_report_is_plain_json():
    import json

    split = make_split(synthetic(n_users=20), "global_temporal")
    assert json.loads(json.dumps(split.report)) == split.report


def test_random_split_is_vectorised_on_a_million_rows():
    rng = np.random.default_rng(0)
    n = 1_000_000
    inter = Interactions(
        users=rng.integers(0, 50_000, n).astype(np.int32), items=rng.integers(0, 20_000, n).astype(np.int32),
        user_ids=np.arange(50_000), item_ids=np.arange(20_000),
        timestamps=rng.integers(0, 10**9, n).astype(np.int64),
    )
    started = time.perf_counter()
    make_split(inter, "random")
    make_split(inter, "temporal")
    assert time.perf_counter() - started < 15  # ~1 s on one core; generous for a shared machine


def dense(n_users: int = 10, n_items: int = 10) -> Interactions:
    """Everyone has every item once; user u meets item i at time (i + u) mod n_items."""
    users = np.repeat(np.arange(n_users), n_items)
    items = np.tile(np.arange(n_items), n_users)
    return Interactions(
        users=users.astype(np.int32), items=items.astype(np.int32),
        user_ids=np.arange(n_users).astype(str), item_ids=np.arange(n_items).astype(str),
        timestamps=((items + users) % n_items).astype(np.int64),
    )


@pytest.mark.parametrize("protocol", ["random", "temporal"])
def test_three_way_sizes_known_answer(protocol):
    # 10 people x 10 items; per person: test 20% of 10 = 2, validation 10% of the 8 left (rounded half up) = 1,
    # fit-train the other 7; every item stays in everyone else's fit-train, so nothing is dropped or returned
    split = make_split(dense(), protocol, seed=0)
    report = split.report
    assert (report["test_rows"], report["validation_rows"], report["fit_train_rows"], report["train_rows"]) == (20, 10, 70, 80)
    assert report["validation_users"] == report["test_users"] == 10 and report["validation_rows_returned"] == 0
    for part, per_person in ((split.test, 2), (split.validation, 1), (split.fit_train, 7)):
        assert (part.user_counts() == per_person).all()
    if protocol == "temporal":  # the latest two are tested, the one before them validates
        assert pair_keys(split.validation) == {(u, (7 - u) % 10) for u in range(10)}
        assert pair_keys(split.test) == {(u, (t - u) % 10) for u in range(10) for t in (8, 9)}


def test_leave_one_out_validates_on_the_one_before_the_last():
    split = make_split(dense(), "loo")
    assert pair_keys(split.test) == {(u, (9 - u) % 10) for u in range(10)}
    assert pair_keys(split.validation) == {(u, (8 - u) % 10) for u in range(10)}
    assert len(split.fit_train) == 80


def test_users_split_sizes_known_answer():
    # 2 of 10 people held out (20%), each given 5 of their 10 items; of the 8 others, 1 (10%) is held out
    # for validation the same way; fit-train is the 7 remaining people's 70 rows
    split = make_split(dense(), "users", seed=0)
    report = split.report
    assert len(split.held_out_users) == 2 and report["validation_held_out_users"] == 1
    assert (len(split.test_input), len(split.test)) == (10, 10)
    assert (len(split.validation_input), len(split.validation)) == (5, 5)
    assert (len(split.fit_train), len(split.train)) == (70, 80)
    assert report["fit_train_rows"] == 70 and report["validation_rows"] == 5 and report["test_rows"] == 10
    assert not set(split.fit_train.users.tolist()) & set(split.validation_input.users.tolist())


def test_validation_rows_no_model_could_find_go_back_to_training():
    # b has item z once and nobody else has it; if validation took (b, z), no model could find it
    inter = Interactions(
        users=np.array([0, 0, 0, 0, 1, 1, 1], np.int32), items=np.array([0, 1, 2, 3, 0, 1, 4], np.int32),
        user_ids=np.array(["a", "b"]), item_ids=np.array(["v", "w", "x", "y", "z"]),
        timestamps=np.array([1, 2, 3, 4, 1, 2, 9], np.int64),
    )
    split = make_split(inter, "temporal", last_n=1)
    # test candidates (a, y) and (b, z): nobody else has y or z, so both are dropped as cold items
    # validation candidates: (a, x): nobody else has x -> back to training; (b, w): a keeps w -> validates
    assert pair_keys(split.validation) == {(1, 1)}
    assert split.report["validation_rows_returned"] == 1
    assert (0, 2) in pair_keys(split.fit_train)
    assert len(split.fit_train) + len(split.validation) == len(split.train)
