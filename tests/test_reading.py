"""Hostile and awkward input, read safely: ids kept exactly, bounded decompression, capped width, regular
files only, UTF-16, values beyond float32 or outside 1970-2100. Every file is built here, in tmp_path."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import subprocess
import sys
import threading
import time
import unicodedata
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys import reading
from recsys.cli import main
from recsys.data import DataError, load_interactions, load_items, lookup_ids, normalise_ids, read_table
from recsys.split import make_split

ROOT = Path(__file__).resolve().parents[1]


def _validate(path: Path, capsys) -> tuple[int, str, str]:
    code = main(["validate", str(path)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "unexpected error" not in out + err
    if code == 2:
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    return code, out, err


# -- ids are text ------------------------------------------------------------------------------


def test_64_bit_ids_survive_a_blank_cell(tmp_path, capsys):
    """One blank cell once turned the column into floats: 1001834567890123456 became 1.00183e+18 and 30
    listeners collapsed into one."""
    base = 1001834567890123456
    rows = ["listener_id,artist,plays"] + [f"{base + u},Artist {a},{u + a + 1}" for u in range(30) for a in range(3)]
    rows.insert(5, ",Artist 9,4")  # the blank listener id
    path = tmp_path / "listens.csv"
    path.write_text("\n".join(rows) + "\n")
    inter = load_interactions(path)
    assert inter.n_users == 30
    assert list(inter.user_ids) == [str(base + u) for u in range(30)]  # 19 digits: kept as exact text
    assert inter.report.dropped == {"missing user id": 1}
    code, out, _ = _validate(path, capsys)
    assert code == 0 and "from 30 users" in out and "e+18" not in out


def test_ids_longer_than_int64_stay_exact_text(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("customer,isbn\n123456789012345678901,9780306406157\n123456789012345678902,9780306406157\n"
                    "123456789012345678901,9780140449136\n")
    inter = load_interactions(path)
    assert list(inter.user_ids) == ["123456789012345678901", "123456789012345678902"]
    assert list(inter.item_ids) == [9780140449136, 9780306406157]


@pytest.mark.parametrize("name, sep", [("clicks.csv", ","), ("clicks.tsv", "\t"), ("clicks.dat", "::"),
                                       ("clicks.txt", ";"), ("clicks.csv.gz", "|")])
def test_float_looking_ids_stay_distinct_and_whole_floats_are_whole(tmp_path, name, sep):
    rows = [("v1", "1.5"), ("v1", "1.50001"), ("v2", "1.5"), ("v2", "3"), ("v3", "3.0"), ("v3", "3.00"),
            ("v3", "03")]
    text = "".join(f"{u}{sep}{i}\n" for u, i in rows)
    if sep != "::":
        text = f"visitor{sep}ad\n" + text
    path = tmp_path / name
    path.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    inter = load_interactions(path)
    assert list(inter.item_ids) == ["03", "1.5", "1.50001", "3"]
    assert inter.report.duplicate_rows == 1  # v3's "3.0" and "3.00" are one ad, "3"


def test_ids_match_across_csv_and_parquet_int_and_float_columns(tmp_path):
    """The same ids written as text, Parquet integers (nullable) and Parquet floats give the same ids."""
    text = tmp_path / "sales.csv"
    text.write_text("buyer,book\n1,7\n1,8\n2,7\n3,1.5\n")
    ints = pd.DataFrame({"buyer": pd.array([1, 1, 2, 3, None], dtype="Int64"),
                         "book": pd.array([7, 8, 7, 9, 9], dtype="Int64")})
    floats = pd.DataFrame({"buyer": [1.0, 1.0, 2.0, 3.0], "book": [7.0, 8.0, 7.0, 1.5]})
    ints.to_parquet(tmp_path / "ints.parquet")
    floats.to_parquet(tmp_path / "floats.parquet")
    from_text = load_interactions(text)
    from_ints = load_interactions(tmp_path / "ints.parquet")
    from_floats = load_interactions(tmp_path / "floats.parquet")
    assert list(from_text.user_ids) == list(from_ints.user_ids) == list(from_floats.user_ids) == [1, 2, 3]
    assert list(from_text.item_ids) == list(from_floats.item_ids) == ["1.5", "7", "8"]
    assert list(from_ints.item_ids) == [7, 8, 9]
    assert from_ints.report.dropped == {"missing user id": 1}


def test_one_id_in_two_encodings_or_with_stray_spaces_is_one_id(tmp_path):
    nfc = unicodedata.normalize("NFC", "Beyoncé")
    nfd = unicodedata.normalize("NFD", "Beyoncé")
    assert nfc != nfd
    path = tmp_path / "listens.csv"
    path.write_text(f"user,artist\nu1,{nfc}\nu2,{nfd}\nu3, {nfc} \nu1,Blur\nu2,\u200bBlur\n", encoding="utf-8")
    inter = load_interactions(path)
    assert list(inter.item_ids) == ["Beyoncé", "Blur"] and inter.n_items == 2
    assert lookup_ids(inter.item_ids, [nfd, " Blur", "Cure"]).tolist() == [0, 1, -1]
    catalog = load_items(io.BytesIO(f"artist,title\n{nfd},B\n3.0,Three\n".encode()))
    assert list(catalog.frame.item_id) == [nfc, "3"]


def test_lookup_treats_3_and_3_0_as_one_id():
    assert lookup_ids(np.array([3, 10], dtype=np.int64), ["3.0", 10, "10.00", "3.5"]).tolist() == [0, 1, 1, -1]
    assert normalise_ids(pd.Series(["3.0", " 03 ", "-2.000", "1e3", None, "  "])).tolist()[:4] == [
        "3", "03", "-2", "1e3"]


def test_repeated_header_rows_are_dropped_with_their_lines(tmp_path, capsys):
    path = tmp_path / "concatenated.csv"
    path.write_text("user,item,rating\nu1,a,4\nu2,b,5\nuser,item,rating\nu3,a,3\nuser , Item,rating\nu1,c,2\n")
    inter = load_interactions(path)
    assert inter.report.dropped == {"repeated header row": 2}
    assert inter.report.dropped_examples["repeated header row"] == [4, 6]
    assert "user" not in set(inter.user_ids)
    code, out, _ = _validate(path, capsys)
    assert code == 0 and "repeated header row (2, e.g. lines 4, 6)" in out
    catalog = load_items(io.BytesIO(b"item,title\na,Alpha\nitem,title\nb,Beta\n"))
    assert list(catalog.frame.item_id) == ["a", "b"]
    assert any("repeat the header row (line 3)" in w for w in catalog.report["warnings"])


def test_header_row_repeated_without_rating_column_is_not_an_interaction():
    inter = load_interactions(b"user,item\nu1,a\nu2,b\nuser,item\nu1,b\n")
    assert len(inter) == 3 and inter.report.dropped == {"repeated header row": 1}


# -- bounded reading ---------------------------------------------------------------------------


def _blank_lines(n: int) -> bytes:
    return b"user,item\n" + b"\n" * n


@pytest.mark.parametrize("kind", ["gzip", "bz2", "xz"])
def test_decompression_bomb_is_refused_quickly(tmp_path, kind):
    payload = _blank_lines(40_000_000)  # well past the ratio check's 4 MB floor
    pack = {"gzip": lambda b: gzip.compress(b, 9), "bz2": lambda b: bz2.compress(b, 9),
            "xz": lambda b: lzma.compress(b, preset=1)}[kind]
    bomb = pack(payload)
    path = tmp_path / f"bomb.csv.{kind}"
    path.write_bytes(bomb)
    assert len(bomb) < 400_000
    start = time.perf_counter()
    with pytest.raises(DataError, match="decompression bomb") as info:
        load_interactions(path)
    assert time.perf_counter() - start < 5
    assert "\n" not in str(info.value) and path.name in str(info.value)


def test_the_200_kb_gzip_of_blank_lines_from_the_issue(tmp_path, capsys):
    payload = b"\n" * 200_000_000  # 200 MB of blank lines: about 200 KB as gzip
    path = tmp_path / "blank.csv.gz"
    path.write_bytes(gzip.compress(payload, 9))
    assert 150_000 < path.stat().st_size < 300_000
    start = time.perf_counter()
    code, _, err = _validate(path, capsys)
    assert code == 2 and "decompression bomb" in err
    assert time.perf_counter() - start < 2


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak from /proc")
def test_gzip_bomb_refusal_uses_little_memory(tmp_path):
    path = tmp_path / "bomb.csv.gz"
    path.write_bytes(gzip.compress(_blank_lines(200_000_000), 9))
    # VmHWM: the peak of this process alone (ru_maxrss would include the forking pytest process)
    script = ("import sys\nfrom recsys.cli import main\ncode = main(['validate', sys.argv[1]])\n"
              "peak = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
              "print(code, int(peak) // 1024)")
    proc = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    code, peak_mb = proc.stdout.split()
    assert code == "2" and int(peak_mb) < 400, proc.stdout + proc.stderr


def test_zip_member_declaring_a_huge_size_is_refused_before_unpacking(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("ratings.csv", _blank_lines(40_000_000))
    path = tmp_path / "bomb.zip"
    path.write_bytes(buffer.getvalue())
    start = time.perf_counter()
    with pytest.raises(DataError, match="decompression bomb"):
        load_interactions(path)
    assert time.perf_counter() - start < 2


def test_absolute_cap_on_unpacked_size(tmp_path, monkeypatch):
    monkeypatch.setattr(reading, "MAX_UNPACKED_BYTES", 2_000_000)
    monkeypatch.setattr(reading, "RATIO_FLOOR_BYTES", 10**12)  # only the absolute cap applies
    rng = np.random.default_rng(0)
    lines = "\n".join(f"u{u},i{i}" for u, i in rng.integers(0, 10**6, size=(300_000, 2)))
    path = tmp_path / "big.csv.gz"
    path.write_bytes(gzip.compress(("user,item\n" + lines).encode()))
    with pytest.raises(DataError, match="unpacks to more than 2 MB, the most Tastemaker reads"):
        load_interactions(path)


def test_compressed_files_within_the_limits_still_load(tmp_path):
    text = "user,item,rating\n" + "\n".join(f"u{u},i{(u * 7 + k) % 50},{1 + (u + k) % 5}"
                                            for u in range(200) for k in range(5)) + "\n"
    for name, data in [("a.csv.gz", gzip.compress(text.encode())), ("a.csv.bz2", bz2.compress(text.encode())),
                       ("a.csv.xz", lzma.compress(text.encode())),
                       ("a.csv.gz.gz", gzip.compress(gzip.compress(text.encode())))]:
        path = tmp_path / name
        path.write_bytes(data)
        inter = load_interactions(path)
        assert (inter.n_users, len(inter)) == (200, 1000), name


def test_the_upload_limit_and_the_unpacked_cap_agree():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] * 1000 * 1000 == reading.MAX_UPLOAD_BYTES  # Streamlit: MB = 10^6 bytes


def test_a_million_columns_is_refused_in_under_two_seconds(tmp_path, capsys):
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{j}" for j in range(1_000_000)) + "\n" + ",".join("1" * 1_000_000) + "\n")
    start = time.perf_counter()
    code, _, err = _validate(path, capsys)
    assert time.perf_counter() - start < 2
    assert code == 2 and "columns" in err and "10,000" in err


def test_just_over_the_column_cap_is_refused_and_a_wide_file_under_it_loads(tmp_path):
    over = tmp_path / "over.csv"
    over.write_text(",".join(f"c{j}" for j in range(10_001)) + "\n" + ",".join(["1"] * 10_001) + "\n")
    with pytest.raises(DataError, match="10,001 columns"):
        load_interactions(over)
    names = ["user", "item"] + [f"f{j}" for j in range(3_000)]
    rows = [",".join(names)] + [",".join([f"u{u}", f"i{u % 3}"] + ["0"] * 3_000) for u in range(6)]
    wide = tmp_path / "wide.csv"
    wide.write_text("\n".join(rows) + "\n")
    assert load_interactions(wide).n_users == 6


def test_column_names_are_made_unique_in_linear_time():
    start = time.perf_counter()
    names = reading.unique_names(["x"] * 50_000)
    assert time.perf_counter() - start < 1
    assert names[:3] == ["x", "x.1", "x.2"] and len(set(names)) == 50_000


# -- regular files only ------------------------------------------------------------------------


def _refused_at_once(call) -> str:
    """Run ``call`` in a thread; it must raise DataError within 5 s (a FIFO read would block forever)."""
    outcome: dict[str, BaseException | None] = {"error": None}

    def target() -> None:
        try:
            call()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome["error"] = exc

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(5)
    assert not worker.is_alive(), "blocked reading a special file"
    assert isinstance(outcome["error"], DataError), outcome["error"]
    return str(outcome["error"])


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_fifo_device_and_folder_are_refused_at_once(tmp_path):
    fifo = tmp_path / "ratings.csv"
    os.mkfifo(fifo)
    assert "named pipe (FIFO)" in _refused_at_once(lambda: load_interactions(fifo))
    assert "named pipe (FIFO)" in _refused_at_once(lambda: load_items(fifo))
    assert "a device" in _refused_at_once(lambda: load_interactions("/dev/zero"))
    assert "is a folder" in _refused_at_once(lambda: load_interactions(tmp_path))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
@pytest.mark.parametrize("command", ["validate", "train", "submit"])
def test_cli_refuses_a_fifo_with_one_line(tmp_path, command):
    fifo = tmp_path / "ratings.csv"
    os.mkfifo(fifo)
    args = {"validate": [], "train": ["--model", "popularity", "--out", str(tmp_path / "m")],
            "submit": ["--model", "popularity"]}[command]
    env = {**os.environ, "TASTEMAKER_HOME": str(tmp_path / "home")}
    proc = subprocess.run([sys.executable, "-m", "recsys", command, str(fifo), *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=60, env=env)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1
    assert "named pipe (FIFO)" in proc.stderr and "unexpected" not in proc.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_store_refuses_a_fifo(tmp_path):
    from recsys.store import Store

    fifo = tmp_path / "items.csv"
    os.mkfifo(fifo)
    store = Store(tmp_path / "home")
    assert "named pipe (FIFO)" in _refused_at_once(lambda: store.add_dataset(fifo))


# -- encodings ---------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_and_without_bom(tmp_path, encoding):
    text = "reader,book,stars\nanna,Léon,4\nanna,Émile,5\nbob,Léon,3\n"
    path = tmp_path / f"{encoding}.csv"
    path.write_bytes(text.encode(encoding))  # "utf-16" writes a BOM; -le/-be do not
    inter = load_interactions(path)
    assert list(inter.item_ids) == ["Léon", "Émile"] and list(inter.user_ids) == ["anna", "bob"]
    assert inter.explicit and any("UTF-16" in n for n in inter.report.detected)


def test_windows_1252_text_found_past_the_first_megabyte(tmp_path):
    head = "user,item\n" + "".join(f"u{k},i{k % 9}\n" for k in range(120_000))
    path = tmp_path / "late.csv"
    path.write_bytes(head.encode() + "u1,café\n".encode("cp1252"))
    inter = load_interactions(path)
    assert "café" in set(inter.item_ids)
    assert any("Windows-1252" in n for n in inter.report.detected)


# -- values ------------------------------------------------------------------------------------


def _strict(call):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a leaked numpy RuntimeWarning fails the test
        return call()


def test_ratings_beyond_float32_are_dropped_with_their_lines(tmp_path, capsys):
    path = tmp_path / "stars.csv"
    path.write_text("user,book,rating\nu1,b1,4\nu1,b2,1e308\nu2,b1,-1e39\nu2,b2,3\nu3,b1,5\nu3,b2,2\n")
    inter = _strict(lambda: load_interactions(path))
    assert inter.report.dropped == {"rating is too large": 2}
    assert inter.report.dropped_examples["rating is too large"] == [3, 4]
    assert np.isfinite(inter.values).all() and inter.values.max() == 5
    code, out, err = _validate(path, capsys)
    assert code == 0 and "rating is too large (2, e.g. lines 3, 4)" in out and "Warning" not in err


def test_implicit_weights_whose_sum_passes_float32_are_refused():
    blob = b"user,item,plays\nu1,a,3e38\nu1,a,3e38\nu2,b,1\n"
    with pytest.raises(DataError, match="largest number"):
        _strict(lambda: load_interactions(blob))


def test_timestamps_outside_1970_to_2100_are_dropped_never_wrapped(tmp_path, capsys):
    path = tmp_path / "events.csv"
    rows = ["user,item,timestamp"] + [f"u{u},i{k},{1_600_000_000 + 86400 * (10 * u + k)}"
                                      for u in range(4) for k in range(4)]
    rows += ["u0,i9,1e30", "u1,i9,-5", "u2,i9,4102444800", "u3,i9,4102444799"]
    path.write_text("\n".join(rows) + "\n")
    inter = _strict(lambda: load_interactions(path))
    assert inter.report.dropped == {"timestamp before 1970 or after 2100": 3}
    assert inter.report.dropped_examples["timestamp before 1970 or after 2100"] == [18, 19, 20]
    assert inter.timestamps.min() >= 0 and inter.timestamps.max() < 4102444800
    split = make_split(inter, "temporal")
    assert len(split.train) + len(split.test) <= len(inter)
    code, out, _ = _validate(path, capsys)
    assert code == 0 and "-9223372036854775808" not in out and "lines 18, 19, 20" in out


def test_iso_dates_far_outside_the_range_are_dropped(tmp_path):
    path = tmp_path / "dates.csv"
    path.write_text("user,item,date\nu1,a,2020-01-01\nu1,b,1969-12-31\nu2,a,2021-05-05\nu2,b,2150-01-01\n"
                    "u3,b,2022-02-02\nu3,c,2099-12-31T23:59:59\n")
    inter = _strict(lambda: load_interactions(path))
    assert inter.report.dropped == {"timestamp before 1970 or after 2100": 2}


# -- the whole-frame reader keeps the file's text ----------------------------------------------


def test_read_table_gives_text_and_a_preview():
    frame = read_table(b"user,item,rating\n007,a,4.50\n8,b,3\n9,c,2\n", max_rows=2)
    assert frame["user"].tolist() == ["007", "8"] and frame["rating"].tolist() == ["4.50", "3"]
    assert frame.index.tolist() == [2, 3]
