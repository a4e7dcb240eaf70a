"""The run store on a real SQLite file in a temp folder: schema, datasets, runs, artefacts, atomicity."""

from __future__ import annotations

import io
import json
import sqlite3

import numpy as np
import pandas as pd
import pytest

from recsys import jobs
from recsys.data import DataError, load_interactions
from recsys.evaluation import evaluate, fit_on_split
from recsys.models import MODELS, make_model
from recsys.split import make_split
from recsys.store import SCHEMA_VERSION, Store, StoreError, atomic_write, atomic_write_bytes


def ratings_csv(n_users: int = 60, n_items: int = 80, rows: int = 1500, seed: int = 0) -> bytes:
    """A small explicit-feedback file with timestamps; every user has several ratings."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "userId": rng.integers(0, n_users, rows),
        "movieId": rng.integers(0, n_items, rows) * 10,
        "rating": rng.integers(1, 6, rows).astype(float),
        "timestamp": rng.integers(1_500_000_000, 1_600_000_000, rows),
    }).drop_duplicates(["userId", "movieId"])
    return frame.to_csv(index=False).encode()


def test_home_from_environment_wal_and_schema(store, tmp_path):
    assert store.home == (tmp_path / "home").resolve()
    assert store.db_path.exists()
    conn = sqlite3.connect(store.db_path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    assert store.schema_version() == SCHEMA_VERSION
    Store(store.home)  # opening again migrates nothing and adds no version row
    with store.connect() as c:
        assert c.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == SCHEMA_VERSION


def test_refuses_a_newer_schema(store):
    with store.transaction() as conn:
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreError, match="newer Tastemaker"):
        Store(store.home)


def test_dataset_round_trip_same_bytes_recognised(store):
    raw = ratings_csv()
    first = store.add_dataset(raw, source_name="../../etc/passwd ratings.csv")
    assert store.add_dataset(raw, source_name="another name.csv") == first
    expected = load_interactions(raw)
    inter, catalog = store.load_dataset(first)
    assert catalog is None
    np.testing.assert_array_equal(inter.user_ids, expected.user_ids)
    np.testing.assert_array_equal(inter.item_ids, expected.item_ids)
    np.testing.assert_array_equal(inter.users, expected.users)
    np.testing.assert_array_equal(inter.items, expected.items)
    np.testing.assert_array_equal(inter.values, expected.values)
    np.testing.assert_array_equal(inter.timestamps, expected.timestamps)
    assert inter.explicit == expected.explicit
    meta = store.dataset(first)
    assert meta["name"] == "passwd ratings"  # the name is text; it never became a path
    assert (meta["n_users"], meta["n_items"], meta["n_interactions"]) == (
        expected.n_users, expected.n_items, len(expected))
    assert meta["report"]["columns"]["user"] == "userId"
    names = {p.name for p in store.home.rglob("*")}
    assert not any("passwd" in n for n in names)
    assert store.dataset_dir(first).name == str(first)


def test_same_bytes_with_another_column_mapping_is_a_new_dataset(store):
    raw = ratings_csv()
    first = store.add_dataset(raw, source_name="r.csv")
    implicit = store.add_dataset(raw, source_name="r.csv", columns={"user": "userId", "item": "movieId", "rating": None})
    assert implicit != first
    assert store.dataset(implicit)["explicit"] is False
    assert store.load_dataset(implicit)[0].values is None


def test_unusable_upload_is_refused_and_leaves_nothing(store):
    with pytest.raises(DataError):
        store.add_dataset(b"just one column\nfoo\nbar\n", source_name="bad.csv")
    assert store.list_datasets().empty
    assert [p.name for p in (store.home / "datasets").iterdir()] == []


def test_catalogue_kept_with_the_dataset(store):
    items = pd.DataFrame({"movieId": [0, 10, 20], "title": ["A", "B", "C"], "genres": ["x|y", "y", "z"]})
    dataset_id = store.add_dataset(ratings_csv(), source_name="r.csv", items=items.to_csv(index=False).encode())
    _, catalog = store.load_dataset(dataset_id)
    row = catalog.frame.set_index("item_id").loc["0"]
    assert row["title"] == "A" and list(row["tags"]) == ["x", "y"]
    assert store.dataset(dataset_id)["has_catalog"] is True
    # The saved report says how the catalogue matches: 3 of the 80 items are described.
    coverage = store.dataset(dataset_id)["report"]["catalog"]
    assert coverage["items_in_both"] == 3
    assert coverage["items_without_catalog_entry"] == store.dataset(dataset_id)["n_items"] - 3


def test_file_like_upload_keeps_only_its_name(store):
    upload = io.BytesIO(ratings_csv(seed=3))
    upload.name = "/tmp/evil/../My Plays.csv"
    dataset_id = store.add_dataset(upload)
    assert store.dataset(dataset_id)["source_name"] == "My Plays.csv"


def test_rename_and_delete_dataset_removes_runs_and_files(store):
    dataset_id = store.add_dataset(ratings_csv(), source_name="r.csv")
    store.rename_dataset(dataset_id, "  Spring plays  ")
    assert store.dataset(dataset_id)["name"] == "Spring plays"
    with pytest.raises(StoreError):
        store.rename_dataset(dataset_id, " ")
    run_id = _finished_run(store, dataset_id)
    assert store.run_dir(run_id).exists()
    store.delete_dataset(dataset_id)
    assert not store.dataset_dir(dataset_id).exists()
    assert not store.run_dir(run_id).exists()
    assert store.list_runs().empty and store.list_datasets().empty
    with store.connect() as conn:
        assert conn.execute("SELECT COUNT(*) FROM epochs").fetchone()[0] == 0
    with pytest.raises(StoreError, match="no dataset"):
        store.load_dataset(dataset_id)


def _finished_run(store: Store, dataset_id: int, model_name: str = "popularity") -> int:
    """Train in-process exactly as the worker does, and store the results."""
    inter, catalog = store.load_dataset(dataset_id)
    split = make_split(inter, "random", seed=7)
    run_id = store.create_run(dataset_id, model_name, {}, "random", 7, status="running")
    store.update_run(run_id, worker_id="test-worker")
    model = fit_on_split(make_model(model_name), split, catalog=catalog)
    store.add_epoch(run_id, {"epoch": 1, "epochs": 1, "loss": 0.5, "seconds": 0.1, "validation": None,
                             "metric": "ndcg@10", "rmse": 0.9})
    store.save_run_results(run_id, model, evaluate(model, split, k=10, catalog=catalog))
    store.save_serving_model(run_id, make_model(model_name).fit(inter, catalog=catalog), inter)
    assert not store.run_dir(run_id).exists()  # staged: the files appear with the `done` status, not before
    assert store.finish_run(run_id, "test-worker", "done")
    return run_id


def test_run_results_reload_exactly(store):
    dataset_id = store.add_dataset(ratings_csv(), source_name="r.csv")
    inter, _ = store.load_dataset(dataset_id)
    split = make_split(inter, "random", seed=7)
    model = fit_on_split(make_model("popularity"), split)
    original = evaluate(model, split, k=10)
    run_id = _finished_run(store, dataset_id)

    evaluated = store.load_run_model(run_id, evaluated=True)
    np.testing.assert_array_equal(evaluated.recommend(k=5)[0], model.recommend(k=5)[0])
    serving = store.load_run_model(run_id)  # trained on everything: knows every interaction
    assert serving.user_items_.nnz == len(inter) and evaluated.user_items_.nnz == len(split.train)  # one-step: fit-train + validation
    np.testing.assert_array_equal(serving.recommend(k=5)[0], make_model("popularity").fit(inter).recommend(k=5)[0])
    evaluation = store.load_evaluation(run_id)
    np.testing.assert_array_equal(evaluation.recs, original.recs)  # the test users' lists, as scored
    np.testing.assert_array_equal(evaluation.users, original.users)
    np.testing.assert_allclose(evaluation.per_user["ndcg"], original.per_user["ndcg"])
    assert evaluation.summary["ndcg"] == pytest.approx(original.summary["ndcg"])
    assert evaluation.ci["ndcg"] == pytest.approx(original.ci["ndcg"])

    recs = store.run_recommendations(run_id)
    assert list(recs.columns) == ["user", "item", "rank", "score"]
    assert recs.groupby("user").size().max() == 20
    assert recs["user"].nunique() == inter.n_users
    had = set(zip(inter.user_ids[inter.users].astype(str), inter.item_ids[inter.items].astype(str), strict=True))
    assert not had & set(zip(recs["user"].astype(str), recs["item"].astype(str), strict=True))

    queued = store.create_run(dataset_id, "popularity", {}, "random", 1)
    rows = store.list_runs().to_dict("records")
    assert rows[0]["id"] == queued and rows[0]["epochs_total"] is None and rows[0]["error"] is None
    assert rows[0]["ndcg"] != rows[0]["ndcg"]  # metric columns are floats: NaN before results exist
    row = store.list_runs().iloc[1]
    assert row["id"] == run_id and row["status"] == "done" and row["dataset_id"] == dataset_id
    assert row["ndcg"] == pytest.approx(original.summary["ndcg"])
    assert row["ci"]["ndcg"] == pytest.approx(list(original.ci["ndcg"]))
    assert row["epochs_done"] == 1 and row["last_loss"] == 0.5
    epochs = store.epochs(run_id)
    assert epochs.loc[0, "rmse"] == 0.9 and epochs.loc[0, "metric"] == "ndcg@10"
    assert json.loads((store.run_dir(run_id) / "evaluation.json").read_text())["k"] == 10
    assert store.baseline_run(dataset_id, "random", 7) == run_id
    assert store.baseline_run(dataset_id, "temporal", 7) is None


def test_delete_run_removes_its_files(store):
    dataset_id = store.add_dataset(ratings_csv(), source_name="r.csv")
    run_id = _finished_run(store, dataset_id)
    store.delete_run(run_id)
    store.add_epoch(run_id, {"epoch": 2, "loss": 0.1})  # a worker still training it writes nothing
    assert not store.run_dir(run_id).exists()
    with pytest.raises(StoreError):
        store.run(run_id)
    with pytest.raises(StoreError):
        store.delete_run(run_id)


def test_results_of_an_unfinished_run_say_so(store):
    dataset_id = store.add_dataset(ratings_csv(), source_name="r.csv")
    run_id = store.create_run(dataset_id, "popularity", {}, "random", 1)
    for read in (store.load_run_model, store.load_evaluation, store.run_recommendations):
        with pytest.raises(StoreError, match="status: queued"):
            read(run_id)


def test_cancel_of_a_queued_run_is_immediate(store):
    dataset_id = store.add_dataset(ratings_csv(), source_name="r.csv")
    run_id = store.create_run(dataset_id, "popularity", {}, "random", 1)
    assert store.request_cancel(run_id) == "cancelled"
    run = store.run(run_id)
    assert run["status"] == "cancelled" and run["finished_at"] is not None


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "f.json"
    atomic_write_bytes(target, b"old")

    def crash(tmp):
        tmp.write_bytes(b"half a fi")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write(target, crash)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]  # no temp file left behind


def test_sweep_quarantines_unexplained_folders_and_removes_only_old_leftovers(store):
    dataset_id = store.add_dataset(ratings_csv(), source_name="r.csv")
    (store.home / "runs" / "999").mkdir()
    (store.home / "runs" / "999" / "x").write_text("orphan")
    (store.home / "runs" / f".trash-3-{dataset_id}").mkdir()
    sweep = store.sweep_orphans()  # a fresh trash folder may belong to a delete in progress
    assert sweep.removed == [] and sweep.rebuildable == []
    assert len(sweep.quarantined) == 1 and sweep.quarantined[0].startswith("quarantine/")
    assert (store.home / sweep.quarantined[0] / "x").read_text() == "orphan"  # moved, never deleted
    assert "runs/999" in (store.home / "quarantine" / "log.txt").read_text()
    assert store.sweep_orphans(min_age_seconds=0).removed == [f"runs/.trash-3-{dataset_id}"]
    assert store.dataset_dir(dataset_id).exists()
    assert list((store.home / "runs").iterdir()) == []


@pytest.mark.slow
def test_demo_registered_once(store):
    demo = store.ensure_demo()
    assert store.ensure_demo() == demo
    meta = store.dataset(demo)
    assert meta["is_demo"] and meta["has_catalog"] and meta["n_interactions"] == 100_836
    inter, catalog = store.load_dataset(demo)
    assert inter.n_users == 610 and len(catalog.frame) > 9000


# -- estimates, submission, progress (no worker needed) ------------------------------------------
def test_estimate_known_sizes():
    small = jobs.estimate({"n_users": 1000, "n_items": 2000, "n_interactions": 50_000}, "popularity", device="cpu")
    assert small.fits and small.reason == "" and small.device == "cpu"
    assert 0 < small.seconds < 60 and small.memory_bytes < 2**30
    wide = jobs.estimate({"n_users": 1000, "n_items": 5_000_000, "n_interactions": 10**6}, "ease", device="cpu")
    assert not wide.fits
    assert "smaller catalogue" in wide.reason and "GB" in wide.reason
    big = jobs.estimate({"n_users": 10**6, "n_items": 10**5, "n_interactions": 10**8}, "bpr",
                        {"factors": 512, "epochs": 10_000}, device="cpu")
    assert not big.fits and "days" in big.reason
    more = jobs.estimate({"n_users": 10**5, "n_items": 10**4, "n_interactions": 10**7}, "ials", {"factors": 128})
    less = jobs.estimate({"n_users": 10**5, "n_items": 10**4, "n_interactions": 10**7}, "ials", {"factors": 32})
    assert more.seconds > less.seconds and more.memory_bytes > less.memory_bytes


def test_estimate_on_a_machine_without_gpu_is_for_the_cpu():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    guess = jobs.estimate({"n_users": 10, "n_items": 10, "n_interactions": 50}, "popularity", device="cuda")
    assert guess.device == "cpu"


def test_submit_refuses_with_reasons(store):
    dataset_id = store.add_dataset(ratings_csv(), source_name="r.csv")
    with pytest.raises(jobs.JobRefused, match="Unknown model"):
        jobs.submit(store, dataset_id, "nope")
    with pytest.raises(jobs.JobRefused, match="no setting"):
        jobs.submit(store, dataset_id, "popularity", {"factors": 3})
    for name in [n for n, cls in MODELS.items() if cls.needs_catalog]:  # content-based models
        with pytest.raises(jobs.JobRefused, match="catalogue"):
            jobs.submit(store, dataset_id, name)
    assert store.list_runs().empty
    run_id = jobs.submit(store, dataset_id, "popularity", {"device": "cuda"})
    run = store.run(run_id)
    assert run["status"] == "queued" and run["device_requested"] == "cuda"
    assert run["protocol"] == store.dataset(dataset_id)["report"].get("suggested_split", "random")
    assert run["estimate"]["fits"] is True and run["estimate"]["seconds"] > 0
