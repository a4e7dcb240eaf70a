"""The data layer: reading odd but valid files, rejecting bad ones with one clear line, the report."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.cli import main
from recsys.data import (
    Catalog,
    DataError,
    DataReport,
    catalog_coverage,
    detect_columns,
    interactions_from_frame,
    load_demo,
    load_interactions,
    load_items,
    read_table,
)

ROOT = Path(__file__).resolve().parents[1]
BAD = ROOT / "tests" / "data" / "bad"
ODD = ROOT / "tests" / "data" / "odd"
DEMO = ROOT / "assets" / "datasets" / "ml-latest-small"

# every bad file, with words its message must contain (lower case)
BAD_FILES = {
    "empty.csv": ["empty"],
    "header_only.csv": ["header", "no data rows", "userid"],
    "binary_garbage.csv": ["binary", "csv"],
    "html_page.csv": ["web page", "html", "raw"],
    "json_records.csv": ["json", "csv"],
    "one_column.csv": ["one column", "userid", "user column and an item column"],
    "all_ids_missing.csv": ["'userid'", "empty on every row", "--user-col"],
    "single_user.csv": ["single user", "'1'", "at least two users"],
    "single_item.csv": ["single item", "'10'", "movieid"],
    "ragged_rows.csv": ["fields", "separator", "lines 2, 3, 4"],
    "text_ratings.csv": ["'rating'", "numbers", "line 2: 'good'", "--rating-col none"],
    "text_dates.csv": ["'date'", "dates or times", "'yesterday'", "--time-col none"],
    "gzip_garbage.csv.gz": ["binary"],
    "truncated.csv.gz": ["gzip", "cut short"],
    "excel_renamed.csv": ["excel", "save", "csv"],
    "damaged.parquet": ["parquet", "damaged"],
    "two_files.zip": ["zip", "2 data files", "ratings.csv"],
}


def test_every_bad_file_is_listed():
    assert sorted(p.name for p in BAD.iterdir()) == sorted(BAD_FILES)


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_gives_one_clear_line(name):
    with pytest.raises(DataError) as info:
        load_interactions(BAD / name)
    message = str(info.value)
    assert "\n" not in message
    for word in BAD_FILES[name]:
        assert word in message.lower(), (word, message)


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_cli_validate_exits_2_on_bad_file(name, capsys):
    assert main(["validate", str(BAD / name)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert "Traceback" not in err


@pytest.mark.parametrize("name", ["binary_garbage.csv", "text_ratings.csv"])
def test_cli_validate_in_a_real_process_never_shows_a_traceback(name):
    proc = subprocess.run([sys.executable, "-m", "recsys", "validate", str(BAD / name)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_cli_validate_prints_report_and_exits_0():
    proc = subprocess.run([sys.executable, "-m", "recsys", "validate", str(ODD / "few_bad_rows.csv")],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "7 ratings from 4 users on 3 items" in proc.stdout
    assert "Warnings:" in proc.stdout and "Dropped 5 of 12 rows" in proc.stdout


def test_cli_column_options(capsys):
    assert main(["validate", str(ODD / "unnamed_columns.csv"), "--user-col", "B", "--item-col", "a"]) == 0
    out = capsys.readouterr().out
    assert "user = 'b', item = 'a'" in out
    assert main(["validate", str(ODD / "unnamed_columns.csv"), "--user-col", "customer"]) == 2
    err = capsys.readouterr().err
    assert "'customer'" in err and "a, b, c" in err


def test_missing_file_is_a_data_error():
    with pytest.raises(DataError, match="not found"):
        load_interactions(ROOT / "tests" / "data" / "no_such_file.csv")


# -- odd but valid files ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, n_users, n_items, n, explicit",
    [
        ("semicolon.csv", 3, 3, 5, True),
        ("bom.csv", 2, 3, 4, True),
        ("latin1.csv", 2, 3, 4, True),
        ("iso_dates.csv", 2, 3, 4, False),
        ("ratings.csv.gz", 3, 3, 4, True),
        ("gzip_named_csv.csv", 2, 2, 3, False),
        ("tabs.tsv", 2, 2, 3, True),
        ("pipes.txt", 2, 3, 4, True),
        ("crlf.csv", 2, 2, 3, True),
        ("quoted.csv", 2, 3, 4, True),
        ("epoch_ms.csv", 2, 2, 3, False),
        ("movielens.dat", 3, 3, 5, True),
        ("u.data", 3, 4, 4, True),
        ("plays.csv", 4, 4, 7, False),
        ("unnamed_columns.csv", 2, 2, 3, False),
        ("leading_zeros.csv", 2, 2, 3, True),
        ("few_ragged_rows.csv", 4, 3, 6, True),
        ("blank_lines.csv", 2, 2, 3, True),
        ("utf16.csv", 2, 2, 3, False),
        ("few_bad_rows.csv", 4, 3, 7, True),
        ("duplicates_explicit.csv", 2, 2, 3, True),
        ("duplicates_plays.csv", 2, 3, 4, False),
        ("events.csv", 2, 3, 4, False),
    ],
)
def test_odd_file_loads(name, n_users, n_items, n, explicit):
    inter = load_interactions(ODD / name)
    assert (inter.n_users, inter.n_items, len(inter), inter.explicit) == (n_users, n_items, n, explicit)
    pairs = inter.users.astype(np.int64) * inter.n_items + inter.items
    assert len(np.unique(pairs)) == len(inter)  # every pair once
    assert inter.report.n_interactions == n


def test_every_odd_file_is_tested():
    listed = {p.name for p in ODD.iterdir()}
    source = Path(__file__).read_text()
    assert all(f'"{name}"' in source for name in listed), sorted(n for n in listed if f'"{n}"' not in source)


def test_semicolon_file_reads_decimal_commas():
    inter = load_interactions(ODD / "semicolon.csv")
    frame = inter.to_frame()
    assert frame.loc[(frame.user == "anna") & (frame.item == "A"), "value"].item() == pytest.approx(4.5)
    assert list(inter.user_ids) == ["anna", "bob", "cleo"]


def test_latin1_text_is_decoded():
    inter = load_interactions(ODD / "latin1.csv")
    assert list(inter.item_ids) == ["café", "crème brûlée", "pâté"]
    assert any("not UTF-8" in note for note in inter.report.detected)


def test_bom_is_stripped_from_the_first_column_name():
    assert load_interactions(ODD / "bom.csv").report.columns["user"] == "userId"


def test_quoted_fields_keep_their_commas():
    inter = load_interactions(ODD / "quoted.csv")
    assert list(inter.item_ids) == ["Good, the Bad and the Ugly, The", "Heat", 'Say "Hello"']


def test_timestamps_iso_and_milliseconds_become_seconds():
    iso = load_interactions(ODD / "iso_dates.csv")
    assert list(iso.timestamps) == [1614556800, 1614938400, 1617280200, 1625011200]
    ms = load_interactions(ODD / "epoch_ms.csv")
    assert list(ms.timestamps) == [1600000000, 1600000100, 1600086400]
    assert any("milliseconds" in note for note in ms.report.detected)


def test_headerless_movielens_dat_gets_all_four_roles():
    inter = load_interactions(ODD / "movielens.dat")
    assert inter.report.columns == {"user": "column1", "item": "column2", "rating": "column3", "time": "column4"}
    assert list(inter.item_ids) == [661, 1193, 3408]
    assert inter.timestamps[0] == 978300760
    assert any("no header" in note for note in inter.report.detected)


def test_leading_zeros_in_ids_are_kept():
    inter = load_interactions(ODD / "leading_zeros.csv")
    assert list(inter.item_ids) == ["0002005018", "0195153448"]
    assert list(inter.user_ids) == [1, 2]


def test_fallback_to_first_columns_is_reported():
    report = load_interactions(ODD / "unnamed_columns.csv").report
    assert report.columns["user"] == "a" and report.columns["item"] == "b"
    assert any("no column looked like a user id" in note for note in report.detected)
    assert any("Check the columns" in w for w in report.warnings)


def test_explicit_duplicates_keep_the_latest_rating():
    inter = load_interactions(ODD / "duplicates_explicit.csv")
    got = {(u, i): (v, t) for u, i, v, t in inter.to_frame().itertuples(index=False)}
    # (1,10): ratings 2@300, 5@100, 3@200 -> 2; (2,11): 4@500 then 1@500 -> the later row, 1
    assert got == {(1, 10): (2.0, 300), (2, 11): (1.0, 500), (2, 10): (3.0, 50)}
    report = inter.report
    assert (report.duplicate_rows, report.duplicate_pairs) == (3, 2)
    assert "latest" in report.duplicates_combined


def test_implicit_duplicates_are_summed():
    inter = load_interactions(ODD / "duplicates_plays.csv")
    got = {(u, i): (v, t) for u, i, v, t in inter.to_frame().itertuples(index=False)}
    assert got == {("ann", "Abba"): (9.0, 200), ("ann", "Blur"): (1.0, 150), ("ben", "Abba"): (10.0, 120),
                   ("ben", "Cure"): (5.0, 110)}
    assert "summed" in inter.report.duplicates_combined


def test_events_without_values_are_counted():
    inter = load_interactions(ODD / "events.csv")
    got = {(u, i): v for u, i, v in inter.to_frame().itertuples(index=False)}
    assert got == {("c1", "p1"): 3.0, ("c1", "p2"): 1.0, ("c2", "p1"): 1.0, ("c2", "p3"): 1.0}
    assert inter.report.columns == {"user": "customer_id", "item": "product_id", "rating": None, "time": None}


def test_few_bad_rows_are_dropped_with_line_numbers():
    report = load_interactions(ODD / "few_bad_rows.csv").report
    assert report.rows_read == 12 and report.rows_dropped == 5
    assert report.dropped_examples == {
        "missing user id": [3], "rating is not a number": [4], "rating is not finite": [5],
        "missing rating": [9], "missing item id": [11],
    }
    assert "line 4" in report.to_text()


def test_ragged_and_blank_lines_keep_file_line_numbers():
    ragged = load_interactions(ODD / "few_ragged_rows.csv").report
    assert ragged.dropped == {"wrong number of fields": 1} and ragged.dropped_examples["wrong number of fields"] == [3]
    blank = load_interactions(ODD / "blank_lines.csv").report
    assert blank.dropped_examples == {"missing user id": [7]}


def test_plays_are_implicit_and_ratings_explicit():
    plays = load_interactions(ODD / "plays.csv")
    assert not plays.explicit and plays.report.rating_scale is None
    assert plays.report.value_range == {"min": 1.0, "median": 7.0, "max": 150.0}
    assert "ials" in plays.report.suggested_model_names


def test_parquet(tmp_path):
    frame = pd.DataFrame({"user": ["a", "a", "b", "c"], "item": [1, 2, 1, 3], "rating": [5.0, 3.0, 4.0, 1.0],
                          "ts": pd.to_datetime(["2020-01-01", "2020-02-01", "2020-03-01", "2020-04-01"])})
    path = tmp_path / "ratings.parquet"
    frame.to_parquet(path)
    inter = load_interactions(path)
    assert (inter.n_users, inter.n_items, len(inter), inter.explicit) == (3, 3, 4, True)
    assert inter.timestamps[0] == 1577836800
    assert inter.report.line_word == "row"


def test_uploaded_file_object_and_bytes():
    class Upload(io.BytesIO):  # what Streamlit's UploadedFile offers: name, read(), getvalue()
        name = "upload.csv"

    raw = (ODD / "pipes.txt").read_bytes()
    inter = load_interactions(Upload(raw))
    assert (inter.n_users, inter.n_items) == (2, 3) and inter.report.source == "upload.csv"
    assert len(load_interactions(raw)) == 4


# -- columns: detection and overrides -----------------------------------------------------------


def test_detection_on_the_demo_file():
    frame = read_table(DEMO / "ratings.csv")
    assert detect_columns(frame) == {"user": "userId", "item": "movieId", "rating": "rating", "time": "timestamp"}


@pytest.mark.parametrize("header, expected", [
    ("customer_id,sku,quantity,date", {"user": "customer_id", "item": "sku", "rating": "quantity", "time": "date"}),
    ("Listener,Track,Plays", {"user": "Listener", "item": "Track", "rating": "Plays", "time": None}),
    ("visitor,content,clicks,ts", {"user": "visitor", "item": "content", "rating": "clicks", "time": "ts"}),
    ("User ID,Book Title,Stars", {"user": "User ID", "item": "Book Title", "rating": "Stars", "time": None}),
    ("title,member,score", {"user": "member", "item": "title", "rating": "score", "time": None}),
])
def test_detection_by_name(header, expected):
    frame = pd.DataFrame(columns=header.split(","))
    assert detect_columns(frame) == expected


def test_column_override_is_case_insensitive_and_wins():
    inter = load_interactions(ODD / "plays.csv", columns={"user": "TRACK", "item": "user"})
    assert inter.report.columns == {"user": "track", "item": "user", "rating": "plays", "time": None}
    assert inter.n_users == 4 and list(inter.user_ids) == ["t1", "t2", "t3", "t4"]


def test_column_override_unknown_names_existing_columns():
    with pytest.raises(DataError, match=r"'stars'.*userId, movieId, rating, timestamp"):
        load_interactions(ODD / "few_bad_rows.csv", columns={"rating": "stars"})


def test_rating_none_loads_text_ratings_as_implicit():
    inter = load_interactions(BAD / "text_ratings.csv", columns={"rating": "none"})
    assert inter.values is None and not inter.explicit and len(inter) == 5


def test_dashboard_flow_read_once_then_remap():
    frame = read_table(ODD / "duplicates_plays.csv")
    assert detect_columns(frame)["rating"] == "plays"
    inter = interactions_from_frame(frame, {"rating": None, "time": None})
    assert inter.values is not None and inter.values.max() == 3.0  # no weights: duplicates counted
    assert interactions_from_frame(frame).values.max() == 10.0


# -- the demo and the report --------------------------------------------------------------------


def test_demo_loads_with_known_numbers():
    start = time.perf_counter()
    inter, catalog = load_demo()
    seconds = time.perf_counter() - start
    assert seconds < 10  # about 0.2 s on a quiet machine; loose because CI machines are shared
    report = inter.report
    assert (report.n_users, report.n_items, report.n_interactions, report.rows_dropped) == (610, 9724, 100836, 0)
    assert report.rows_read == 100836 and report.duplicate_rows == 0
    assert inter.explicit and report.rating_scale["min"] == 0.5 and report.rating_scale["max"] == 5.0
    assert report.rating_scale["distinct"] == 10
    assert report.columns == {"user": "userId", "item": "movieId", "rating": "rating", "time": "timestamp"}
    assert report.suggested_split == "temporal"
    assert report.suggested_model_names[:3] == ["popularity", "ease", "mf"] and "content" in report.suggested_model_names
    assert report.cold_users == 0 and report.time_range["start"] == "1996-03-29"
    assert report.density == pytest.approx(100836 / (610 * 9724))
    counts = np.sort(inter.item_counts())[::-1]
    assert report.top_percent == 10 and report.top_items == 973  # 10% of the 9,724 rated movies, rounded up
    assert report.top_items_share == pytest.approx(counts[:973].sum() / 100836)
    assert report.hits_items == 98 and report.hits_share == pytest.approx(counts[:98].sum() / 100836)
    assert isinstance(catalog, Catalog) and len(catalog.frame) == 9742
    assert report.catalog["items_in_both"] == 9724 and report.catalog["catalog_items_without_interactions"] == 18


def test_report_round_trips_through_json():
    report = load_interactions(ODD / "few_bad_rows.csv").report
    data = json.loads(json.dumps(report.to_dict()))
    again = DataReport.from_dict(data)
    assert again.to_text() == report.to_text()
    assert data["dropped"]["missing user id"] == 1


def test_report_text_mentions_the_essentials():
    text = load_interactions(ODD / "duplicates_explicit.csv").report.to_text()
    for phrase in ("3 ratings from 2 users on 2 items", "Duplicates: 3 repeated rows", "Density", "Popular items",
                   "Cold users", "Suggested split", "Suggested models"):
        assert phrase in text


# -- catalogues ---------------------------------------------------------------------------------


def test_demo_catalog_tags_and_titles():
    catalog = load_items(DEMO / "movies.csv")
    first = catalog.frame.iloc[0]
    assert first.item_id == "1" and first.title == "Toy Story (1995)"
    assert first.tags == ["Adventure", "Animation", "Children", "Comedy", "Fantasy"]
    assert catalog.report["columns"]["tags"] == ["genres"] and catalog.report["distinct_tags"] == 19
    assert catalog.frame.loc[catalog.frame.tags.map(len) == 0].shape[0] == 34  # "(no genres listed)"


def test_catalog_columns_and_coverage(tmp_path):
    path = tmp_path / "items.csv"
    path.write_text(
        "SKU;Name;Category;Keywords;Overview;Poster\n"
        "p1;Lamp;home;light, desk;A small lamp;https://x.test/p1.jpg\n"
        "p2;Chair;home;seat;;\n"
        "p2;Chair again;x;y;;\n"
        "p9;Ghost;;;;\n"
    )
    catalog = load_items(path)
    frame = catalog.frame.set_index("item_id")
    assert list(frame.index) == ["p1", "p2", "p9"]
    assert frame.loc["p1", "tags"] == ["home", "light", "desk"]
    assert frame.loc["p1", "description"] == "A small lamp" and frame.loc["p1", "image_url"].endswith("p1.jpg")
    assert catalog.report["duplicate_ids"] == 1
    inter = load_interactions(ODD / "events.csv")  # items p1, p2, p3
    coverage = catalog_coverage(catalog, inter)
    assert coverage["items_in_both"] == 2 and coverage["items_without_catalog_entry"] == 1
    assert coverage["catalog_items_without_interactions"] == 1 and coverage["examples_without_entry"] == ["p3"]


def test_catalog_id_column_override_and_error(tmp_path):
    path = tmp_path / "items.csv"
    path.write_text("code,label\nA,Alpha\nB,Beta\n")
    assert list(load_items(path, id_column="CODE").frame.title) == ["Alpha", "Beta"]
    with pytest.raises(DataError, match="'nope'.*code, label"):
        load_items(path, id_column="nope")


# -- awkward shapes that once escaped as other errors ---------------------------------------------


def test_leading_blank_lines_and_repeated_header_names():
    inter = load_interactions(b"\n\nuser,user,item\n1,a,10\n,b,11\n2,c,11\n")
    assert inter.report.columns["user"] == "user" and inter.report.columns["item"] == "item"
    assert inter.report.dropped_examples == {"missing user id": [5]}
    frame = read_table(b"x,,x\n1,2,3\n")
    assert list(frame.columns) == ["x", "column2", "x.1"]


def test_two_columns_both_named_for_other_roles_still_give_user_and_item():
    inter = load_interactions(b"title,timestamp\na,1\nb,2\na,2\n")
    assert inter.report.columns == {"user": "timestamp", "item": "title", "rating": None, "time": None}
    assert any("Check the columns" in w for w in inter.report.warnings)


def test_random_damage_only_ever_raises_data_error():
    rng = np.random.default_rng(3)
    headers = ["userId", "movieId", "rating", "timestamp", "plays", "date", "title", "genres", "", "x"]
    cells = ["1", "2", "10", "007", "a", "é", "", "nan", "inf", "-1", "4,5", "2020-01-01", "2020-13-45",
             "1600000000000", "True", '"a,b"', " 5 ", "x\ty"]
    for case in range(50):
        sep = [",", ";", "\t", "|", "::"][case % 5]
        width = int(rng.integers(1, 6))
        lines = [sep.join(rng.choice(headers, width))]
        for _ in range(int(rng.integers(0, 12))):
            lines.append(sep.join(rng.choice(cells, width if rng.random() < 0.9 else int(rng.integers(1, 7)))))
        blob = "\n".join(lines).encode("latin-1" if case % 7 == 0 else "utf-8")
        for load in (load_interactions, load_items):
            try:
                load(blob)
            except DataError as exc:
                assert "\n" not in str(exc)


# -- the commands that load data print its warnings --------------------------------------------


def _warned_file(tmp_path: Path) -> Path:
    """A book-sales file with a row that has no customer and a repeated header: two warnings' worth."""
    rows = ["customer,book,quantity"] + [f"c{c},b{(c * 3 + k) % 11},{1 + k}" for c in range(12) for k in range(4)]
    rows[7:7] = [",b1,2", "customer,book,quantity"]
    path = tmp_path / "sales.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("command", ["train", "submit"])
def test_train_and_submit_print_the_data_warnings(tmp_path, command):
    path = _warned_file(tmp_path)
    args = {"train": ["--model", "popularity", "--out", str(tmp_path / "model")],
            "submit": ["--model", "popularity"]}[command]
    env = {**__import__("os").environ, "TASTEMAKER_HOME": str(tmp_path / "home")}
    proc = subprocess.run([sys.executable, "-m", "recsys", command, str(path), *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning: ")]
    assert any("Dropped 2 of 50 rows" in w and "repeated header row (1, e.g. line 9)" in w
               and "missing user id (1, e.g. line 8)" in w for w in warnings), proc.stderr
    assert any("Only 48 interactions" in w for w in warnings)
    assert "Traceback" not in proc.stderr


def test_to_parquet_writes_row_groups_equal_to_the_frame(tmp_path):
    import pyarrow.parquet as pq

    text_ids = load_interactions(ODD / "duplicates_plays.csv")  # text ids, weights, timestamps
    int_ids = load_interactions(ODD / "movielens.dat")
    for inter in (text_ids, int_ids):
        path = tmp_path / "x.parquet"
        inter.to_parquet(path, rows_per_group=2)
        assert pq.ParquetFile(path).num_row_groups == (len(inter) + 1) // 2
        back = pd.read_parquet(path)
        expected = inter.to_frame()
        assert back.columns.tolist() == expected.columns.tolist()
        for col in expected.columns:
            assert back[col].tolist() == expected[col].tolist(), col


def test_from_parquet_numbers_as_from_frame(tmp_path):
    from recsys.data import Interactions

    for name in ("duplicates_plays.csv", "movielens.dat", "leading_zeros.csv", "events.csv"):
        inter = load_interactions(ODD / name)
        path = tmp_path / f"{name}.parquet"
        inter.to_parquet(path)
        back = Interactions.from_parquet(path, explicit=inter.explicit)
        again = Interactions.from_frame(inter.to_frame(), "user", "item",
                                        value="value" if inter.values is not None else None,
                                        timestamp="timestamp" if inter.timestamps is not None else None)
        for field in ("users", "items", "user_ids", "item_ids", "values", "timestamps"):
            mine, theirs = getattr(back, field), getattr(again, field)
            assert (mine is None) == (theirs is None), (name, field)
            if mine is not None:
                assert list(mine) == list(theirs) and mine.dtype == theirs.dtype, (name, field)
