"""``python -m recsys train``, ``recommend`` and ``models``: train on every row of a file, save, write top-k as
CSV; settings given with ``--set`` are checked against each model's declarations."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from recsys import jobs
from recsys.cli import main
from recsys.models import MODELS, load_model
from recsys.store import Store

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


def test_mistakes_exit_2_with_one_line(plays, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TASTEMAKER_HOME", str(tmp_path / "home"))
    cases = [
        ["train", str(plays), "--model", "no-such-model", "--out", str(tmp_path / "m")],
        ["train", str(plays), "--model", "itemknn", "--set", "no_such_setting=3", "--out", str(tmp_path / "m")],
        ["train", str(tmp_path / "missing.csv"), "--model", "itemknn", "--out", str(tmp_path / "m")],
        ["recommend", str(tmp_path / "no-model-here"), "--out", str(tmp_path / "r.csv")],
        ["train", str(plays), "--model", "mf", "--out", str(tmp_path / "m")],  # play counts are no star ratings
        ["submit", str(plays), "--model", "mf"],
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and len(err.splitlines()) == 1, err
        if "mf" in argv:
            assert "predicts star ratings, and this dataset has none" in err, err
    assert not (tmp_path / "m").exists()
    assert Store(tmp_path / "home").list_runs().empty


def test_python_dash_m_recsys_recommends_from_a_saved_model(plays, tmp_path):
    model_dir, out = tmp_path / "model", tmp_path / "recs.csv"
    assert main(["train", str(plays), "--model", "userknn", "--out", str(model_dir)]) == 0
    done = subprocess.run([sys.executable, "-m", "recsys", "recommend", str(model_dir), "--k", "1", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "wrote 12 recommendations for 12 users" in done.stdout
    assert len(pd.read_csv(out)) == 12


# -- settings -----------------------------------------------------------------------------------------
BAD_SETTINGS = [
    ("factors=abc", "bpr's factors must be a whole number"),
    ("factors=-1", "bpr's factors must be a whole number from 1"),
    ("epochs=-3", "bpr's epochs must be a whole number from 1"),
    ("learning_rate=nan", "bpr's learning_rate must be a number from"),
    ("learning_rate=1e308", "bpr's learning_rate must be a number from"),
    ("device=bogus", "bpr's device must be auto, cpu, cuda or cuda:N"),
    ("negative_sampling=sideways", "bpr's negative_sampling must be one of uniform, popularity"),
    ("verify_negatives=maybe", "bpr's verify_negatives must be true or false"),
    ("factor=8", "bpr has no setting 'factor'; its settings are factors, learning_rate"),
    ("seed=-4", "bpr's seed must be a whole number from 0"),
    ("factors", "--set expects key=value"),
]


@pytest.mark.parametrize("setting, says", BAD_SETTINGS)
def test_a_bad_setting_is_refused_by_train_and_submit_in_one_line_and_nothing_is_queued(
        setting, says, plays, tmp_path, capsys, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("TASTEMAKER_HOME", str(home))
    for argv in (["train", str(plays), "--model", "bpr", "--set", setting, "--out", str(tmp_path / "m")],
                 ["submit", str(plays), "--model", "bpr", "--set", "epochs=2", "--set", setting]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("error: ") and says in err, err
        assert "unexpected" not in err
    assert not (tmp_path / "m").exists()
    store = Store(home)
    assert store.list_runs().empty and store.list_datasets().empty, "a refused setting registers and queues nothing"


def test_submit_refuses_a_bad_split_seed_or_device_option(plays, tmp_path, capsys, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("TASTEMAKER_HOME", str(home))
    for extra, says in ((["--seed", "-1"], "the split's seed must be a whole number from 0"),
                        (["--device", "gpu"], "device must be auto, cpu, cuda or cuda:N"),
                        (["--set", "seed=abc"], "the split's seed must be")):  # popularity has no seed: the split's
        assert main(["submit", str(plays), "--model", "popularity", *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and says in err, err
    assert Store(home).list_runs().empty


def test_settings_typed_on_the_command_line_arrive_typed(plays, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TASTEMAKER_HOME", str(tmp_path / "home"))
    model_dir = tmp_path / "m"
    assert main(["train", str(plays), "--model", "bpr", "--set", "factors=8", "--set", "epochs=2.0",
                 "--set", "verify_negatives=false", "--set", "patience=none", "--set", "negative_sampling=Popularity",
                 "--out", str(model_dir)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    params = json.loads((model_dir / "train.json").read_text())["params"]
    assert params["factors"] == 8 and params["epochs"] == 2 and params["verify_negatives"] is False
    assert params["patience"] is None and params["negative_sampling"] == "popularity"
    assert main(["submit", str(plays), "--model", "bpr", "--set", "factors=8", "--set", "verify_negatives=no"]) == 0
    run = Store().run(int(capsys.readouterr().out.strip()))
    assert run["params"] == {"factors": 8, "verify_negatives": False}
    store = Store()
    dataset = int(run["dataset_id"])
    for params, device, seed in (({"factors": -1}, "auto", 42), ({}, "bogus", 42), ({}, "auto", -1),
                                 ({"learning_rate": float("nan")}, "auto", 42)):
        with pytest.raises(jobs.JobRefused):
            jobs.submit(store, dataset, "bpr", params, device=device, seed=seed)
    assert len(store.list_runs()) == 1, "the refused submissions queued nothing"


def test_models_lists_every_model_and_its_settings(capsys):
    assert main(["models", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["models"]
    assert [m["name"] for m in listed] == list(MODELS)
    for entry in listed:
        cls = MODELS[entry["name"]]
        assert entry["description"] == cls.description
        assert [s["name"] for s in entry["settings"]] == cls.param_names()
        for setting in entry["settings"]:
            assert setting["default"] == cls.default_params()[setting["name"]]
            assert setting["type"] in ("int", "float", "bool", "choice", "text") and setting["help"] and setting["allowed"]
    bpr = {s["name"]: s for s in listed[list(MODELS).index("bpr")]["settings"]}
    assert bpr["learning_rate"]["low"] > 0 and bpr["learning_rate"]["tune"] and bpr["learning_rate"]["log"] is True
    assert bpr["negative_sampling"]["choices"] == ["uniform", "popularity"]
    assert bpr["patience"]["optional"] is True and bpr["patience"]["default"] is None
    assert main(["models"]) == 0
    text = capsys.readouterr().out
    for name, cls in MODELS.items():
        assert f"{name}: {cls.description}" in text
    assert re.search(r"^  learning_rate +float +0.05 +a number from 1e-06 to 10 +Learning rate: ", text, re.M)
    assert "a whole number from 1 to 4,096" in text


def test_training_that_blows_up_exits_2_with_advice_and_fails_the_run_in_the_worker(plays, tmp_path, capsys,
                                                                                      monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("TASTEMAKER_HOME", str(home))
    blow_up = ["--model", "bpr", "--set", "learning_rate=10", "--set", "epochs=300"]
    assert main(["train", str(plays), *blow_up, "--out", str(tmp_path / "m")]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the epochs it printed
    assert last.startswith("error: bpr's training went wrong: the loss became") and "lower learning rate (now 10)" in last
    assert not (tmp_path / "m").exists()

    assert main(["submit", str(plays), *blow_up, "--split", "random"]) == 0
    run_id = int(capsys.readouterr().out.strip())
    worker = subprocess.run([sys.executable, "-m", "recsys", "worker", "--once"], cwd=ROOT, capture_output=True,
                            text=True, timeout=180, env=dict(os.environ, TASTEMAKER_HOME=str(home), PYTHONPATH=str(ROOT)))
    assert worker.returncode == 0, worker.stderr
    run = Store(home).run(run_id)
    assert run["status"] == "failed"
    assert re.fullmatch(r"bpr's training went wrong: the loss became (NaN|infinite) at epoch \d+\. "
                        r"Try a lower learning rate \(now 10\)\.", run["error"]), run["error"]
    assert not Store(home).run_dir(run_id).exists(), "no NaN model is kept"
    assert main(["runs"]) == 0 and "lower learning rate" in capsys.readouterr().out
