"""``python -m recsys train`` and ``recommend``: train on every row of a file, save, write top-k as CSV."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from recsys.cli import main
from recsys.models import load_model

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def plays(tmp_path) -> Path:
    """Twelve listeners: the "e" ones play even-numbered songs, the "o" ones odd-numbered ones."""
    rows = []
    for n in range(12):
        user = f"{'e' if n % 2 == 0 else 'o'}-listener-{n}"
        for song in range(n % 2, 30, 2):
            if (song + n) % 3:  # everyone skips a third of their kind of songs
                rows.append({"listener": user, "song": f"song{song:02d}", "plays": 1 + (song % 4)})
    path = tmp_path / "plays.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture
def songs(tmp_path) -> Path:
    path = tmp_path / "songs.csv"
    pd.DataFrame({
        "song_id": [f"song{s:02d}" for s in range(30)],
        "title": [f"{'Even' if s % 2 == 0 else 'Odd'} tune" for s in range(30)],
        "genres": ["even|pop" if s % 2 == 0 else "odd|jazz" for s in range(30)],
    }).to_csv(path, index=False)
    return path


def test_train_then_recommend_writes_top_k_in_the_files_own_ids(plays, tmp_path, capsys):
    model_dir = tmp_path / "model"
    assert main(["train", str(plays), "--model", "itemknn", "--set", "neighbors=5", "--out", str(model_dir)]) == 0
    assert "trained itemknn" in capsys.readouterr().out
    assert {p.name for p in model_dir.iterdir()} == {"model.json", "arrays.npz", "train.json"}
    info = json.loads((model_dir / "train.json").read_text())
    assert info["model"] == "itemknn" and info["params"]["neighbors"] == 5
    assert info["users"] == 12 and info["items"] == 30
    assert load_model(model_dir).neighbors == 5

    out = tmp_path / "recs.csv"
    assert main(["recommend", str(model_dir), "--k", "3", "--out", str(out)]) == 0
    recs = pd.read_csv(out, dtype={"user": str, "item": str})
    assert list(recs.columns) == ["user", "item", "rank", "score"]
    assert recs.groupby("user")["rank"].apply(list).map(lambda r: r == [1, 2, 3]).all()
    assert recs["user"].nunique() == 12
    seen = set(map(tuple, pd.read_csv(plays)[["listener", "song"]].to_numpy().tolist()))
    assert not seen & set(zip(recs["user"], recs["item"], strict=True))
    parity = recs["user"].str[0].map({"e": 0, "o": 1})
    assert (recs["item"].str[-2:].astype(int) % 2 == parity).all()  # learned the two tastes
    assert (recs.groupby("user")["score"].apply(lambda s: s.is_monotonic_decreasing)).all()


def test_recommend_for_chosen_users_skips_unknown_ids(plays, tmp_path, capsys):
    model_dir = tmp_path / "model"
    assert main(["train", str(plays), "--model", "ease", "--out", str(model_dir)]) == 0
    out = tmp_path / "some.csv"
    code = main(["recommend", str(model_dir), "--users", "e-listener-0, nobody ,o-listener-3", "--k", "2",
                 "--out", str(out)])
    assert code == 0
    assert "nobody" in capsys.readouterr().err
    recs = pd.read_csv(out, dtype={"user": str, "item": str})
    assert sorted(recs["user"].unique()) == ["e-listener-0", "o-listener-3"] and len(recs) == 4
    assert main(["recommend", str(model_dir), "--users", "nobody", "--out", str(out)]) == 2
    assert "nobody" in capsys.readouterr().err
    assert main(["recommend", str(model_dir), "--k", "0", "--out", str(out)]) == 2


def test_content_model_needs_and_uses_the_catalogue(plays, songs, tmp_path, capsys):
    model_dir = tmp_path / "content"
    assert main(["train", str(plays), "--model", "content", "--out", str(model_dir)]) == 2
    err = capsys.readouterr().err
    assert "--items" in err and len(err.strip().splitlines()) == 1
    assert main(["train", str(plays), "--model", "content", "--items", str(songs), "--out", str(model_dir)]) == 0
    out = tmp_path / "recs.csv"
    assert main(["recommend", str(model_dir), "--k", "2", "--out", str(out)]) == 0
    recs = pd.read_csv(out, dtype={"user": str, "item": str})
    parity = recs["user"].str[0].map({"e": 0, "o": 1})
    assert (recs["item"].str[-2:].astype(int) % 2 == parity).all()


def test_iterative_training_prints_each_epoch(plays, tmp_path, capsys):
    code = main(["train", str(plays), "--model", "ials", "--set", "epochs=3", "--set", "factors=4",
                 "--set", "device=cpu", "--out", str(tmp_path / "ials")])
    assert code == 0
    err = capsys.readouterr().err
    assert [line.split(":")[0] for line in err.strip().splitlines()] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert "loss" in err


def test_column_options_pick_the_columns(tmp_path, capsys):
    path = tmp_path / "odd_names.csv"
    pd.DataFrame({"a": ["x", "x", "y", "y", "z"], "b": ["p", "q", "p", "r", "q"], "c": [1, 2, 3, 4, 5]}).to_csv(
        path, index=False)
    model_dir = tmp_path / "m"
    code = main(["train", str(path), "--model", "popularity", "--user-col", "a", "--item-col", "b",
                 "--out", str(model_dir)])
    assert code == 0, capsys.readouterr().err
    info = json.loads((model_dir / "train.json").read_text())
    assert info["columns"]["user"] == "a" and info["columns"]["item"] == "b"
    assert info["users"] == 3 and info["items"] == 3


def test_mistakes_exit_2_with_one_line(plays, tmp_path, capsys):
    cases = [
        ["train", str(plays), "--model", "no-such-model", "--out", str(tmp_path / "m")],
        ["train", str(plays), "--model", "itemknn", "--set", "no_such_setting=3", "--out", str(tmp_path / "m")],
        ["train", str(tmp_path / "missing.csv"), "--model", "itemknn", "--out", str(tmp_path / "m")],
        ["recommend", str(tmp_path / "no-model-here"), "--out", str(tmp_path / "r.csv")],
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and len(err.splitlines()) == 1, err
    assert not (tmp_path / "m").exists()


def test_python_dash_m_recsys_recommends_from_a_saved_model(plays, tmp_path):
    model_dir, out = tmp_path / "model", tmp_path / "recs.csv"
    assert main(["train", str(plays), "--model", "userknn", "--out", str(model_dir)]) == 0
    done = subprocess.run([sys.executable, "-m", "recsys", "recommend", str(model_dir), "--k", "1", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "wrote 12 recommendations for 12 users" in done.stdout
    assert len(pd.read_csv(out)) == 12
