"""Known answers for the checks that catch a wrong file before it is saved (recsys.file_checks), on a
synthetic listening log shaped like the public Last.fm files (benchmarks/listening.py)."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from benchmarks.listening import listening_log
from recsys.data import detect_columns, interactions_from_frame, load_items
from recsys.file_checks import catalog_side_by_side, check_catalog, check_interactions
from recsys.nouns import detect_nouns


@pytest.fixture(scope="module")
def files():
    return listening_log(listeners=200, artists=600, seed=3)


def as_catalog(frame: pd.DataFrame, name: str):
    buffer = io.BytesIO(frame.to_csv(sep="\t", index=False).encode())
    buffer.name = name
    return load_items(buffer)


def plays_of(plays: pd.DataFrame):
    return interactions_from_frame(plays, {"user": "userID", "item": "artistID", "rating": "weight"})


def loaded(frame: pd.DataFrame, columns: dict):
    return interactions_from_frame(frame, columns)


def test_a_listening_log_looks_right(files):
    plays, _, _ = files
    assert check_interactions(loaded(plays, detect_columns(plays))).ok


def test_the_catalogue_uploaded_as_interactions_is_named_for_what_it_is(files):
    _, catalogue, _ = files
    columns = detect_columns(catalogue)
    assert (columns["user"], columns["item"]) == ("id", "name")  # what the issue saw: user = id, item = name
    nouns = detect_nouns({"user": "userID", "item": "artistID", "rating": "weight"})
    check = check_interactions(loaded(catalogue, columns), columns, nouns)
    assert not check.ok
    assert check.looks_like == "an item catalogue: one row per artist, with its name"
    text = " ".join(check.problems)
    assert "600 of 600 rows" in text  # every "listener" on one row
    assert "'id' counts rows (1, 2, 3" in text  # the id column is a row number
    assert "holds names" in text
    assert "item catalogue on the right" in check.advice


def test_names_as_item_ids_in_a_real_log_are_fine_but_free_text_is_not(files):
    plays, catalogue, _ = files
    named = plays.merge(catalogue[["id", "name"]], left_on="artistID", right_on="id")[["userID", "name", "weight"]]
    columns = {"user": "userID", "item": "name", "rating": "weight"}
    assert check_interactions(loaded(named, columns)).ok  # artists by name: still a log
    reviews = named.assign(name="I really loved this record, " + named["name"] + " at their best")
    check = check_interactions(loaded(reviews, columns))
    assert not check.ok and "holds free text" in check.problems[0]


def test_row_numbers_as_people(files):
    plays, _, _ = files
    numbered = plays.assign(row=range(1, len(plays) + 1))
    check = check_interactions(loaded(numbered, {"user": "row", "item": "artistID"}))
    assert not check.ok
    assert any("'row' counts rows" in p for p in check.problems)


def test_the_right_catalogue_passes_and_a_tag_list_does_not(files):
    plays, catalogue, tags = files
    inter = plays_of(plays)
    assert check_catalog(as_catalog(catalogue, "artists.dat"), inter).ok

    as_titles = as_catalog(tags.rename(columns={"tagID": "id", "tagValue": "name"}), "tags.dat")  # ids match
    check = check_catalog(as_titles, inter, detect_nouns({"item": "artistID"}))
    assert not check.ok
    assert "look like tags or labels" in " ".join(check.problems)

    nameless = check_catalog(as_catalog(tags, "tags.dat"), inter)  # tagValue is no title column: only ids
    assert not nameless.ok and "It names nothing" in nameless.problems[0]


def test_a_catalogue_of_other_ids_needs_confirming_and_is_shown_beside_the_data(files):
    plays, catalogue, _ = files
    inter = plays_of(plays)
    shifted = catalogue.assign(id=catalogue["id"] + 10_000)  # ids of something else
    check = check_catalog(as_catalog(shifted, "artists.dat"), inter)
    assert not check.ok
    interacted = plays["artistID"].nunique()
    assert f"Only 0 of the {interacted:,} items in the data (0%)" in check.problems[0]

    side = catalog_side_by_side(as_catalog(catalogue, "artists.dat"), inter, n=5)
    counts = plays["artistID"].value_counts()
    top = str(counts.index[0])
    assert side["item_id"].iloc[0] == top and side["interactions"].iloc[0] == counts.iloc[0]
    assert side["title"].iloc[0] == catalogue.set_index("id").loc[int(top), "name"]
    missing = catalog_side_by_side(as_catalog(shifted, "artists.dat"), inter, n=5)
    assert (missing["title"] == "").all()
