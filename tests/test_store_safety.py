"""Nothing lost, nothing let in twice: manifests, an emptied database, the doctor, unique registrations,
and runs that are done with their files or not done without them. Real SQLite files, real worker and
CLI processes, data built here (music listening logs and ad clicks)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from benchmarks.listening import plays_file
from recsys import jobs
from recsys.device import device_key
from recsys.store import _MIGRATIONS, MANIFEST, SCHEMA_VERSION, Store, doctor

ROOT = Path(__file__).resolve().parents[1]


def ad_clicks(seed: int = 1) -> bytes:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "visitor": rng.integers(1000, 1040, 500), "ad": rng.integers(7000, 7025, 500),
        "timestamp": rng.integers(1_600_000_000, 1_650_000_000, 500),
    }).drop_duplicates(["visitor", "ad"])
    return frame.to_csv(index=False).encode()


def env_for(home: Path) -> dict[str, str]:
    return dict(os.environ, TASTEMAKER_HOME=str(home), PYTHONPATH=str(ROOT))


def recsys_cli(home: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    """``python -m recsys ARGS`` as a separate process on this data folder."""
    return subprocess.run([sys.executable, "-m", "recsys", *args], env=env_for(home), cwd=home,
                          capture_output=True, text=True, timeout=timeout)


def folder_names(home: Path) -> dict[str, list[str]]:
    return {sub: sorted(p.name for p in (home / sub).iterdir()) for sub in ("datasets", "runs")}


def train_in_process(store: Store, dataset_id: int, model_name: str = "popularity") -> int:
    """A run trained exactly as the worker trains it (claim, fit, evaluate, save, finish)."""
    from recsys.evaluation import evaluate
    from recsys.models import make_model
    from recsys.split import make_split

    run_id = store.create_run(dataset_id, model_name, {}, "random", 3)
    store.register_worker("here:1", os.getpid(), "here")
    assert store.claim_next_run("here:1", device_key) == run_id
    inter, catalog = store.load_dataset(dataset_id)
    split = make_split(inter, "random", seed=3)
    model = make_model(model_name).fit(split.fit_train, catalog=catalog)
    store.add_epoch(run_id, {"epoch": 1, "epochs": 1, "loss": 0.25, "seconds": 0.01})
    store.save_run_results(run_id, model, evaluate(model, split, k=10, catalog=catalog))
    store.save_serving_model(run_id, make_model(model_name).fit(inter, catalog=catalog), inter)
    assert store.finish_run(run_id, "here:1", "done")
    store.retire_worker("here:1")
    return run_id


def test_every_dataset_and_done_run_folder_carries_its_manifest(store):
    dataset_id = store.add_dataset(plays_file(), source_name="plays.csv")
    store.rename_dataset(dataset_id, "Spring listening")
    manifest = json.loads((store.dataset_dir(dataset_id) / MANIFEST).read_text())
    assert manifest["kind"] == "dataset" and manifest["id"] == dataset_id
    assert manifest["row"]["name"] == "Spring listening"  # kept in step with the row
    assert manifest["row"]["content_hash"] == store.dataset(dataset_id)["content_hash"]
    run_id = train_in_process(store, dataset_id)
    manifest = json.loads((store.run_dir(run_id) / MANIFEST).read_text())
    assert manifest["kind"] == "run" and manifest["row"]["status"] == "done"
    assert json.loads(manifest["row"]["summary"]) == store.run(run_id)["summary"] != {}
    assert [e["loss"] for e in manifest["epochs"]] == [0.25]


def test_emptied_database_then_worker_keeps_every_folder_and_doctor_brings_everything_back(tmp_path):
    home = tmp_path / "home"
    store = Store(home)
    plays = store.add_dataset(plays_file(), source_name="plays.csv")
    clicks = store.add_dataset(ad_clicks(), source_name="clicks.csv")
    submitted = [jobs.submit(store, plays, "itemknn", protocol="random"),
                 jobs.submit(store, clicks, "popularity", protocol="temporal")]
    worker = recsys_cli(home, "worker", "--once")
    assert worker.returncode == 0, worker.stderr[-2000:]
    before = {r["id"]: r for r in store.run_records()}
    assert len(before) == 3 and all(r["status"] == "done" for r in before.values())  # + the itemknn baseline
    datasets_before = store.list_datasets().set_index("id")
    recs_before = {run_id: store.run_recommendations(run_id) for run_id in before}
    epochs_before = store.epochs(submitted[0])
    folders = folder_names(home)
    assert folders == {"datasets": ["1", "2"], "runs": sorted(str(i) for i in before)}

    # a bad copy or a restore leaves an empty database file beside every folder
    for suffix in ("-wal", "-shm"):
        (home / f"tastemaker.db{suffix}").unlink(missing_ok=True)
    (home / "tastemaker.db").write_bytes(b"")

    worker = recsys_cli(home, "worker", "--once")
    assert worker.returncode == 0, worker.stderr[-2000:]
    assert folder_names(home) == folders  # nothing deleted, nothing moved
    assert not (home / "quarantine").exists()
    assert "doctor --repair" in worker.stderr  # the worker says how to bring them back

    check = recsys_cli(home, "doctor")
    assert check.returncode == 1
    assert check.stdout.count("has no row in the database") == 5, check.stdout
    assert "Traceback" not in check.stdout + check.stderr

    # a dataset added before the repair takes a new number: it never lands on a folder's
    newcomer = Store(home).add_dataset(plays_file(seed=9), source_name="later.csv")
    assert newcomer == 3 and folder_names(home)["datasets"] == ["1", "2", "3"]

    repair = recsys_cli(home, "doctor", "--repair")
    assert repair.returncode == 0, repair.stdout + repair.stderr
    assert repair.stdout.count("restored dataset") == 2 and repair.stdout.count("restored run") == 3
    assert "No problems found." in repair.stdout

    store = Store(home)
    after = store.list_datasets().set_index("id")
    for column in ("name", "content_hash", "n_users", "n_items", "n_interactions", "columns"):
        assert after.loc[[plays, clicks], column].tolist() == datasets_before[column].tolist()
    for run_id, run in before.items():
        again = store.run(run_id)
        assert again["status"] == "done" and again["model"] == run["model"]
        assert again["summary"] == pytest.approx(run["summary"])
        model = store.load_run_model(run_id)  # loadable, with its model
        stored = recs_before[run_id]
        user = stored["user"].iloc[0]
        assert list(model.recommend_frame([user], k=20)["item"]) == list(stored[stored["user"] == user]["item"])
    assert store.epochs(submitted[0])["loss"].tolist() == epochs_before["loss"].tolist()
    inter, _ = store.load_dataset(plays)
    assert len(inter) == datasets_before.loc[plays, "n_interactions"]
    assert store.add_dataset(plays_file(), source_name="plays.csv") == plays  # recognised again
    assert recsys_cli(home, "doctor").returncode == 0


def test_folders_without_rows_go_only_when_a_delete_removed_the_row(store):
    kept = store.add_dataset(plays_file(), source_name="plays.csv")
    doomed = store.add_dataset(ad_clicks(), source_name="clicks.csv")
    run_id = train_in_process(store, kept)
    crashed_copy = store.home / "crash-copy"
    os.replace(store.dataset_dir(doomed), crashed_copy)
    store.delete_dataset(doomed)
    # a crash between the delete's commit and the folder's removal leaves the folder and the record:
    os.replace(crashed_copy, store.dataset_dir(doomed))
    with store.transaction() as conn:
        conn.execute("INSERT INTO deleted (kind, id, at) VALUES ('dataset', ?, 0)", (doomed,))
    # a run that ended without being done keeps no files
    store.update_run(run_id, status="interrupted")
    stray = store.home / "datasets" / "notes.txt"
    stray.write_text("someone's notes")

    sweep = store.sweep_orphans()
    assert not store.dataset_dir(doomed).exists() and not store.run_dir(run_id).exists()
    assert len(sweep.removed) == 2 and sweep.rebuildable == []
    assert store.dataset_dir(kept).is_dir()
    assert not stray.exists() and len(sweep.quarantined) == 1
    assert (store.home / sweep.quarantined[0]).read_text() == "someone's notes"
    with store.connect() as conn:
        assert conn.execute("SELECT COUNT(*) FROM deleted").fetchone()[0] == 0


REGISTER = textwrap.dedent("""
    import os, sys, time
    from recsys.store import Store
    path, go = sys.argv[1], sys.argv[2]
    while not os.path.exists(go):
        time.sleep(0.005)
    print(Store().add_dataset(path))
""")


def test_four_processes_registering_the_same_new_file_create_one_dataset(store, tmp_path):
    data = tmp_path / "plays.csv"
    data.write_bytes(plays_file(listeners=300, artists=200))
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", REGISTER, str(data), str(go)], env=env_for(store.home),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    time.sleep(3.0)  # every process has imported and waits for the same moment
    go.write_text("go")
    results = [proc.communicate(timeout=120) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), [err[-800:] for _, err in results]
    ids = {int(out.strip()) for out, _ in results}
    assert len(ids) == 1
    assert len(store.list_datasets()) == 1
    assert folder_names(store.home)["datasets"] == [str(ids.pop())]  # no second folder, no staging left


def test_unique_registration_is_enforced_by_the_database(store):
    dataset_id = store.add_dataset(plays_file(), source_name="plays.csv")
    with pytest.raises(sqlite3.IntegrityError), store.transaction() as conn:
        conn.execute("INSERT INTO datasets (name, content_hash, n_users, n_items, n_interactions, created_at,"
                     " registration) SELECT name, content_hash, 1, 1, 1, 0, registration FROM datasets WHERE id=?",
                     (dataset_id,))


def test_migration_keeps_duplicates_made_before_registrations_were_unique(tmp_path):
    """A schema-1 folder where the same file was registered twice (a race of the old code) upgrades
    without losing either dataset: the first keeps the registration, the copy is reported."""
    old = Store(tmp_path / "old")
    first = old.add_dataset(plays_file(), source_name="plays.csv")
    second = old.add_dataset(ad_clicks(), source_name="clicks.csv")
    home = tmp_path / "v1"
    home.mkdir()
    conn = sqlite3.connect(home / "tastemaker.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    for statement in _MIGRATIONS[1].split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version VALUES (1)")
    for number, source in ((1, first), (2, first), (3, second)):  # 1 and 2: the same bytes and mapping
        row = old.dataset(source)
        conn.execute(
            "INSERT INTO datasets (id, name, source_name, content_hash, columns, report, explicit, n_users, n_items,"
            " n_interactions, has_timestamps, has_catalog, is_demo, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (number, row["name"], row["source_name"], row["content_hash"], json.dumps(row["columns"]), "{}",
             int(row["explicit"]), row["n_users"], row["n_items"], row["n_interactions"], 0, 0, 0, 0.0))
        (home / "datasets").mkdir(exist_ok=True)
        target = home / "datasets" / str(number)
        target.mkdir()
        for f in old.dataset_dir(source).glob("*.parquet"):
            target.joinpath(f.name).write_bytes(f.read_bytes())
    conn.close()

    store = Store(home)
    assert store.schema_version() == SCHEMA_VERSION
    assert store.list_datasets()["id"].tolist() == [1, 2, 3]
    for number in (1, 2, 3):
        assert (store.dataset_dir(number) / MANIFEST).is_file()  # written on upgrade
        store.load_dataset(number)
    assert store.add_dataset(plays_file(), source_name="plays.csv") == 1
    report = doctor(home)
    assert report.ok and any("1 dataset(s) repeat a file" in fact for fact in report.facts)


def test_reupload_repairs_a_dataset_whose_parquet_copy_was_deleted(store):
    dataset_id = store.add_dataset(plays_file(), source_name="plays.csv")
    run_id = train_in_process(store, dataset_id)
    (store.dataset_dir(dataset_id) / "interactions.parquet").unlink()
    assert store.dataset_problems(dataset_id) == ["interactions.parquet is missing"]
    with pytest.raises(ValueError, match="upload the same file again"):
        store.load_dataset(dataset_id)
    assert store.add_dataset(plays_file(), source_name="plays.csv") == dataset_id  # repaired in place
    assert store.dataset_problems(dataset_id) == []
    inter, _ = store.load_dataset(dataset_id)
    assert len(inter) == store.dataset(dataset_id)["n_interactions"]
    assert store.run(run_id)["dataset_id"] == dataset_id and store.load_run_model(run_id).n_users_ == inter.n_users
    assert len(store.list_datasets()) == 1
    (store.dataset_dir(dataset_id) / "interactions.parquet").write_bytes(b"PAR1 not really")
    assert store.dataset_problems(dataset_id) == ["interactions.parquet is damaged"]
    assert store.add_dataset(plays_file(), source_name="plays.csv") == dataset_id
    assert store.dataset_problems(dataset_id) == []


DIES_AFTER_SAVING = textwrap.dedent("""
    import os, signal
    from recsys import jobs
    from recsys.evaluation import evaluate
    from recsys.models import make_model
    from recsys.split import make_split
    from recsys.store import Store
    store = Store()
    worker = f"{jobs._HOST}:{os.getpid()}"
    store.register_worker(worker, os.getpid(), jobs._HOST)
    run_id = jobs.claim_next(store, worker)
    run = store.run(run_id)
    inter, _ = store.load_dataset(run["dataset_id"])
    split = make_split(inter, run["protocol"], seed=run["seed"])
    model = make_model(run["model"]).fit(split.train)
    store.save_run_results(run_id, model, evaluate(model, split, k=10))
    os.kill(os.getpid(), signal.SIGKILL)  # dies between writing the model and recording it
""")


def test_worker_killed_between_saving_and_recording_leaves_a_run_without_files_or_score(store):
    dataset_id = store.add_dataset(plays_file(), source_name="plays.csv")
    run_id = jobs.submit(store, dataset_id, "popularity", protocol="random")
    proc = subprocess.run([sys.executable, "-c", DIES_AFTER_SAVING], env=env_for(store.home), cwd=store.home,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    left = [p.name for p in (store.home / "runs").iterdir()]
    assert len(left) == 1 and left[0].startswith(f".staging-{run_id}-")  # the results it wrote, not recorded
    assert store.run(run_id)["status"] == "running"

    assert jobs.reap_stale(store) == [run_id]  # its pid is gone: seen at once
    run = store.run(run_id)
    assert run["status"] == "interrupted" and run["summary"] == {} and "Submit it again" in run["error"]
    assert list((store.home / "runs").iterdir()) == []  # no model, no staging folder
    assert doctor(store.home).ok


def test_a_finish_by_a_worker_that_lost_the_run_keeps_no_files(store):
    dataset_id = store.add_dataset(plays_file(), source_name="plays.csv")
    run_id = train_in_process(store, dataset_id)
    other = store.create_run(dataset_id, "popularity", {}, "random", 5)
    store.register_worker("w:1", 1, "w")
    assert store.claim_next_run("w:1", device_key) == other
    store.request_cancel(other)
    store.update_run(other, status="interrupted")  # someone thought w:1 dead
    store.staging_dir(other).mkdir()
    (store.staging_dir(other) / "model").mkdir()
    assert store.finish_run(other, "w:1", "done") is False
    assert not store.run_dir(other).exists() and not store.staging_dir(other).exists()
    assert store.run(other)["status"] == "interrupted"
    assert store.run_dir(run_id).is_dir()


def test_cuda_and_cuda_0_are_booked_as_one_card(store):
    assert device_key("cpu") == "cpu" and device_key("nonsense:device") == "cpu"
    if not torch.cuda.is_available():
        assert device_key("cuda") == device_key("cuda:0") == "cpu"
        return
    assert device_key("cuda") == device_key("cuda:0") == f"cuda:{torch.cuda.current_device()}"
    dataset_id = store.add_dataset(plays_file(), source_name="plays.csv")
    first = store.create_run(dataset_id, "popularity", {}, "random", 1, device_requested="cuda")
    second = store.create_run(dataset_id, "popularity", {}, "random", 2, device_requested="cuda:0")
    store.register_worker("a:1", 1, "a")
    store.register_worker("b:2", 2, "b")
    assert jobs.claim_next(store, "a:1") == first
    assert jobs.claim_next(store, "b:2") is None  # the same card is busy, whatever its name
    assert store.run(first)["device"] == "cuda:0" and store.run(second)["status"] == "queued"
